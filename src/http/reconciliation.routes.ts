import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Discrepancy, PassRow, ReconciliationRepository } from '../reconciliation/reconciliation.repository.js';
import { html, type SafeHtml } from './pages/html.js';
import { page } from './pages/page.layout.js';
import { wantsHtml } from './payment.routes.js';

/**
 * GET /reconciliation (CONTRACT.md §6): the latest passes and the open
 * discrepancies of the latest completed one (those no repair mended), as JSON,
 * or a page in a browser.
 */
export interface ReconciliationRouteDeps {
  reconciliation: Pick<ReconciliationRepository, 'latestPasses' | 'openDiscrepancies'>;
}

const passJson = (p: PassRow) => ({
  id: p.id,
  status: p.status,
  since: p.since.toISOString(),
  until: p.until.toISOString(),
  repair: p.repair,
  startedBy: p.startedBy,
  startedAt: p.startedAt.toISOString(),
  finishedAt: p.finishedAt?.toISOString() ?? null,
  payments: p.payments,
  charges: p.charges,
  refunds: p.refunds,
  discrepancies: p.discrepancies,
  repaired: p.repaired,
  error: p.error,
});

const discrepancyJson = (d: Discrepancy) => ({
  class: d.class,
  orderId: d.orderId,
  paymentId: d.paymentId,
  paymentStatus: d.paymentStatus,
  gateway: d.gateway,
  intentId: d.intentId,
  gatewayRefundId: d.gatewayRefundId,
  refundId: d.refundId,
  amountMinor: d.amountMinor,
  currency: d.currency,
  detail: d.detail,
  repair: d.repair,
  repairDetail: d.repairDetail,
});

export function registerReconciliationRoutes(app: FastifyInstance, deps: ReconciliationRouteDeps): void {
  app.get('/reconciliation', async (request: FastifyRequest<{ Querystring: { format?: string } }>, reply) => {
    const passes = await deps.reconciliation.latestPasses(10);
    const latest = passes.find((p) => p.status === 'completed');
    const open = latest ? await deps.reconciliation.openDiscrepancies(latest.id) : [];
    if (!wantsHtml(request)) {
      return { passes: passes.map(passJson), open: latest ? { passId: latest.id, discrepancies: open.map(discrepancyJson) } : null };
    }
    return reply.type('text/html; charset=utf-8').send(page({ title: 'Reconciliation', section: 'reconciliation', body: body(passes, latest, open) }));
  });
}

function counts(c: Record<string, number> | null): string {
  if (!c) return '';
  const found = Object.entries(c).filter(([, n]) => n > 0);
  return found.length ? found.map(([k, n]) => `${k} ${n}`).join(', ') : 'none';
}

function body(passes: PassRow[], latest: PassRow | undefined, open: Discrepancy[]): SafeHtml {
  const rows = passes.map(
    (p) => html`<tr><td>${p.startedAt.toISOString()}</td><td>${p.status}</td><td>${p.since.toISOString()} → ${p.until.toISOString()}</td>
      <td>${p.payments ?? ''}</td><td>${p.charges ?? ''}</td><td>${p.refunds ?? ''}</td><td>${counts(p.discrepancies)}</td><td>${counts(p.repaired)}</td><td>${p.error ?? ''}</td></tr>`,
  );
  const items = open.map(
    (d) => html`<tr><td>${d.class}</td><td>${d.orderId ? html`<a href="/payments/${d.orderId}">${d.orderId}</a>` : '—'}</td><td>${d.intentId ?? ''}</td><td>${d.detail}</td><td>${d.repair}${d.repairDetail ? `: ${d.repairDetail}` : ''}</td></tr>`,
  );
  return html`<h1>Reconciliation</h1>
<p>Each pass compares the payments and refunds here with the gateway's own lists for its window (CONTRACT.md §9). <code>npm run reconcile -- --repair</code> runs one by hand.</p>
<h2>Latest passes</h2>
${passes.length ? html`<table><thead><tr><th>started</th><th>status</th><th>window</th><th>payments</th><th>charges</th><th>refunds</th><th>discrepancies</th><th>repaired</th><th>error</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p>No pass has run yet.</p>`}
<h2>Open discrepancies${latest ? html` of the pass started ${latest.startedAt.toISOString()}` : null}</h2>
${open.length ? html`<table><thead><tr><th>class</th><th>order</th><th>charge</th><th>what differs</th><th>repair</th></tr></thead><tbody>${items}</tbody></table>` : html`<p>None.</p>`}`;
}
