import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coalesceFrameWrites, createAmqpConnection, type AmqpConnection } from '../../../src/queues/amqp-connection.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { drainQueue, openTestChannel, silentLogger } from '../../support/amqp-test-helpers.js';

const QUEUE = 'frame-writes.test';

let iso: Isolated;
let amqp: AmqpConnection;

beforeAll(async () => {
  iso = await isolate();
  amqp = createAmqpConnection({ url: iso.amqpUrl, logger: silentLogger() });
  await amqp.waitUntilUp(10_000);
});

afterAll(async () => {
  await amqp?.close();
  await iso?.cleanup();
});

/** Counts the socket's trips to the kernel: `_write` for a lone chunk, `_writev` for corked ones. */
function countSocketWrites(socket: Socket) {
  const s = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (chunks: unknown[], ...rest: unknown[]) => void };
  const counts = { writes: 0, chunks: 0 };
  const write = s._write;
  const writev = s._writev;
  s._write = function (this: unknown, ...a: unknown[]) {
    counts.writes++;
    counts.chunks++;
    return write.apply(this, a);
  };
  s._writev = function (this: unknown, chunks: unknown[], ...rest: unknown[]) {
    counts.writes++;
    counts.chunks += chunks.length;
    return writev.call(this, chunks, ...rest);
  };
  return { counts, restore: () => Object.assign(s, { _write: write, _writev: writev }) };
}

describe('frames written in one pass of amqplib', () => {
  it('when 200 messages are published in one tick, then they go out in a handful of socket writes, all confirmed, in order', async () => {
    const channel = amqp.createChannel({ name: 'test', confirm: true, setup: async (ch) => void (await ch.assertQueue(QUEUE, { durable: true })) });
    await channel.waitForConnect();
    const socket = (amqp.manager.connection as unknown as { connection: { stream: Socket } }).connection.stream;
    const { counts, restore } = countSocketWrites(socket);
    try {
      const bodies = Array.from({ length: 200 }, (_, i) => `message ${i}`);
      await Promise.all(bodies.map((b) => channel.publish('', QUEUE, Buffer.from(b), { persistent: true })));
      // One write per message without coalescing; corked, the pass goes out in a few writev calls
      // (the socket's high-water mark splits it).
      expect(counts.chunks).toBeGreaterThanOrEqual(200);
      expect(counts.writes).toBeLessThan(20);
      const reader = await openTestChannel(iso.amqpUrl);
      try {
        expect((await drainQueue(reader.channel, QUEUE)).map((m) => m.content.toString())).toEqual(bodies);
      } finally {
        await reader.connection.close();
      }
    } finally {
      restore();
      await channel.close();
    }
  });

  it('when amqplib is not shaped as expected, then nothing is wrapped', () => {
    expect(coalesceFrameWrites(undefined)).toBe(false);
    expect(coalesceFrameWrites({ connection: {} })).toBe(false);
    expect(coalesceFrameWrites({ connection: { muxer: { _readIncoming: () => undefined, out: {} } } })).toBe(false);
  });
});
