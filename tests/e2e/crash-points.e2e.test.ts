import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryReserved, orderCancelled, refundRequested } from '../../scripts/lib/saga-client.js';
import { createKnex } from '../../src/persistence/db.js';
import type { CrashPointName } from '../../src/workers/crash-points.js';
import { isChargeSettled, paymentMachine, type PaymentStatus } from '../../src/machines/payment.machine.js';
import { deploy, successfulChargesByOrder, type Deployment } from '../support/e2e-harness.js';

/**
 * Kill the process (SIGKILL, no cleanup) at every named step between taking
 * the event and publishing the result, on every way the machine can end, start
 * a fresh process, and check the invariants: the order settles exactly once,
 * charged at most once, with one distinct terminal event.
 */
interface Scenario {
  /** The machine transition into a final state this scenario ends with. */
  ends: string;
  method: string;
  amount?: string;
  expected: 'PaymentCompleted' | 'PaymentFailed';
  code?: string;
  env?: Record<string, string>;
  points: CrashPointName[];
  /** An OrderCancelled published before the reservation, or once the charge is Processing. */
  cancel?: 'before' | 'while-charging';
}

const SCENARIOS: Scenario[] = [
  {
    ends: 'Processing --CHARGE_SUCCEEDED--> Success',
    method: 'pm_card_visa',
    expected: 'PaymentCompleted',
    points: ['consumer:after-insert', 'consumer:after-enqueue', 'worker:after-processing-commit', 'worker:after-gateway-call',
      'worker:after-terminal-commit', 'relay:after-publish', 'relay:before-mark-published'],
  },
  {
    ends: 'Processing --CHARGE_DECLINED--> Failed',
    method: 'pm_card_chargeDeclined',
    expected: 'PaymentFailed',
    code: 'card_declined',
    points: ['worker:after-gateway-call', 'worker:after-terminal-commit'],
  },
  {
    ends: 'Initiated --REJECT--> Failed',
    method: 'pm_card_visa',
    amount: '25.5',
    expected: 'PaymentFailed',
    code: 'invalid_request',
    points: ['consumer:after-insert', 'relay:before-mark-published'],
  },
  {
    ends: 'Processing --GIVE_UP--> Failed',
    method: 'pm_card_visa',
    expected: 'PaymentFailed',
    code: 'gateway_unavailable',
    // A gateway that refuses every connection: attempts run out, nothing was ever charged.
    env: { GATEWAY_URL: 'http://127.0.0.1:9', JOB_ATTEMPTS: '2', BREAKER_FAILURES: '1000' },
    points: ['worker:after-gateway-call', 'worker:after-terminal-commit'],
  },
  {
    ends: 'Initiated --CANCEL--> Failed',
    method: 'pm_card_visa',
    expected: 'PaymentFailed',
    code: 'order_cancelled',
    cancel: 'before',
    points: ['consumer:after-insert', 'relay:before-mark-published'],
  },
  {
    ends: 'Processing --CHARGE_VOIDED--> Failed',
    // Never answered and never charged: the outcome stays unknown until the cancelled payment's intent is cancelled.
    method: 'pm_card_sim_timeout',
    expected: 'PaymentFailed',
    code: 'order_cancelled',
    cancel: 'while-charging',
    env: { GATEWAY_TIMEOUT_MS: '500' },
    points: ['worker:after-gateway-call', 'worker:after-terminal-commit'],
  },
];

/** Every transition of the machine that settles a payment's charge (guarded alternatives counted once). */
function terminalTransitions(): string[] {
  const out = new Set<string>();
  for (const [name, node] of Object.entries(paymentMachine.root.states)) {
    if (isChargeSettled(name as PaymentStatus)) continue;
    for (const [event, transitions] of node.transitions) {
      for (const t of transitions) {
        for (const target of t.target ?? []) if (isChargeSettled(target.key as PaymentStatus)) out.add(`${name} --${event}--> ${target.key}`);
      }
    }
  }
  return [...out].sort();
}

const CASES = SCENARIOS.flatMap((s) => s.points.map((point) => ({ ...s, point })));

describe('crash safety: a process killed at each step', () => {
  let d: Deployment;

  beforeAll(async () => {
    d = await deploy({ workers: 0 });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  it('every way the machine can end a payment has a crash scenario', () => {
    expect(SCENARIOS.map((s) => s.ends).sort()).toEqual(terminalTransitions());
  });

  it.each(CASES)('when killed at $point on $ends, then the order still settles exactly once', async ({ point, method, amount, expected, code, env, cancel }) => {
    const orderId = randomUUID();
    const doomed = await d.startWorker({ ...env, TEST_CRASH_AT: point });
    if (cancel === 'before') await d.client.publishOrderEvent(orderCancelled({ orderId, reason: 'crash test' }));
    await d.client.publish(inventoryReserved({ orderId, amount: amount ?? '25.00', currency: 'EUR', paymentMethod: method }));
    if (cancel === 'while-charging') {
      const knex = createKnex(d.iso.databaseUrl);
      try {
        await eventually(async () => (await knex('payments').where({ order_id: orderId }).first())?.status === 'Processing');
      } finally {
        await knex.destroy();
      }
      await d.client.publishOrderEvent(orderCancelled({ orderId, reason: 'crash test' }));
    }
    const exit = await doomed.exited;
    expect(exit.signal).toBe('SIGKILL');

    const survivor = await d.startWorker(env);
    // The charge's answer, not any event of the order: a cancellation made first is answered PaymentCancelled before it.
    await d.client.waitFor(`a terminal event for ${orderId}`, (evs) => evs.some((e) => e.data.orderId === orderId && (e.type === 'PaymentCompleted' || e.type === 'PaymentFailed')), 60_000);
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
    const received = d.client.received.filter((e) => e.data.orderId === orderId);
    const events = received.filter((e) => e.type === 'PaymentCompleted' || e.type === 'PaymentFailed');
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]!.type).toBe(expected);
    if (code) expect(events[0]!.data.code).toBe(code);
    if (cancel) {
      await d.client.waitFor(`the cancellation of ${orderId} answered`, (evs) => evs.some((e) => e.data.orderId === orderId && e.type === 'PaymentCancelled'), 30_000);
      const answers = d.client.received.filter((e) => e.data.orderId === orderId && e.type === 'PaymentCancelled');
      expect(new Set(answers.map((e) => e.id)).size).toBe(1);
    }
    const charges = successfulChargesByOrder(await d.ledger()).get(orderId) ?? [];
    expect(charges.length).toBe(expected === 'PaymentCompleted' ? 1 : 0);
    expect((await survivor.stop('SIGTERM')).code).toBe(0);
  }, 120_000);
});

describe('crash safety on the refund path: a process killed at each step', () => {
  let d: Deployment;

  beforeAll(async () => {
    d = await deploy({ workers: 0 });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  const POINTS: CrashPointName[] = ['refund:after-reserve-commit', 'refund:after-gateway-call', 'refund:after-outcome-commit'];

  it.each(POINTS)('when killed at %s, then the refund is made once and answered once', async (point) => {
    const orderId = randomUUID();
    const refundId = randomUUID();
    const doomed = await d.startWorker({ TEST_CRASH_AT: point });
    await d.client.publish(inventoryReserved({ orderId, amount: '25.00', currency: 'EUR', paymentMethod: 'pm_card_visa' }));
    await d.client.waitFor(`PaymentCompleted for ${orderId}`, (evs) => evs.some((e) => e.data.orderId === orderId && e.type === 'PaymentCompleted'), 30_000);
    await d.client.publishOrderEvent(refundRequested({ orderId, refundId, amount: '10.00', reason: 'crash test' }));
    expect((await doomed.exited).signal).toBe('SIGKILL');

    const survivor = await d.startWorker({});
    await d.client.waitFor(`PaymentRefunded for ${orderId}`, (evs) => evs.some((e) => e.data.orderId === orderId && e.type === 'PaymentRefunded'), 60_000);
    const answers = d.client.received.filter((e) => e.data.orderId === orderId && e.type === 'PaymentRefunded');
    expect(new Set(answers.map((e) => e.id)).size).toBe(1);
    expect(answers[0]!.data).toMatchObject({ refundId, amount: '10.00', amountRefunded: '10.00' });
    const refunds = (await (await fetch(`${d.gatewayUrl}/_sim/refunds`)).json()) as Array<{ orderId: string; amount: string; status: string }>;
    expect(refunds.filter((r) => r.orderId === orderId && r.status === 'succeeded').map((r) => r.amount)).toEqual(['1000']);
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
