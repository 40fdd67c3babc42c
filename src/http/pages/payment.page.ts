import type { ChartLayout } from '../chart/chart.layout.js';
import type { PaymentPath } from '../chart/chart.stats.js';
import { chartSvg } from '../chart/chart.svg.js';
import { timelineOf, type PaymentView, type TimelineEntry } from '../payment.view.js';
import { html, raw, type SafeHtml } from './html.js';
import { page } from './page.layout.js';
import { stateTone } from '../chart/state.tone.js';
import { detailChips, elapsed, utc } from './timeline.format.js';
import { compensationSection } from './compensation.section.js';

export interface PaymentPageInput {
  view: PaymentView;
  layout: ChartLayout;
  path: PaymentPath;
  final: boolean;
  jobUrl: string;
  jsonUrl: string;
}

/** States in which the money was taken (some of it may have gone back since). */
const CHARGED: ReadonlySet<string> = new Set(['Success', 'PartiallyRefunded', 'Refunded', 'Disputed']);

/** The first thing an operator reads: why it failed, or what it is waiting for. */
function verdict(v: PaymentView, final: boolean): SafeHtml {
  if (v.status === 'Failed' || v.failureCode) {
    return html`<div class="why" data-failure-code="${v.failureCode ?? ''}">
      <div>Failed: <span class="code">${v.failureCode ?? 'unknown'}</span></div>
      <div class="reason">${v.failureReason ?? 'no reason recorded'}</div>
      ${v.lastError ? html`<div class="reason">Last transient error: <code>${v.lastError}</code></div>` : null}
    </div>`;
  }
  if (CHARGED.has(v.status)) {
    const refunded = v.amountRefundedMinor === '0' ? null : html` Refunded <b>${v.amountRefunded} ${v.currency}</b> of ${v.amount}.`;
    const disputed = v.dispute ? html` <span class="warn">Disputed (${v.dispute.reason}).</span>` : null;
    return html`<div class="why ok">Charged: transaction <code>${v.transactionId ?? '—'}</code>${v.gateway ? html` at ${v.gateway}` : null}.${refunded}${disputed}</div>`;
  }
  const lastError = v.lastError ? html`, last transient error <code>${v.lastError}</code>` : null;
  return html`<div class="why ok">In <b>${v.status}</b>${final ? null : raw(' (not finished)')}: ${v.attempts ?? 0} gateway attempt(s)${lastError}. This page reloads every few seconds.</div>`;
}

function fact(label: string, value: SafeHtml | string | null): SafeHtml {
  return html`<div><dt>${label}</dt><dd>${value ?? html`<span class="empty">—</span>`}</dd></div>`;
}

function facts(v: PaymentView): SafeHtml {
  const finishedAt = v.completedAt ?? v.failedAt;
  return html`<dl class="facts">
    ${fact('Amount', html`<span class="amount">${v.amount} ${v.currency}</span> <span class="mono">(${v.amountMinor} minor units)</span>`)}
    ${fact('Order id', html`<code>${v.orderId}</code>`)}
    ${fact('Payment id (idempotency key)', html`<code>${v.paymentId}</code>`)}
    ${fact('Transaction id', v.transactionId ? html`<code>${v.transactionId}</code>` : null)}
    ${fact('Gateway', v.gateway)}
    ${fact('Gateway attempts', v.attempts === null ? null : String(v.attempts))}
    ${fact('Customer', v.customerId)}
    ${fact('Created', utc(v.createdAt))}
    ${fact('Finished', finishedAt ? `${utc(finishedAt)} (${elapsed(v.createdAt, finishedAt)} after creation)` : null)}
  </dl>`;
}

/** A row that stays in its state is a note, unless the machine re-enters the state on that event (a retry). */
function reentered(t: TimelineEntry, path: PaymentPath): boolean {
  return t.kind === 'note' && t.to !== null && path.transitions.has(`${t.to}->${t.to} ${t.event}`);
}

function timelineRow(t: TimelineEntry, i: number, start: string, path: PaymentPath): SafeHtml {
  const again = reentered(t, path);
  const cls =
    again ? ''
    : t.kind === 'note' ? 'note'
    : t.kind === 'event-pending' ? 'is-pending'
    : t.kind === 'event' ? 'note'
    : t.to === 'Failed' ? 'is-failure'
    : t.to === 'Success' ? 'is-success'
    : '';
  const step =
    t.kind === 'transition' ? `${t.from ?? '(new)'} → ${t.to}`
    : again ? `${t.to} ↻ (re-entered)`
    : t.to ? `in ${t.to}`
    : 'outbox → RabbitMQ';
  return html`<tr class="${cls}" data-kind="${t.kind}" data-event="${t.event}">
    <td class="num">${i + 1}</td>
    <td class="when">${utc(t.at)}</td>
    <td class="when">+${elapsed(start, t.at)}</td>
    <td class="step">${step}</td>
    <td class="event">${t.event}</td>
    <td>${detailChips(t.detail)}</td>
  </tr>`;
}

function timeline(v: PaymentView, path: PaymentPath): SafeHtml {
  const entries = timelineOf(v);
  if (entries.length === 0) return html`<p class="empty">No history rows.</p>`;
  const start = entries[0]!.at;
  return html`<table class="timeline"><thead><tr><th class="num">#</th><th>Time (UTC)</th><th>Since start</th><th>State</th><th>Event</th><th>Detail</th></tr></thead>
    <tbody>${entries.map((t, i) => timelineRow(t, i, start, path))}</tbody></table>`;
}

export function paymentPage(i: PaymentPageInput): string {
  const v = i.view;
  const body = html`
<div class="row">
  <h1>Payment for order <code>${v.orderId}</code></h1>
  <span class="status tone-${stateTone(v.status)}" data-status="${v.status}">${v.status}</span>
  <span class="spacer"></span>
  <span class="links"><a href="${i.jsonUrl}">JSON</a><a href="${i.jobUrl}">Job in Bull Board</a><a href="/machines/payment">Fleet chart</a></span>
</div>
<section class="card">
  ${verdict(v, i.final)}
  ${facts(v)}
</section>
<h2>Refunds, cancellation and disputes</h2>
${compensationSection(v)}
<h2>Path through the state chart</h2>
<section class="card chart-panel" data-payment-path>
  ${chartSvg(i.layout, { path: i.path })}
</section>
<h2>Timeline: every transition, gateway call and event</h2>
${timeline(v, i.path)}`;
  return page({
    title: `Payment ${v.orderId}`,
    section: 'payment',
    body,
    orderId: v.orderId,
    refreshSeconds: i.final ? undefined : 3,
  });
}

export function paymentNotFoundPage(orderId: string, message: string, status: number): string {
  const body = html`<h1>${status === 404 ? 'No such payment' : 'Not an order id'}</h1>
    <section class="card"><p class="warn">${message}</p>
    <p>Look for it in <a href="/admin/queues">the queue</a>, or on <a href="/machines/payment">the state chart</a>.</p></section>`;
  return page({ title: 'Payment not found', section: 'payment', body, orderId });
}
