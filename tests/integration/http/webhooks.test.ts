import { Redis } from 'ioredis';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookRouteDeps } from '../../../src/http/webhooks.routes.js';
import { createMetrics, type Metrics } from '../../../src/observability/metrics.js';
import { createWebhookEventsRepository } from '../../../src/persistence/webhook-events.repository.js';
import {
  APPLY_WEBHOOK_JOB,
  createCompensationQueues,
  enqueueWebhook,
  webhookJobId,
  type CompensationQueues,
  type CompensationsQueue,
} from '../../../src/queues/compensations.queue.js';
import { opsWorld, type OpsWorld } from '../../support/ops.fixtures.js';

const SECRET = 'whsec_test_0123456789abcdefghijklmnop';
const TOKEN = 'ops-token-0123456789abcdef';
const REMOTE = '203.0.113.7';
const PATH = '/webhooks/stripe';

let world: OpsWorld;
let redis: Redis;
let queues: CompensationQueues;
let queue: CompensationsQueue;
let seq = 0;

beforeAll(async () => {
  world = await opsWorld();
  redis = new Redis(world.iso.redisUrl, { maxRetriesPerRequest: null });
  queues = createCompensationQueues({ connection: redis, prefix: world.iso.queuePrefix, shards: 1, attempts: 3, backoffMs: 100, retentionS: 3600 });
  queue = queues.shards[0]!;
});
afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await world?.close();
});
beforeEach(async () => {
  await queue.obliterate({ force: true });
});

/** A Stripe event as the simulator sends it: pretty-printed, as Stripe's are, so a re-serialised body would not verify. */
function stripeEvent(type = 'payment_intent.succeeded') {
  const id = `evt_test${Date.now()}x${++seq}`;
  const payload = JSON.stringify(
    { id, object: 'event', type, created: 1_765_000_000, data: { object: { id: `pi_test${seq}`, object: 'payment_intent', metadata: { orderId: 'o-1' } } } },
    null,
    2,
  );
  return { id, payload };
}

const sign = (payload: string, { secret = SECRET, ageS = 0 } = {}) =>
  Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(Date.now() / 1000) - ageS });

function server(overrides: Partial<WebhookRouteDeps> = {}, options: { metrics?: Metrics; adminToken?: string } = {}) {
  const webhooks: WebhookRouteDeps = {
    secret: SECRET,
    inbox: createWebhookEventsRepository(world.knex),
    enqueue: (eventId) => enqueueWebhook(queues, eventId),
    ...overrides,
  };
  return world.server({ webhooks, metrics: options.metrics ?? createMetrics(), adminToken: options.adminToken });
}

/** `signature: null` sends no Stripe-Signature header. */
const post = (app: ReturnType<typeof server>, payload: string, signature: string | null = sign(payload)) =>
  app.inject({
    method: 'POST',
    url: PATH,
    remoteAddress: REMOTE,
    headers: { 'content-type': 'application/json; charset=utf-8', ...(signature === null ? {} : { 'stripe-signature': signature }) },
    payload,
  });

const rows = (id: string) => world.knex('webhook_events').where({ id });
const jobs = async () => (await queue.getJobs(['waiting', 'delayed', 'prioritized', 'active'])).map((j) => ({ id: j.id, name: j.name, data: j.data }));
const received = async (metrics: Metrics) => (await metrics.webhooksReceived.get()).values.map((v) => ({ ...v.labels, n: v.value }));

describe('POST /webhooks/stripe', () => {
  it('when a validly signed event arrives, then it is stored as sent, one ApplyWebhook job is enqueued, and the answer is 200', async () => {
    const metrics = createMetrics();
    const { id, payload } = stripeEvent();
    const res = await post(server({}, { metrics }), payload);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: true });
    expect(await rows(id)).toEqual([
      expect.objectContaining({ id, type: 'payment_intent.succeeded', payload: JSON.parse(payload), applied_at: null, outcome: null, attempts: 0 }),
    ]);
    expect(await jobs()).toEqual([{ id: webhookJobId(id), name: APPLY_WEBHOOK_JOB, data: { eventId: id } }]);
    expect(await received(metrics)).toEqual([{ type: 'payment_intent.succeeded', verification: 'ok', n: 1 }]);
  });

  it('when the same event is delivered 1,000 times, concurrently, then every answer is 2xx and there is one row and one job', async () => {
    const app = server();
    const { id, payload } = stripeEvent('refund.updated');
    const signature = sign(payload);
    const statuses: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => post(app, payload, signature)));
      statuses.push(...answers.map((a) => a.statusCode));
    }
    expect(statuses).toHaveLength(1000);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await rows(id)).toHaveLength(1);
    expect(await jobs()).toEqual([{ id: webhookJobId(id), name: APPLY_WEBHOOK_JOB, data: { eventId: id } }]);
  });

  it('when a redelivered event was applied already, then it is absorbed with 200 and no job is enqueued again', async () => {
    const app = server();
    const { id, payload } = stripeEvent();
    await post(app, payload);
    await world.knex('webhook_events').where({ id }).update({ outcome: 'applied', applied_at: world.knex.fn.now() });
    await queue.obliterate({ force: true });
    expect((await post(app, payload)).statusCode).toBe(200);
    expect(await jobs()).toEqual([]);
  });

  it.each([
    ['signed with another secret', (p: string) => sign(p, { secret: 'whsec_someone_elses_secret' }), 'bad_signature'],
    ['without a Stripe-Signature header', () => null, 'bad_signature'],
    ['with a garbled Stripe-Signature header', () => 'not-a-signature', 'bad_signature'],
    ['signed 301 s ago (beyond the 300 s tolerance)', (p: string) => sign(p, { ageS: 301 }), 'stale'],
  ])('when an event arrives %s, then 400 names why, nothing is stored or enqueued, and the refusal is counted', async (_case, signature, verification) => {
    const metrics = createMetrics();
    const { id, payload } = stripeEvent();
    const res = await post(server({}, { metrics }), payload, signature(payload));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: verification, message: expect.stringContaining('Stripe-Signature') });
    expect(await rows(id)).toEqual([]);
    expect(await jobs()).toEqual([]);
    expect(await received(metrics)).toEqual([{ type: 'unknown', verification, n: 1 }]);
  });

  it('when the body was changed after signing (re-serialised JSON), then it is refused as a bad signature', async () => {
    const { id, payload } = stripeEvent();
    const res = await post(server(), JSON.stringify(JSON.parse(payload)), sign(payload));
    expect(res.statusCode).toBe(400);
    expect(await rows(id)).toEqual([]);
  });

  it.each([
    ['a body that is not JSON', 'id=evt_1&type=charge.refunded'],
    ['JSON that is not an event', JSON.stringify({ id: 'not an event id', type: 'x' })],
  ])('when %s is validly signed, then 400 malformed and nothing is stored', async (_case, payload) => {
    const metrics = createMetrics();
    const res = await post(server({}, { metrics }), payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'malformed' });
    expect(await world.knex('webhook_events').where('type', 'x').orWhere('id', 'evt_1')).toEqual([]);
    expect(await received(metrics)).toEqual([{ type: 'unknown', verification: 'malformed', n: 1 }]);
  });

  it('when the body is over 1 MiB, then 413 and nothing is stored', async () => {
    const { payload } = stripeEvent();
    const big = payload.replace('"metadata"', `"padding": "${'x'.repeat(1024 * 1024)}", "metadata"`);
    expect((await post(server(), big)).statusCode).toBe(413);
  });

  it('when STRIPE_WEBHOOK_SECRET is unset, then 404 for anyone, signed or not, and nothing is stored', async () => {
    const { id, payload } = stripeEvent();
    for (const app of [server({ secret: undefined }), world.server({ metrics: createMetrics() })]) {
      const res = await post(app, payload);
      expect(res.statusCode).toBe(404);
      expect(res.json().message).toContain('STRIPE_WEBHOOK_SECRET');
    }
    expect(await rows(id)).toEqual([]);
  });

  it('when ADMIN_TOKEN is set, then a remote Stripe with no token and no Origin is still let in', async () => {
    const { id, payload } = stripeEvent();
    const app = server({}, { adminToken: TOKEN });
    expect((await post(app, payload)).statusCode).toBe(200);
    expect(await rows(id)).toHaveLength(1);
    // The guard still covers every other route of the same server.
    expect((await app.inject({ url: '/admin/queues', remoteAddress: REMOTE })).statusCode).toBe(401);
  });

  it('when PostgreSQL does not answer, then 503 so Stripe retries, and nothing is enqueued', async () => {
    const inbox = { record: async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')) };
    const res = await post(server({ inbox }), stripeEvent().payload);
    expect(res.statusCode).toBe(503);
    expect(res.json().message).not.toContain('ECONNREFUSED');
    expect(await jobs()).toEqual([]);
  });

  it('when enqueueing fails after the row is stored, then 503, and Stripe\'s retry enqueues the one job', async () => {
    const { id, payload } = stripeEvent();
    const failing = server({ enqueue: async () => Promise.reject(new Error('Redis connection lost')) });
    expect((await post(failing, payload)).statusCode).toBe(503);
    expect(await rows(id)).toHaveLength(1);
    expect(await jobs()).toEqual([]);

    expect((await post(server(), payload)).statusCode).toBe(200);
    expect(await rows(id)).toHaveLength(1);
    expect(await jobs()).toEqual([{ id: webhookJobId(id), name: APPLY_WEBHOOK_JOB, data: { eventId: id } }]);
  });

  it('when the webhook route keeps its raw body, then other routes still get parsed JSON', async () => {
    const app = server();
    app.post('/echo-json', { config: { public: true } }, async (request) => ({ parsed: typeof request.body }));
    const res = await app.inject({ method: 'POST', url: '/echo-json', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' });
    expect(res.json()).toEqual({ parsed: 'object' });
  });
});
