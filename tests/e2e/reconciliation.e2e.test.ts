import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryReserved, type InventoryReserved, type ReceivedEvent } from '../../scripts/lib/saga-client.js';
import { eventually, startProcess, type Proc } from '../../scripts/lib/processes.js';
import { createKnex } from '../../src/persistence/db.js';
import { DISCREPANCY_CLASSES, type ClassCounts } from '../../src/reconciliation/reconciliation.repository.js';
import type { PassSummary } from '../../src/reconciliation/reconciler.js';
import { deploy, type Deployment } from '../support/e2e-harness.js';
import { bodyOf, createRefund, getJson } from '../support/sim-refund-client.js';
import { createIntent } from '../support/sim-client.js';

/**
 * CONTRACT.md §9 end to end: real payments through a worker, then one
 * discrepancy of each class made on purpose at the simulator and in the
 * database, then `npm run reconcile -- --repair` twice. The first pass reports
 * exactly those and mends the safe ones with their events; the second reports
 * only the report-only ones and repairs nothing twice. Then two workers with
 * RECONCILE_INTERVAL_MS run the periodic pass, one at a time.
 */

type Order = Required<Pick<InventoryReserved, 'orderId' | 'amount' | 'currency' | 'paymentMethod'>> & { customerId: string };
const order = (paymentMethod = 'pm_card_visa', amount = '25.00'): Order => ({ orderId: randomUUID(), amount, currency: 'USD', paymentMethod, customerId: 'cus_recon' });

/** The command's JSON last line: the pass's summary without its id (CONTRACT.md §9). */
type Summary = Omit<PassSummary, 'passId'>;

const counts = (found: Partial<ClassCounts>): ClassCounts => Object.fromEntries(DISCREPANCY_CLASSES.map((c) => [c, found[c] ?? 0])) as ClassCounts;

describe('reconciliation against the simulator, one discrepancy of each class', () => {
  let d: Deployment;
  let knex: Knex;
  const since = new Date(Date.now() - 60_000);
  const orders = {
    duplicate: order(), // completed, then charged a second time at the gateway
    failedButCharged: order('pm_card_chargeDeclined'), // declined, then charged at the gateway
    successWithoutCharge: order('pm_card_chargeDeclined'), // declined, then its row set Success
    amountChanged: order(), // completed, then its row's amount changed
    refundedElsewhere: order('pm_card_visa', '40.00'), // completed, then refunded in part at the gateway only
    clean: [order(), order('pm_card_chargeDeclined'), order()],
  };
  const leftProcessing = order(); // charged by a worker that died before recording it
  const unknownOrder = randomUUID(); // charged at the gateway, never known here
  let passes: Array<{ summary: Summary; out: string[] }> = [];
  let chargeOf: (orderId: string) => Promise<string>;

  const reconcile = async (...args: string[]): Promise<{ summary: Summary; out: string[] }> => {
    const cli = startProcess('reconcile', 'src/reconciliation/cli.ts', { ...d.workerEnv, RECONCILE_SETTLE_GRACE_MS: '0', LOG_LEVEL: 'warn' }, args);
    const { code } = await cli.exited;
    const stdout = cli.lines.filter((l) => !l.startsWith('{"level"'));
    expect(code, cli.lines.slice(-20).join('\n')).toBe(0);
    return { summary: JSON.parse(stdout[stdout.length - 1]!) as Summary, out: stdout };
  };

  beforeAll(async () => {
    d = await deploy({ workers: 1 });
    knex = createKnex(d.iso.databaseUrl, { max: 2 });
    chargeOf = async (orderId) => (await knex('payments').where({ order_id: orderId }).first()).transaction_id as string;
    const settled = [orders.duplicate, orders.failedButCharged, orders.successWithoutCharge, orders.amountChanged, orders.refundedElsewhere, ...orders.clean];
    for (const o of settled) await d.client.publish(inventoryReserved(o));
    await d.client.waitFor('every order answered', () => settled.every((o) => d.client.byOrder().has(o.orderId)), 60_000);

    // A worker dies right after the gateway charged, before it records the charge: the payment stays Processing.
    await d.workers[0]!.stop('SIGTERM');
    const doomed = await d.startWorker({ TEST_CRASH_AT: 'worker:after-gateway-call' });
    await d.client.publish(inventoryReserved(leftProcessing));
    expect((await doomed.exited).signal).toBe('SIGKILL');

    // The rest, made on purpose at the gateway and in the database.
    const charge = (orderId: string, amount: string) => createIntent(d.gatewayUrl, { orderId, amount, currency: 'usd', payment_method: 'pm_card_visa' });
    bodyOf(await charge(orders.duplicate.orderId, '2500'));
    bodyOf(await charge(orders.failedButCharged.orderId, '2500'));
    bodyOf(await charge(unknownOrder, '1234'));
    await knex('payments').where({ order_id: orders.successWithoutCharge.orderId }).update({ status: 'Success' });
    await knex('payments').where({ order_id: orders.amountChanged.orderId }).update({ amount: '25.01', amount_minor: 2501 });
    bodyOf(await createRefund(d.gatewayUrl, { payment_intent: await chargeOf(orders.refundedElsewhere.orderId), amount: '1000' }));

    const window = ['--since', since.toISOString(), '--until', new Date(Date.now() + 60_000).toISOString()];
    passes = [await reconcile(...window, '--repair'), await reconcile(...window, '--repair')];
  }, 180_000);

  afterAll(async () => {
    await knex?.destroy();
    await d?.teardown();
  });

  it('when the first pass runs, then it reports exactly one of each class and repairs the safe ones', () => {
    const { summary } = passes[0]!;
    expect(summary.discrepancies).toEqual(counts(Object.fromEntries(DISCREPANCY_CLASSES.map((c) => [c, 1]))));
    expect(summary.repaired).toEqual(counts({ charged_but_unsettled: 1, charged_but_failed: 1, duplicate_charge: 1, refund_mismatch: 1 }));
    // 9 orders published; the gateway holds their intents and the 3 charges made by hand.
    expect(summary.payments).toBe(9);
    expect(summary.charges).toBe(9 + 3);
    expect(Object.keys(summary).sort()).toEqual(['charges', 'discrepancies', 'payments', 'refunds', 'repaired', 'since', 'until']);
  });

  it('when the second pass runs over the same window, then only the report-only classes remain and nothing is repaired twice', () => {
    const { summary } = passes[1]!;
    expect(summary.discrepancies).toEqual(counts({ charge_without_payment: 1, success_without_charge: 1, amount_mismatch: 1 }));
    expect(summary.repaired).toEqual(counts({}));
  });

  it('when the command prints, then its table names each class with what was found and repaired, and each discrepancy with its order', () => {
    const { out } = passes[0]!;
    expect(out.find((l) => l.startsWith('charged_but_unsettled ') && /\s1\s+1$/.test(l))).toBeDefined();
    expect(out.some((l) => l.includes(orders.amountChanged.orderId) && l.includes('report_only'))).toBe(true);
  });

  it('when the repairs ran, then each went through the machine with its event: the charge settled, the stray charges refunded whole, the refund taken in', async () => {
    const events = (orderId: string) => d.client.byOrder().get(orderId)?.map((e: ReceivedEvent) => e.type) ?? [];
    await d.client.waitFor('the repairs\' events', () => events(leftProcessing.orderId).includes('PaymentCompleted') && events(orders.refundedElsewhere.orderId).includes('PaymentRefunded'), 10_000);
    expect(events(leftProcessing.orderId)).toEqual(['PaymentCompleted']);
    expect(events(orders.failedButCharged.orderId)).toEqual(['PaymentFailed', 'PaymentRefunded']);
    expect(events(orders.refundedElsewhere.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
    // The duplicate's refund changes nothing the order service knows: its order stays paid once.
    expect(events(orders.duplicate.orderId)).toEqual(['PaymentCompleted']);
    const found = d.client.byOrder().get(orders.refundedElsewhere.orderId)!.find((e) => e.type === 'PaymentRefunded')!;
    expect(found.data).toMatchObject({ amount: '10.00', amountRefunded: '10.00', currency: 'USD' });
    const stray = d.client.byOrder().get(orders.failedButCharged.orderId)!.find((e) => e.type === 'PaymentRefunded')!;
    expect(stray.data).toMatchObject({ amount: '25.00', currency: 'USD' });

    const refunds = bodyOf<Array<{ orderId: string; amount: string; status: string; paymentIntent: string }>>(await getJson(d.gatewayUrl, '/_sim/refunds'));
    const byOrder = (id: string) => refunds.filter((r) => r.orderId === id);
    expect(byOrder(orders.failedButCharged.orderId)).toMatchObject([{ amount: '2500', status: 'succeeded' }]);
    expect(byOrder(orders.duplicate.orderId)).toHaveLength(1);
    expect(byOrder(orders.duplicate.orderId)[0]!.paymentIntent).not.toBe(await chargeOf(orders.duplicate.orderId));
    expect(byOrder(orders.refundedElsewhere.orderId)).toHaveLength(1);

    const statuses = await knex('payments').whereIn('order_id', [leftProcessing.orderId, orders.refundedElsewhere.orderId, orders.duplicate.orderId, orders.failedButCharged.orderId]).select('order_id', 'status');
    expect(Object.fromEntries(statuses.map((r) => [r.order_id, r.status]))).toEqual({
      [leftProcessing.orderId]: 'Success',
      [orders.refundedElsewhere.orderId]: 'PartiallyRefunded',
      [orders.duplicate.orderId]: 'Success',
      [orders.failedButCharged.orderId]: 'Failed',
    });
    const history = await knex('payment_transitions').where({ order_id: leftProcessing.orderId, event: 'CHARGE_SUCCEEDED' }).first();
    expect(history.detail).toMatchObject({ source: 'reconciliation', class: 'charged_but_unsettled' });
  });

  it('when two workers run the periodic pass, then passes follow one another, never overlap, and GET /reconciliation shows what is still open', async () => {
    const workers: Proc[] = [];
    for (let i = 0; i < 2; i++) workers.push(await d.startWorker({ RECONCILE_INTERVAL_MS: '1000', RECONCILE_SETTLE_GRACE_MS: '0' }));
    const completed = async () => (await knex('reconciliation_passes').where('status', 'completed').orderBy('started_at')) as Array<{ started_at: Date; finished_at: Date; started_by: string }>;
    // The two --repair passes above, then at least two periodic ones.
    const rows = await eventually('two periodic passes completed', async () => {
      const done = await completed();
      return done.length >= 4 ? done : undefined;
    }, 30_000, 200);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.started_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.finished_at.getTime());

    const answer = await (await fetch(`${d.httpUrlOf(workers[0]!)}/reconciliation`)).json() as { passes: unknown[]; open: { discrepancies: Array<{ class: string }> } };
    expect(answer.passes.length).toBeGreaterThanOrEqual(4);
    expect(answer.open.discrepancies.map((x) => x.class).sort()).toEqual(['amount_mismatch', 'charge_without_payment', 'success_without_charge']);
    expect(await d.metricSum('payment_reconciliation_discrepancies', { class: 'amount_mismatch' })).toBe(2);
  });
});
