import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryReserved, type InventoryReserved, type ReceivedEvent } from '../../scripts/lib/saga-client.js';
import { connectRedis } from '../../scripts/lib/isolation.js';
import { parseAmount } from '../../src/money.js';
import type { PaymentView } from '../../src/http/payment.view.js';
import { velocityKey } from '../../src/risk/velocity.js';
import { deploy, successfulChargesByOrder, type Deployment, type LedgerCharge } from '../support/e2e-harness.js';
import { searchByOrder } from '../support/sim-client.js';

/**
 * CONTRACT.md section 10 through the whole pipeline: two worker processes
 * started as `npm start` would, sharing one rule file and one Redis, screen
 * orders published as InventoryReserved events; the simulator's ledger and
 * the payments' history show what was charged and why the rest were not.
 */
const VELOCITY = { max: 3, windowSeconds: 3600 };
const RULES = {
  maxAmount: { USD: '5000.00' },
  customerVelocity: VELOCITY,
  blockedCustomers: ['cus_blocked'],
  blockedPaymentMethods: ['pm_card_stolen'],
};

type Order = Required<InventoryReserved>;
const order = (customerId: string, amount = '10.00', currency = 'USD', paymentMethod = 'pm_card_visa'): Order =>
  ({ orderId: randomUUID(), amount, currency, customerId, paymentMethod });

// Customers are unique to the run only for readability of its logs: the Redis prefix isolates the counts already.
const VELOCITY_CUSTOMER = 'cus_velocity';
const REDELIVERED_CUSTOMER = 'cus_redelivered';

const blocked = {
  blockedCustomers: order('cus_blocked'),
  blockedPaymentMethods: order('cus_stolen_card', '10.00', 'USD', 'pm_card_stolen'),
  maxAmount: order('cus_big', '5000.01'),
};
/** Twice the customer's limit, published together: exactly `max` are charged whichever process screens which. */
const velocity = Array.from({ length: 2 * VELOCITY.max }, () => order(VELOCITY_CUSTOMER));
/** Up to the limit for one customer, its first order delivered three times: counted once, all of them charged. */
const redelivered = Array.from({ length: VELOCITY.max }, () => order(REDELIVERED_CUSTOMER));
const withinLimits = [
  order('cus_within_1', '49.99'),
  order('cus_within_2', '5000.00'), // the limit itself is allowed
  order('cus_within_3', '9000.00', 'EUR'), // maxAmount names USD only
  order('cus_within_4', '5000', 'JPY'),
];

describe('risk screening end to end, with two worker processes sharing one rule file', () => {
  let d: Deployment;
  let rulesDir: string;
  let terminal: Map<string, ReceivedEvent>;
  let ledger: LedgerCharge[];

  beforeAll(async () => {
    rulesDir = await mkdtemp(path.join(tmpdir(), 'risk-e2e-'));
    const rulesFile = path.join(rulesDir, 'risk-rules.json');
    await writeFile(rulesFile, JSON.stringify(RULES));
    // One job at a time per process, and a gateway that takes its time: while one process charges the
    // velocity customer's first allowed order, the queue's marker (re-added by BullMQ on every job taken)
    // wakes the other, which takes the next. That customer's orders are published first, so both processes
    // screen some of them, however the run goes (without this, one process took all six in 1 run of 5).
    d = await deploy({ workers: 2, simEnv: { SIM_LATENCY_MS: '200' }, workerEnv: { RISK_RULES: rulesFile, WORKER_CONCURRENCY: '1' } });

    const [first, ...rest] = redelivered.map((o) => inventoryReserved(o));
    const others = [first!, ...Object.values(blocked).map((o) => inventoryReserved(o)), ...rest, ...withinLimits.map((o) => inventoryReserved(o))];
    for (const o of velocity) await d.client.publish(inventoryReserved(o));
    for (const [i, e] of others.entries()) {
      await d.client.publish(e);
      // The same event again, and the same order under a new event id, amid the others.
      if (i === 1) await d.client.publish(first!);
      if (i === 3) await d.client.publish(inventoryReserved(redelivered[0]!));
    }

    const all = [...Object.values(blocked), ...velocity, ...redelivered, ...withinLimits];
    await d.client.waitFor('a terminal event for every order', () => all.every((o) => d.client.byOrder().has(o.orderId)), 90_000);
    terminal = new Map([...d.client.byOrder()].map(([orderId, events]) => [orderId, events[0]!]));
    ledger = await d.ledger();
  }, 180_000);

  afterAll(async () => {
    await d?.teardown();
    if (rulesDir) await rm(rulesDir, { recursive: true, force: true });
  });

  const history = async (orderId: string) => {
    const res = await fetch(`${d.httpUrlOf(d.workers[0]!)}/payments/${orderId}?format=json`);
    expect(res.status).toBe(200);
    return (await res.json()) as PaymentView;
  };
  const expectBlocked = async (o: Order, rule: string) => {
    const event = terminal.get(o.orderId)!;
    expect(event.type, `${rule}: ${o.orderId}`).toBe('PaymentFailed');
    expect(event.data.code).toBe('risk_blocked');
    const reason = String(event.data.reason);
    expect(reason).toContain(rule);
    // The reason names the rule, never the payment's values.
    for (const value of [o.customerId, o.paymentMethod, o.amount, String(parseAmount(o.amount, o.currency))]) {
      expect(reason).not.toContain(value);
    }
    // Never charged, and nothing was even asked of the gateway.
    expect(ledger.filter((c) => c.orderId === o.orderId)).toEqual([]);
    expect(await searchByOrder(d.gatewayUrl, o.orderId)).toEqual([]);

    const view = await history(o.orderId);
    expect(view).toMatchObject({ status: 'Failed', failureCode: 'risk_blocked', transactionId: null });
    const rejected = view.history.filter((h) => h.event === 'REJECT');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ from: 'Initiated', to: 'Failed', detail: { risk: { decision: 'block', rule } } });
    expect(view.history.map((h) => h.event)).not.toContain('START');
  };
  const expectCharged = async (o: Order) => {
    const event = terminal.get(o.orderId)!;
    expect(event.type, `${o.customerId}: ${o.orderId}`).toBe('PaymentCompleted');
    const charges = successfulChargesByOrder(ledger).get(o.orderId) ?? [];
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ amount: parseAmount(o.amount, o.currency).toString(), currency: o.currency, id: event.data.transactionId });

    const view = await history(o.orderId);
    expect(view.status).toBe('Success');
    const screened = view.history.filter((h) => h.event === 'RISK_SCREENED');
    expect(screened).toEqual([expect.objectContaining({ from: 'Initiated', to: 'Initiated', detail: { decision: 'allow', rule: null } })]);
  };

  it('every order, blocked or charged, is answered with one distinct terminal event', () => {
    for (const [orderId, events] of d.client.byOrder()) {
      expect(new Set(events.map((e) => e.id)).size, `distinct terminal events for ${orderId}`).toBe(1);
    }
  });

  it('a blocked customer, a blocked payment method and an amount over the limit are answered risk_blocked, naming the rule, and never reach the gateway', async () => {
    for (const [rule, o] of Object.entries(blocked)) await expectBlocked(o, rule);
  });

  it('orders within every limit are screened, allowed and charged once', async () => {
    for (const o of withinLimits) await expectCharged(o);
  });

  it(`of ${velocity.length} orders of one customer published together, exactly ${VELOCITY.max} are charged across both processes`, async () => {
    const charged = velocity.filter((o) => terminal.get(o.orderId)!.type === 'PaymentCompleted');
    const refused = velocity.filter((o) => terminal.get(o.orderId)!.type !== 'PaymentCompleted');
    expect(charged).toHaveLength(VELOCITY.max);
    for (const o of charged) await expectCharged(o);
    for (const o of refused) await expectBlocked(o, 'customerVelocity');

    // Each order was screened by one process, and both processes screened some: the count is shared, not per process.
    const screenedBy = d.workers.map((w) => new Set(velocity.map((o) => o.orderId).filter((id) => w.lines.some((l) => screenLine(l, id)))));
    expect(screenedBy.reduce((n, s) => n + s.size, 0)).toBe(velocity.length);
    for (const [i, s] of screenedBy.entries()) expect(s.size, `orders of ${VELOCITY_CUSTOMER} screened by worker ${i + 1}`).toBeGreaterThan(0);
  });

  it('a redelivered order is counted once: every order of that customer up to the limit is charged', async () => {
    // Both redeliveries reached a worker and were absorbed there.
    const absorbed = d.workers.flatMap((w) => w.lines.filter((l) => logged(l, redelivered[0]!.orderId, /^duplicate event absorbed$/)));
    expect(absorbed).toHaveLength(2);
    for (const o of redelivered) await expectCharged(o);
    const redis = await connectRedis(d.iso);
    try {
      expect(await redis.zcard(velocityKey(d.iso.queuePrefix, REDELIVERED_CUSTOMER))).toBe(redelivered.length);
      expect(await redis.zcard(velocityKey(d.iso.queuePrefix, VELOCITY_CUSTOMER))).toBe(velocity.length);
    } finally {
      redis.disconnect();
    }
  });
});

/** The processor's line for a payment it settled (allowed and charged) or blocked: written by the process that screened it. */
function screenLine(line: string, orderId: string): boolean {
  return logged(line, orderId, /^payment blocked by risk screening|^payment Success$/);
}

/** A worker's log line about this order whose message matches. */
function logged(line: string, orderId: string, msg: RegExp): boolean {
  if (!line.includes(orderId)) return false;
  let entry: { orderId?: string; msg?: string };
  try {
    entry = JSON.parse(line);
  } catch {
    return false;
  }
  return entry.orderId === orderId && msg.test(entry.msg ?? '');
}
