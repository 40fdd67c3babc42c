import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createOutboxRelay, type OutboxRelay } from '../../../src/queues/outbox.relay.js';
import { paymentFailed } from '../../../src/queues/payment-events.js';
import { CLOUDEVENTS_CONTENT_TYPE, PAYMENT_EXCHANGE, PAYMENT_FAILED_KEY } from '../../../src/queues/topology.js';
import { createFakeAmqpConnection, type FakeAmqpConnection } from '../../support/fakes/fake-amqp.connection.js';
import { createInMemoryOutbox, type InMemoryOutbox } from '../../support/fakes/in-memory-outbox.repository.js';

/**
 * The relay's rules on an in-memory outbox and broker: what is published,
 * what is marked, and when. tests/integration/queues/outbox-relay.test.ts
 * checks the same relay against PostgreSQL and RabbitMQ.
 */
// A relay that never marks would leave these tests waiting: fail in seconds, not the suite's minute.
vi.setConfig({ testTimeout: 3000 });

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const metrics = createMetrics();

let outbox: InMemoryOutbox;
let broker: FakeAmqpConnection;
let logLines: string[];
const relays: OutboxRelay[] = [];

beforeEach(() => {
  outbox = createInMemoryOutbox();
  broker = createFakeAmqpConnection();
  logLines = [];
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.allSettled(relays.splice(0).map((r) => r.stop()));
});

function relayOn({ graceMs = 0, batchSize = 10 }: { graceMs?: number; batchSize?: number } = {}): OutboxRelay {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
  const relay = createOutboxRelay({ outbox, connection: broker.connection, logger, metrics, pollMs: 50, batchSize, graceMs });
  relays.push(relay);
  return relay;
}

/** A PaymentFailed committed `ageMs` ago, with the trace of the job that wrote it. */
function committed(ageMs = 0) {
  const orderId = randomUUID();
  const event = { ...paymentFailed({ orderId, paymentId: randomUUID(), reason: 'Your card was declined.', code: 'card_declined' }), headers: { traceparent: TRACEPARENT } };
  outbox.append(event, { orderId, paymentId: randomUUID(), createdAt: new Date(Date.now() - ageMs) });
  return { orderId, event };
}

const isMarked = (id: string) => () => outbox.row(id)?.publishedAt instanceof Date;
const messageIds = () => broker.published.map((m) => m.options.messageId);

describe('publishNow', () => {
  it('when an event is handed over after its commit, then it is published at once as a CloudEvent and marked, with no pass', async () => {
    const relay = relayOn(); // never started
    const { orderId, event } = committed();

    relay.publishNow(orderId, event);
    await outbox.until(isMarked(event.id));

    expect(broker.published).toHaveLength(1);
    const [message] = broker.published;
    expect(message).toMatchObject({ exchange: PAYMENT_EXCHANGE, routingKey: PAYMENT_FAILED_KEY, answer: 'confirm' });
    expect(message!.options).toMatchObject({ messageId: event.id, type: 'PaymentFailed', contentType: CLOUDEVENTS_CONTENT_TYPE, persistent: true, mandatory: true, headers: { traceparent: TRACEPARENT } });
    expect(JSON.parse(message!.content.toString())).toEqual(event.payload);
    expect(outbox.claims()).toBe(0);
    expect(broker.declared).toContain(PAYMENT_EXCHANGE);
  });

  it.each(['nack', 'return'] as const)('when the broker answers %s, then the row stays pending and a later pass publishes it with the same id', async (answer) => {
    const { orderId, event } = committed();
    broker.answer(answer);
    const first = relayOn({ graceMs: 60_000 });
    first.publishNow(orderId, event);
    await first.stop(); // waits for the publish in flight

    expect(outbox.row(event.id)).toMatchObject({ publishedAt: null, publishAttempts: 0 });

    await relayOn().flush();
    expect(outbox.row(event.id)?.publishedAt).toBeInstanceOf(Date);
    expect(broker.published.map((m) => [m.options.messageId, m.answer])).toEqual([
      [event.id, answer],
      [event.id, 'confirm'],
    ]);
  });

  it('when the broker is down, then nothing is sent: the passes publish it once the broker is back', async () => {
    broker.setUp(false);
    const relay = relayOn();
    const { orderId, event } = committed();

    relay.publishNow(orderId, event);
    await relay.flush();
    expect(broker.published).toHaveLength(0);

    broker.setUp(true);
    await relay.flush();
    expect(messageIds()).toEqual([event.id]);
    expect(isMarked(event.id)()).toBe(true);
  });
});

describe('a pass', () => {
  it('when rows are older than the grace, then they are published, only the confirmed are marked, and the young one is left to publishNow', async () => {
    const confirmed = committed(300_000);
    const returned = committed(200_000);
    const nacked = committed(100_000);
    const young = committed(0);
    broker.answer('confirm', 'return', 'nack');
    const relay = relayOn({ graceMs: 60_000 });

    relay.kick();
    await relay.stop(); // waits for the pass in flight

    expect(messageIds()).toEqual([confirmed.event.id, returned.event.id, nacked.event.id]);
    expect(outbox.row(confirmed.event.id)).toMatchObject({ publishedAt: expect.any(Date), publishAttempts: 0 });
    expect(outbox.row(returned.event.id)).toMatchObject({ publishedAt: null, publishAttempts: 1 });
    expect(outbox.row(nacked.event.id)).toMatchObject({ publishedAt: null, publishAttempts: 1 });
    expect(outbox.row(young.event.id)).toMatchObject({ publishedAt: null, publishAttempts: 0 });
    expect(logLines.join('\n')).toMatch(/bind a queue to payment\.events/);
  });

  it('when a batch comes back full, then the pass goes on until the outbox is empty', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => committed(10_000 - i).event.id);
    const relay = relayOn({ batchSize: 3 });

    relay.kick();
    await relay.stop();

    expect(messageIds()).toEqual(ids);
    expect(ids.every((id) => isMarked(id)())).toBe(true);
    expect(outbox.claims()).toBe(3);
  });

  it('when the broker is down, then no rows are claimed (none held locked while waiting)', async () => {
    committed(300_000);
    broker.setUp(false);
    const relay = relayOn();

    relay.kick();
    await relay.stop();

    expect(outbox.claims()).toBe(0);
  });
});

describe('stop', () => {
  it('when events were published right after their commits, then stop sends their marks at once, together, without waiting for the mark timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const relay = relayOn({ graceMs: 60_000 });
    const events = [committed(), committed(), committed()];

    for (const { orderId, event } of events) relay.publishNow(orderId, event);
    await broker.whenPublished(3);
    // One turn of the event loop: every confirm is handled and its mark waits for the (faked, never firing) batch timer.
    await new Promise((resolve) => setImmediate(resolve));
    expect(outbox.markCalls()).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);

    await relay.stop();

    expect(outbox.markCalls()).toHaveLength(1);
    expect([...outbox.markCalls()[0]!].sort()).toEqual(events.map((e) => e.event.id).sort());
    expect(broker.closedChannels).toEqual(['outbox-relay']);
  });
});
