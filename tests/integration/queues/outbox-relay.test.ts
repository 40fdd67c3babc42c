import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyPaymentEvent, createPaymentSnapshot } from '../../../src/machines/payment.snapshot.js';
import { createMetrics, type Metrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createOutboxRepository, type OutboxRepository } from '../../../src/persistence/outbox.repository.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { createAmqpConnection, type AmqpConnection } from '../../../src/queues/amqp-connection.js';
import { createOutboxRelay, type OutboxRelay } from '../../../src/queues/outbox.relay.js';
import { paymentFailed } from '../../../src/queues/payment-events.js';
import { PAYMENT_EXCHANGE } from '../../../src/queues/topology.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { drainQueue, openTestChannel, rabbitmqctl, silentLogger, waitFor } from '../../support/amqp-test-helpers.js';

const EVENTS_QUEUE = 'test.payment-events';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let iso: Isolated;
let knex: Knex;
let payments: PaymentsRepository;
let outbox: OutboxRepository;
let test: Awaited<ReturnType<typeof openTestChannel>>;
const connections: AmqpConnection[] = [];
const relays: OutboxRelay[] = [];
const logLines: string[] = [];

beforeAll(async () => {
  iso = await isolate();
  knex = createKnex(iso.databaseUrl);
  payments = createPaymentsRepository(knex);
  outbox = createOutboxRepository(knex);
  test = await openTestChannel(iso.amqpUrl);
});

afterAll(async () => {
  await Promise.allSettled(relays.map((r) => r.stop()));
  await Promise.allSettled(connections.map((c) => c.close()));
  await test?.connection.close().catch(() => undefined);
  await knex?.destroy();
  await iso?.cleanup();
});

async function connect(): Promise<AmqpConnection> {
  const connection = createAmqpConnection({ url: iso.amqpUrl, logger: silentLogger(), reconnectS: 0.2 });
  connections.push(connection);
  await connection.waitUntilUp(10_000);
  return connection;
}

function relayOn(connection: AmqpConnection, o: { batchSize?: number; metrics?: Metrics; graceMs?: number } = {}): OutboxRelay {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
  const relay = createOutboxRelay({
    outbox,
    connection,
    logger,
    metrics: o.metrics ?? createMetrics(),
    pollMs: 50,
    batchSize: o.batchSize ?? 10,
    ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
  });
  relays.push(relay);
  return relay;
}

/** A payment refused for invalid data: its PaymentFailed event waits in the outbox. Returns the event id. */
async function pendingEvent(): Promise<string> {
  return (await committedEvent()).event.id;
}

/** As `pendingEvent`, handing back the order and the event as the code that committed it holds them. */
async function committedEvent() {
  const orderId = randomUUID();
  const paymentId = randomUUID();
  const reason = 'amount "1.5" must have exactly 2 decimal digit(s) for USD';
  const initiated = createPaymentSnapshot({ orderId, paymentId, amountMinor: '150', currency: 'USD', maxAttempts: 3 });
  const event = { ...paymentFailed({ orderId, paymentId, reason, code: 'invalid_request' }), headers: { traceparent: TRACEPARENT } };
  await payments.insert({
    id: paymentId,
    orderId,
    amount: '1.50',
    amountMinor: 150n,
    currency: 'USD',
    customerId: null,
    paymentMethod: 'pm_card_visa',
    sourceEventId: randomUUID(),
    snapshot: applyPaymentEvent(initiated, { type: 'REJECT', code: 'invalid_request', reason }).snapshot,
    failure: { code: 'invalid_request', reason, outbox: event },
  });
  return { orderId, event };
}

/** Earlier tests leave relays polling: stop them so only this test's relay publishes. */
async function stopEarlierRelays(): Promise<void> {
  await Promise.allSettled(relays.splice(0).map((r) => r.stop()));
}

async function outboxRow(id: string) {
  return knex('outbox').where({ id }).first();
}

describe('the outbox relay', () => {
  it('when no queue is bound to payment.events, then the returned event is not marked published and a warning says to bind one', async () => {
    const relay = relayOn(await connect());
    const id = await pendingEvent();
    await relay.flush();
    expect(await outboxRow(id)).toMatchObject({ published_at: null, publish_attempts: 1 });
    expect(logLines.join('\n')).toMatch(/bind a queue to payment\.events/);
    await relay.stop();
  });

  it('when a queue is bound, then pending events are published as CloudEvents with their id as messageId, and marked', async () => {
    await test.channel.assertQueue(EVENTS_QUEUE, { durable: true });
    await test.channel.bindQueue(EVENTS_QUEUE, PAYMENT_EXCHANGE, 'payment.*');
    const metrics = createMetrics();
    const relay = relayOn(await connect(), { metrics });
    await relay.flush();
    const [message, ...rest] = await drainQueue(test.channel, EVENTS_QUEUE);
    expect(rest).toHaveLength(0);
    const body = JSON.parse(message!.content.toString());
    expect(body).toMatchObject({ specversion: '1.0', type: 'PaymentFailed', source: 'payment-service', data: { code: 'invalid_request' } });
    expect(message!.fields.routingKey).toBe('payment.failed');
    expect(message!.properties).toMatchObject({
      messageId: body.id,
      type: 'PaymentFailed',
      contentType: 'application/cloudevents+json',
      deliveryMode: 2,
      headers: { traceparent: TRACEPARENT },
    });
    expect((await outboxRow(body.id)).published_at).not.toBeNull();
    expect((await metrics.eventsPublished.get()).values).toEqual([expect.objectContaining({ value: 1, labels: { type: 'PaymentFailed' } })]);
    await relay.stop();
  });

  it('when two relays run at once, then each event is published exactly once', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 60; i++) ids.add(await pendingEvent());
    const [a, b] = [relayOn(await connect(), { batchSize: 7 }), relayOn(await connect(), { batchSize: 7 })];
    a.start();
    b.start();
    await waitFor(async () => (await outbox.unpublishedCount()) === 0, 'the outbox to drain');
    await Promise.all([a.stop(), b.stop()]);
    const delivered = (await drainQueue(test.channel, EVENTS_QUEUE)).map((m) => String(m.properties.messageId));
    expect(delivered).toHaveLength(60);
    expect(new Set(delivered)).toEqual(ids);
  });

  it('when the broker drops the connection, then the relay reconnects and publishes what is pending', async () => {
    const connection = await connect();
    const relay = relayOn(connection);
    relay.start();
    const down = once(connection.manager, 'disconnect');
    const up = (async () => {
      await down;
      await once(connection.manager, 'connect');
    })();
    await rabbitmqctl('close_all_connections', '-p', iso.vhost, 'test');
    await down;
    const id = await pendingEvent();
    await up;
    // The test's own connection was closed too.
    test = await openTestChannel(iso.amqpUrl);
    const published = await waitFor(async () => (await outboxRow(id)).published_at ?? undefined, 'the event to be published');
    expect(published).not.toBeNull();
    const delivered = await drainQueue(test.channel, EVENTS_QUEUE);
    expect(delivered.map((m) => m.properties.messageId)).toEqual([id]);
  });

  it('when an event is handed over right after its commit, then it is published without waiting for a pass, marked, and no pass publishes it again', async () => {
    await stopEarlierRelays();
    const relay = relayOn(await connect(), { graceMs: 60_000 }); // never started: only publishNow can publish
    const { orderId, event } = await committedEvent();
    relay.publishNow(orderId, event);
    await waitFor(async () => (await outboxRow(event.id)).published_at ?? undefined, 'the event to be marked published');
    await relay.flush(); // a pass that takes every event, however young
    await relay.stop();
    const delivered = await drainQueue(test.channel, EVENTS_QUEUE);
    expect(delivered.map((m) => m.properties.messageId)).toEqual([event.id]);
    expect(delivered[0]!.properties.headers).toMatchObject({ traceparent: TRACEPARENT });
  });

  it('when several events are handed over, then their marks go out together in one statement, and stop sends them without waiting', async () => {
    await stopEarlierRelays();
    const relay = relayOn(await connect(), { graceMs: 60_000 });
    const committed = await Promise.all(Array.from({ length: 5 }, () => committedEvent()));
    const marks = vi.spyOn(outbox, 'markPublished');
    for (const { orderId, event } of committed) relay.publishNow(orderId, event);
    await relay.stop(); // waits for the confirms, then sends the marks at once
    expect(marks).toHaveBeenCalledTimes(1);
    expect([...marks.mock.calls[0]![0]].sort()).toEqual(committed.map((c) => c.event.id).sort());
    marks.mockRestore();
    for (const { event } of committed) expect((await outboxRow(event.id)).published_at).toBeInstanceOf(Date);
    expect((await drainQueue(test.channel, EVENTS_QUEUE)).map((m) => m.properties.messageId).sort()).toEqual(committed.map((c) => c.event.id).sort());
  });

  it('when a pass runs with a grace, then an event younger than the grace is left to the process that wrote it, and one without grace takes it', async () => {
    await stopEarlierRelays();
    const id = await pendingEvent();
    const seen: string[] = [];
    const publish = async (events: Array<{ id: string }>) => {
      seen.push(...events.map((e) => e.id));
      return [];
    };
    expect(await outbox.claimBatch(10, publish, 60_000)).toBe(0);
    expect(seen).toEqual([]);
    await outbox.claimBatch(10, publish, 0);
    expect(seen).toContain(id);
  });
});
