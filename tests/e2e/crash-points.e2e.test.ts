import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryReserved } from '../../scripts/lib/saga-client.js';
import { createKnex } from '../../src/persistence/db.js';
import type { CrashPointName } from '../../src/workers/crash-points.js';
import { deploy, successfulChargesByOrder, type Deployment } from './harness.js';

/**
 * Kill the process (SIGKILL, no cleanup) at every named step between taking
 * the event and publishing the result, start a fresh process, and check the
 * invariants: the order settles exactly once, charged at most once, with one
 * distinct terminal event.
 */
const POINTS: Array<{ point: CrashPointName; method: string; expected: string }> = [
  { point: 'consumer:after-insert', method: 'pm_card_visa', expected: 'PaymentCompleted' },
  { point: 'consumer:after-enqueue', method: 'pm_card_visa', expected: 'PaymentCompleted' },
  { point: 'worker:after-processing-commit', method: 'pm_card_visa', expected: 'PaymentCompleted' },
  { point: 'worker:after-gateway-call', method: 'pm_card_visa', expected: 'PaymentCompleted' },
  { point: 'worker:after-gateway-call', method: 'pm_card_chargeDeclined', expected: 'PaymentFailed' },
  { point: 'worker:after-terminal-commit', method: 'pm_card_visa', expected: 'PaymentCompleted' },
  { point: 'relay:after-publish', method: 'pm_card_visa', expected: 'PaymentCompleted' },
  { point: 'relay:before-mark-published', method: 'pm_card_visa', expected: 'PaymentCompleted' },
];

describe('crash safety: a process killed at each step', () => {
  let d: Deployment;

  beforeAll(async () => {
    d = await deploy({ workers: 0 });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  it.each(POINTS)('when killed at $point ($method), then the order still settles exactly once', async ({ point, method, expected }) => {
    const orderId = randomUUID();
    const doomed = await d.startWorker({ TEST_CRASH_AT: point });
    await d.client.publish(inventoryReserved({ orderId, amount: '25.00', currency: 'EUR', paymentMethod: method }));
    const exit = await doomed.exited;
    expect(exit.signal).toBe('SIGKILL');

    const survivor = await d.startWorker();
    await d.client.waitFor(`a terminal event for ${orderId}`, (evs) => evs.some((e) => e.data.orderId === orderId), 60_000);
    // A re-publish after the crash is allowed, but it must be the same event (same id).
    const knex = createKnex(d.iso.databaseUrl);
    try {
      await eventually(async () => Number((await knex('outbox').whereNull('published_at').count('* as n').first())!.n) === 0);
      const rows = await knex('payments').where({ order_id: orderId });
      expect(rows).toHaveLength(1);
      expect(rows[0].status).toBe(expected === 'PaymentCompleted' ? 'Success' : 'Failed');
    } finally {
      await knex.destroy();
    }
    const events = d.client.received.filter((e) => e.data.orderId === orderId);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]!.type).toBe(expected);
    const charges = successfulChargesByOrder(await d.ledger()).get(orderId) ?? [];
    expect(charges.length).toBe(expected === 'PaymentCompleted' ? 1 : 0);
    expect((await survivor.stop('SIGTERM')).code).toBe(0);
  }, 120_000);
});

async function eventually(probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
