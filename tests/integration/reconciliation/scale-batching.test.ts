import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import type { GatewayLedger, LedgerCharge } from '../../../src/gateway/gateway.port.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createReconciler } from '../../../src/reconciliation/reconciler.js';
import { createReconciliationRepository } from '../../../src/reconciliation/reconciliation.repository.js';
import { reconcileLockKey } from '../../../src/reconciliation/wiring.js';

/**
 * A pass's memory stays flat however long the window only if the gateway's
 * listing is staged as it is read (CONTRACT.md §9, `npm run reconcile:scale`
 * measures it at 100,000 charges). This catches the regression cheaply: a
 * pass that lists everything before staging it, or stages it in one go, fails.
 */

const CHARGES = 2000;
const MOST_HELD = 500;

describe('a reconciliation pass over a window of many charges (real PostgreSQL and Redis)', () => {
  let iso: Isolated;
  let knex: Knex;
  let redis: Redis;

  beforeAll(async () => {
    iso = await isolate();
    knex = createKnex(iso.databaseUrl, { max: 2 });
    redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    redis?.disconnect();
    await knex?.destroy();
    await iso?.cleanup();
  });

  it('when the gateway lists 2,000 charges, then they are staged in batches of at most 500 while the listing goes on, and all of them are compared', async () => {
    const created = Math.floor(Date.now() / 1000) - 10;
    let listed = 0;
    // One charge at a time, as the stripe package's auto-pagination hands them over; none of them is known here.
    const ledger: GatewayLedger = {
      async *charges() {
        for (let i = 0; i < CHARGES; i += 1) {
          listed += 1;
          const charge: LedgerCharge = { intentId: `pi_scale_${i}`, orderRef: randomUUID(), amountMinor: 1000n, currency: 'USD', status: 'succeeded', created };
          yield charge;
        }
      },
      async *refunds() {},
    };
    const repository = createReconciliationRepository(knex);
    const stage = repository.stageCharges.bind(repository);
    let staged = 0;
    const writes: Array<{ size: number; listedNotStaged: number }> = [];
    vi.spyOn(repository, 'stageCharges').mockImplementation(async (passId, gateway, charges) => {
      writes.push({ size: charges.length, listedNotStaged: listed - staged });
      staged += charges.length;
      await stage(passId, gateway, charges);
    });
    const reconciler = createReconciler({
      repository,
      ledgers: [{ name: 'stripe', ledger }],
      apply: async () => 'refused',
      followRefund: async () => undefined,
      redis,
      lockKey: reconcileLockKey(iso.queuePrefix),
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(),
      startedBy: 'scale-batching-test',
      settleGraceMs: 0,
    });

    const summary = await reconciler.runPass({ since: new Date(Date.now() - 60_000), until: new Date(Date.now() + 60_000), repair: false });

    expect(writes.reduce((n, w) => n + w.size, 0)).toBe(CHARGES);
    expect(Math.max(...writes.map((w) => w.size))).toBeLessThanOrEqual(MOST_HELD);
    // At each write, what was listed and not yet staged is that batch alone: the listing was never read ahead.
    expect(writes.filter((w) => w.listedNotStaged > MOST_HELD)).toEqual([]);
    expect(writes.filter((w) => w.size > 0).length).toBeGreaterThanOrEqual(CHARGES / MOST_HELD);
    expect(summary.charges).toBe(CHARGES);
    expect(summary.discrepancies.charge_without_payment).toBe(CHARGES);
    // The staged rows go with the pass.
    const left = await knex('reconciliation_gateway_charges').count<{ n: string }[]>({ n: '*' }).first();
    expect(Number(left?.n)).toBe(0);
  });
});
