import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForConsumers } from '../../scripts/lib/input-queue.js';
import { eventually, type Proc } from '../../scripts/lib/processes.js';
import { inventoryReserved } from '../../scripts/lib/saga-client.js';
import { createKnex } from '../../src/persistence/db.js';
import { deploy, type Deployment } from '../support/e2e-harness.js';

/**
 * "A worker frozen (SIGSTOP) past its lock lets a second worker run
 * the same job to the end". Worker A is frozen while its gateway call is in
 * flight (the simulator answers after LATENCY_MS); its job lock (LOCK_MS)
 * expires, worker B takes the job and settles the payment; then A wakes up
 * with the gateway's answer in hand. Version-checked writes and the
 * idempotency key must leave one charge, one terminal state, one event.
 */
const LOCK_MS = 2000;
const LATENCY_MS = 1500;

const VISA = { method: 'pm_card_visa', status: 'Success', event: 'PaymentCompleted', charge: 'succeeded' } as const;
const DECLINED = { method: 'pm_card_chargeDeclined', status: 'Failed', event: 'PaymentFailed', charge: 'failed' } as const;

/**
 * `in-flight`: A is frozen while its confirm waits in the simulator, which
 * charges meanwhile; A wakes with the answer in its socket.
 * `at-commit`: A is frozen as soon as Processing is committed, usually
 * before its request leaves; A wakes and sends it (the same key) late.
 */
const CASES = [
  { freeze: 'in-flight', ...VISA },
  { freeze: 'in-flight', ...DECLINED },
  { freeze: 'at-commit', ...VISA },
] as const;

describe('a worker frozen past its job lock while a second worker settles the payment', () => {
  let d: Deployment;
  let knex: Knex;

  beforeAll(async () => {
    d = await deploy({
      workers: 0,
      simEnv: { SIM_LATENCY_MS: String(LATENCY_MS) },
      // The sweeper stays out of it: the second worker gets the job through BullMQ's stalled-job check.
      workerEnv: { JOB_LOCK_MS: String(LOCK_MS), GATEWAY_TIMEOUT_MS: '20000', SWEEPER_STALE_AFTER_MS: '600000', LOG_LEVEL: 'debug' },
    });
    knex = createKnex(d.iso.databaseUrl);
  }, 120_000);
  afterAll(async () => {
    await knex?.destroy();
    await d?.teardown();
  });

  it.each(CASES)('when frozen $freeze and woken after the other settled ($method), then there is one charge, one terminal state and one event', async (c) => {
    const orderId = randomUUID();
    const frozen = await d.startWorker();
    await waitForConsumers(d.iso.amqpUrl, 1);
    await d.client.publish(inventoryReserved({ orderId, amount: '42.00', currency: 'EUR', paymentMethod: c.method }));

    // Processing is committed just before the gateway call.
    await eventually('worker A to commit Processing', async () => ((await statusOf(orderId)) === 'Processing' ? true : undefined), 30_000, 5);
    if (c.freeze === 'in-flight') {
      // The charge's handle is committed (with Processing) just before the confirm that can charge.
      await eventually('worker A to commit the handle', async () => ((await handleCommitted(orderId)) ? true : undefined), 30_000, 5);
      // Not a synchronisation: this places the freeze inside the confirm, whose answer takes LATENCY_MS.
      await new Promise((r) => setTimeout(r, LATENCY_MS / 3));
      frozen.child.kill('SIGSTOP');
      // The gateway answers A's request while A is frozen: the charge is made, the answer waits in A's socket.
      await eventually('the gateway to answer the frozen worker', async () => ((await d.ledger()).some((l) => l.orderId === orderId) ? true : undefined), 10_000);
    } else {
      frozen.child.kill('SIGSTOP');
    }
    const other = await d.startWorker();
    await d.client.waitFor(`the terminal event of ${orderId}`, (evs) => evs.some((e) => e.data.orderId === orderId), 60_000);
    const settled = await knex('payments').where({ order_id: orderId }).first();
    expect(settled.status).toBe(c.status);
    const settledBy = await terminalTransitions(orderId);

    frozen.child.kill('SIGCONT');
    // A's attempt ends: its write is refused (the version moved on), and BullMQ refuses to take the
    // job back from it (its lock is gone), which is the line it logs.
    await frozen.waitForLine(new RegExp(`(Missing lock|Lock mismatch|changed since version)[^"]*${orderId}`), 30_000);
    await drained();

    const charges = (await d.ledger()).filter((l) => l.orderId === orderId);
    expect(charges.map((l) => l.status)).toEqual([c.charge]);
    // The woken worker changed nothing: same state, same version, same transaction.
    expect(await knex('payments').where({ order_id: orderId }).first()).toEqual(settled);
    if (c.status === 'Success') expect(settled.transaction_id).toBe(charges[0]!.id);
    expect(await terminalTransitions(orderId)).toEqual(settledBy);
    expect(settledBy).toHaveLength(1);

    const events = d.client.received.filter((e) => e.data.orderId === orderId);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]!.type).toBe(c.event);
    expectAlive(frozen, other);
    await Promise.all([frozen.stop('SIGTERM'), other.stop('SIGTERM')]);
  }, 120_000);

  async function handleCommitted(orderId: string): Promise<boolean> {
    const row = await knex('payments').where({ order_id: orderId }).first('snapshot');
    return Object.keys(row?.snapshot?.context?.intents ?? {}).length > 0;
  }

  async function statusOf(orderId: string): Promise<string | undefined> {
    const row = await knex('payments').where({ order_id: orderId }).first('status');
    return row?.status as string | undefined;
  }

  /** The history rows that moved the payment into a terminal state. */
  async function terminalTransitions(orderId: string): Promise<Array<{ id: string; from: string; to: string }>> {
    const rows = (await knex('payment_transitions').where({ order_id: orderId }).whereIn('to_status', ['Success', 'Failed']).orderBy('id')) as Array<{
      id: string;
      from_status: string;
      to_status: string;
    }>;
    return rows.filter((r) => r.from_status !== r.to_status).map((r) => ({ id: String(r.id), from: r.from_status, to: r.to_status }));
  }

  async function drained(): Promise<void> {
    await eventually('the outbox to be published', async () => {
      const row = (await knex('outbox').whereNull('published_at').count('* as n').first()) as { n: string };
      return Number(row.n) === 0 ? true : undefined;
    });
  }
});

function expectAlive(...procs: Proc[]): void {
  for (const p of procs) expect(p.child.exitCode, `${p.name} still running`).toBeNull();
}
