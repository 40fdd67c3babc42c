import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../../src/gateway/simulator/simulator.js';
import type { PaymentLocator } from '../../../src/gateway/stripe-webhook-events.js';
import type { PaymentEvent } from '../../../src/machines/payment.types.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createWebhookEventsRepository } from '../../../src/persistence/webhook-events.repository.js';
import { createCompensationQueues, enqueueWebhook, type CompensationQueues, type CompensationsQueue } from '../../../src/queues/compensations.queue.js';
import { createWebhookApplier } from '../../../src/queues/webhook.applier.js';
import { opsWorld, type OpsWorld } from '../../support/ops.fixtures.js';
import { createIntent } from '../../support/sim-client.js';
import { bodyOf, createRefund } from '../../support/sim-refund-client.js';

const SECRET = 'whsec_simulator_to_ops_server';

let world: OpsWorld;
let redis: Redis;
let queues: CompensationQueues;
let queue: CompensationsQueue;
let simulator: Simulator;

beforeAll(async () => {
  world = await opsWorld();
  redis = new Redis(world.iso.redisUrl, { maxRetriesPerRequest: null });
  queues = createCompensationQueues({ connection: redis, prefix: world.iso.queuePrefix, shards: 1, attempts: 3, backoffMs: 100, retentionS: 3600 });
  queue = queues.shards[0]!;
  const app = world.server({
    metrics: createMetrics(),
    // Remote or not, Stripe carries no admin token.
    adminToken: 'ops-token-0123456789abcdef',
    webhooks: { secret: SECRET, inbox: createWebhookEventsRepository(world.knex), enqueue: (id) => enqueueWebhook(queues, id) },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  simulator = createSimulator({
    seed: 7,
    webhookBackoffMs: 10,
    webhooks: { urls: [`http://127.0.0.1:${port}/webhooks/stripe`], secret: SECRET },
    // Every event twice, in any order, as Stripe may deliver them.
    webhookDuplicateRate: 1,
    webhookDelayMs: { min: 0, max: 50 },
    refundPendingRate: 1,
    refundSettleMs: 20,
  });
  await simulator.start();
});
afterAll(async () => {
  await simulator?.close();
  await queue?.close();
  redis?.disconnect();
  await world?.close();
});

describe('webhooks from the gateway simulator to the ops server', () => {
  it('when a payment is charged, refunded and disputed, then each event is stored once though sent twice, and maps to the machine event it means', async () => {
    const orderId = randomUUID();
    const refundId = randomUUID();
    const intent = bodyOf<{ id: string }>(await createIntent(simulator.url, { amount: '2500', currency: 'usd', payment_method: 'pm_card_visa', orderId }));
    bodyOf(await createRefund(simulator.url, { payment_intent: intent.id, amount: '500', metadata: { orderId, refundId } }));
    expect(simulator.openDispute({ paymentIntent: intent.id })).toMatchObject({ ok: true });
    // The pending refund settles on a timer, then its refund.updated is sent: wait for all four events, then for their sends.
    await expect.poll(() => simulator.events().length, { timeout: 5000 }).toBe(4);
    await simulator.webhooksIdle();

    const events = simulator.events();
    expect(simulator.webhookDeliveries().map((d) => d.outcome)).toEqual(Array(8).fill('delivered'));
    const rows = await world.knex('webhook_events').orderBy('received_at');
    expect(rows.map((r: { id: string }) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
    expect((await queue.getJobs(['waiting'])).map((j) => j.id).sort()).toEqual(events.map((e) => `webhook-${e.id}`).sort());

    const applied: Array<{ locate: PaymentLocator; event: PaymentEvent }> = [];
    const applier = createWebhookApplier({
      webhooks: createWebhookEventsRepository(world.knex),
      apply: async (locate, event) => {
        applied.push({ locate, event });
        return 'applied';
      },
      gateway: 'primary',
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(),
    });
    for (const e of events) await applier({ id: `webhook-${e.id}`, data: { eventId: e.id }, attemptsMade: 0, opts: { attempts: 3 } });

    // In the order the simulator made them: the dispute may come before the refund settles.
    expect(applied).toHaveLength(3);
    expect(applied).toEqual(expect.arrayContaining([
      { locate: { orderId }, event: { type: 'CHARGE_SUCCEEDED', transactionId: intent.id, gateway: 'primary' } },
      { locate: { orderId }, event: { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId: expect.stringMatching(/^re_/) } },
      { locate: { transactionId: intent.id }, event: { type: 'DISPUTE_OPENED', disputeId: expect.stringMatching(/^dp_/), amountMinor: '2000', reason: expect.any(String) } },
    ]));
    const outcomes = await world.knex('webhook_events').select('type', 'outcome').orderBy('type');
    expect(outcomes).toEqual([
      { type: 'charge.dispute.created', outcome: 'applied' },
      { type: 'charge.refunded', outcome: 'ignored' },
      { type: 'payment_intent.succeeded', outcome: 'applied' },
      { type: 'refund.updated', outcome: 'applied' },
    ]);
  });
});
