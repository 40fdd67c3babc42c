import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAmqpConnection, type AmqpConnection } from '../../../src/queues/amqp-connection.js';
import { startInventoryConsumer, type InventoryConsumer } from '../../../src/queues/inventory.consumer.js';
import { INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY } from '../../../src/queues/topology.js';
import { inputConsumerCount } from '../../../scripts/lib/input-queue.js';
import { createVhost } from '../../../scripts/lib/isolation.js';
import { openTestChannel, publishConfirmed, silentLogger, waitFor } from '../../support/amqp-test-helpers.js';

/**
 * Two processes' input consumers, as two runners on their own connections:
 * "high" and "low" consumer priority. Each records the message ids it handled.
 * Acks go out in runs (AckBatcher), so a consumer's prefetch also holds
 * deliveries handled but not yet acked: the prefetch is larger than a trickle.
 */
const PREFETCH = 20;
let vhost: Awaited<ReturnType<typeof createVhost>>;
let test: Awaited<ReturnType<typeof openTestChannel>>;
const connections: AmqpConnection[] = [];
const consumers: Record<'high' | 'low', InventoryConsumer | undefined> = { high: undefined, low: undefined };
const handled: Record<'high' | 'low', string[]> = { high: [], low: [] };
const settled = new EventEmitter();
/** While set, the high-priority consumer's handler waits on it (its deliveries stay unacked). */
let holdHigh: Promise<void> | undefined;
/** While true, the high-priority consumer cannot handle anything (as when its database does not answer): nack. */
let highFails = false;
const DEMOTE_MS = 3000;
/** The priorities the high-priority consumer reported, in order. */
const highPriorities: number[] = [];

async function start(name: 'high' | 'low', priority: number): Promise<void> {
  const connection = createAmqpConnection({ url: vhost.url, logger: silentLogger(), reconnectS: 0.2 });
  connections.push(connection);
  await connection.waitUntilUp(10_000);
  consumers[name] = startInventoryConsumer({
    connection,
    prefetch: PREFETCH,
    priority,
    demoteMs: DEMOTE_MS,
    retryDelayMs: () => 10,
    logger: silentLogger(),
    ...(name === 'high' ? { onPriority: (p: number) => void highPriorities.push(p) } : {}),
    handler: async (message) => {
      if (name === 'high' && holdHigh) await holdHigh;
      if (name === 'high' && highFails) return 'nack';
      const id = String(message.properties.messageId);
      handled[name].push(id);
      settled.emit(id, name);
      return 'ack';
    },
  });
}

/** 0 while the queue is not declared yet. */
const consumerCount = () => inputConsumerCount(vhost.url).catch(() => 0);

function publish(id: string): Promise<void> {
  return publishConfirmed(test.channel, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY, '{}', { messageId: id, type: 'InventoryReserved' });
}

/** Publishes one message and resolves with the consumer that handled it. */
async function trickleOne(): Promise<string> {
  const id = randomUUID();
  const handledBy = once(settled, id);
  await publish(id);
  return String((await handledBy)[0]);
}

beforeAll(async () => {
  vhost = await createVhost(`prio${Date.now().toString(36)}`);
  await start('low', 1);
  await start('high', 10);
  test = await openTestChannel(vhost.url);
  await waitFor(async () => (await consumerCount()) === 2, 'both consumers on the input queue');
});

afterAll(async () => {
  const steps = [() => consumers.high?.stop(), () => consumers.low?.stop(), ...connections.map((c) => () => c.close()), () => test?.connection.close()];
  for (const step of steps) await Promise.resolve().then(step).catch(() => undefined);
  await vhost?.drop();
});

describe('input consumers of several processes (consumer priorities)', () => {
  it('when events come one at a time, then one process takes them all: the other is never woken for them', async () => {
    const by: string[] = [];
    for (let i = 0; i < 12; i++) by.push(await trickleOne());
    expect(by).toEqual(Array(12).fill('high'));
  });

  it('when more arrive than its prefetch holds, then the overflow goes to the next process, and each event is handled once', async () => {
    let release!: () => void;
    holdHigh = new Promise((r) => (release = r));
    const before = { high: handled.high.length, low: handled.low.length };
    const ids = Array.from({ length: PREFETCH + 2 }, () => randomUUID());
    for (const id of ids) await publish(id);
    // "high" holds at most PREFETCH unacked deliveries, so the broker hands the rest to "low".
    await waitFor(() => handled.low.length - before.low >= 2, 'the overflow at the low-priority consumer');
    release();
    holdHigh = undefined;
    const all = () => [...handled.high.slice(before.high), ...handled.low.slice(before.low)];
    await waitFor(() => all().length === ids.length, 'every event handled');
    expect(all().sort()).toEqual([...ids].sort());
    expect(handled.high.length - before.high).toBeLessThanOrEqual(PREFETCH);
  });

  it('when the process taking them cannot handle one, then it steps back for a while: that event and the next go to the other', async () => {
    const reported = highPriorities.length;
    highFails = true;
    const first = await trickleOne(); // nacked by "high", handed again to "low"
    highFails = false;
    expect(first).toBe('low');
    expect(highPriorities.slice(reported)).toEqual([-1]);
    const by: string[] = [];
    for (let i = 0; i < 5; i++) by.push(await trickleOne());
    expect(by).toEqual(Array(5).fill('low'));
    // After DEMOTE_MS it consumes at its own priority again, and takes the input back.
    await waitFor(() => highPriorities.length > reported + 1, 'the high-priority consumer back at its own priority', DEMOTE_MS + 10_000);
    expect(highPriorities.slice(reported)).toEqual([-1, 10]);
    await waitFor(async () => (await consumerCount()) === 2, 'the demoted consumer cancelled');
    expect(await trickleOne()).toBe('high');
  });

  it('when the process taking them goes away, then the next one takes every event', async () => {
    await consumers.high!.stop();
    consumers.high = undefined;
    await waitFor(async () => (await consumerCount()) === 1, 'one consumer left');
    const by: string[] = [];
    for (let i = 0; i < 5; i++) by.push(await trickleOne());
    expect(by).toEqual(Array(5).fill('low'));
  });
});
