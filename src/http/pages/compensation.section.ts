import type { PaymentView } from '../payment.view.js';
import type { RefundView } from '../compensation.view.js';
import { html, type SafeHtml } from './html.js';
import { utc } from './timeline.format.js';

/** The payment page's "given back" card: refunded so far, each refund, the cancellation, the dispute. */

const REFUND_TONE: Record<RefundView['status'], string> = { requested: '', pending: '', succeeded: ' good', failed: ' bad' };

function refundRow(r: RefundView): SafeHtml {
  return html`<tr data-refund-id="${r.id}" data-refund-status="${r.status}">
    <td><code>${r.id}</code>${r.cancel ? html` <span class="chip">cancellation</span>` : null}</td>
    <td class="num">${r.amount ?? '—'} ${r.currency ?? ''}</td>
    <td><span class="chip${REFUND_TONE[r.status]}">${r.status}</span></td>
    <td>${r.gatewayRefundId ? html`<code>${r.gatewayRefundId}</code>` : html`<span class="empty">—</span>`}</td>
    <td>${r.failureCode ? html`<span class="chip bad">${r.failureCode}</span> ${r.failureReason ?? ''}` : (r.reason ?? '')}</td>
    <td class="when">${utc(r.createdAt)}</td>
    <td class="when">${utc(r.updatedAt)}</td>
  </tr>`;
}

function refundsTable(v: PaymentView): SafeHtml {
  if (v.refunds.length === 0) return html`<p class="empty">No refunds asked for.</p>`;
  return html`<table class="timeline refunds"><thead><tr><th>Refund id</th><th>Amount</th><th>Status</th><th>Gateway refund</th><th>Reason / failure</th><th>Asked (UTC)</th><th>Updated (UTC)</th></tr></thead>
    <tbody>${v.refunds.map(refundRow)}</tbody></table>`;
}

function cancellationLine(v: PaymentView): SafeHtml | null {
  const c = v.cancellation;
  if (!c) return null;
  const answer = c.answeredAt ? html`answered ${utc(c.answeredAt)}` : html`<span class="warn">not answered yet</span>`;
  return html`<p data-cancellation="${c.answeredAt ? 'answered' : 'open'}">Order cancelled (${c.reason ?? 'no reason given'}): received ${utc(c.receivedAt)}, ${answer}.</p>`;
}

function disputeLine(v: PaymentView): SafeHtml | null {
  const d = v.dispute;
  if (!d) return null;
  return html`<p class="warn" data-dispute-id="${d.disputeId}">Disputed: <code>${d.disputeId}</code>, ${d.amount} ${d.currency} (${d.reason}).</p>`;
}

export function compensationSection(v: PaymentView): SafeHtml {
  return html`<section class="card" data-compensation>
  <p>Refunded so far: <span class="amount" data-amount-refunded="${v.amountRefunded}">${v.amountRefunded} ${v.currency}</span> of ${v.amount} ${v.currency}.</p>
  ${cancellationLine(v)}
  ${disputeLine(v)}
  ${refundsTable(v)}
</section>`;
}
