import type { ConsumeMessage } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AckBatcher } from '../../../src/queues/ack-batcher.js';

/** What went on the wire, as `ack 7+` (multiple: every outstanding tag up to 7), `ack 7`, `nack 7`. */
function recordingChannel() {
  const frames: string[] = [];
  let closed = false;
  const guard = () => {
    if (closed) throw new Error('Channel closed');
  };
  return {
    frames,
    close: () => (closed = true),
    channel: {
      ack: (m: ConsumeMessage, allUpTo?: boolean) => (guard(), frames.push(`ack ${m.fields.deliveryTag}${allUpTo ? '+' : ''}`)),
      nack: (m: ConsumeMessage, allUpTo?: boolean, requeue?: boolean) =>
        (guard(), frames.push(`nack ${m.fields.deliveryTag}${allUpTo ? '+' : ''}${requeue ? ' requeue' : ''}`)),
    },
  };
}

const message = (tag: number) => ({ fields: { deliveryTag: tag } }) as ConsumeMessage;

function deliver(acks: AckBatcher, count: number): ConsumeMessage[] {
  const messages = Array.from({ length: count }, (_, i) => message(i + 1));
  for (const m of messages) acks.delivered(m);
  return messages;
}

describe('acks in runs (AckBatcher)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('when a run of deliveries is acked, then after the gathering time one multiple ack goes out for the whole run', () => {
    const wire = recordingChannel();
    const acks = new AckBatcher(wire.channel);
    const [m1, m2, m3] = deliver(acks, 3);
    acks.ack(m2!);
    acks.ack(m1!);
    acks.ack(m3!);
    expect(wire.frames).toEqual([]); // gathered first, then sent together
    vi.advanceTimersToNextTimer();
    expect(wire.frames).toEqual(['ack 3+']);
  });

  it('when one delivery is acked on its own, then it goes out as a plain ack', () => {
    const wire = recordingChannel();
    const acks = new AckBatcher(wire.channel);
    const [m1] = deliver(acks, 2);
    acks.ack(m1!);
    vi.advanceTimersToNextTimer();
    expect(wire.frames).toEqual(['ack 1']);
  });

  it('when an earlier delivery is still being handled, then later acks wait for it and never cover it', () => {
    const wire = recordingChannel();
    const acks = new AckBatcher(wire.channel, { flushMs: 5, holdMs: 1_000 });
    const [m1, m2, m3] = deliver(acks, 3);
    acks.ack(m2!);
    acks.ack(m3!);
    vi.advanceTimersByTime(5);
    expect(wire.frames).toEqual([]);
    acks.ack(m1!);
    vi.advanceTimersByTime(5);
    expect(wire.frames).toEqual(['ack 3+']);
  });

  it('when the earlier delivery stays unsettled past the hold time, then the held acks go out one by one', () => {
    const wire = recordingChannel();
    const acks = new AckBatcher(wire.channel, { flushMs: 5, holdMs: 20 });
    const [, m2, m3] = deliver(acks, 3);
    acks.ack(m2!);
    acks.ack(m3!);
    vi.advanceTimersByTime(5 + 19); // gathered for 5 ms, then held behind delivery 1
    expect(wire.frames).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(wire.frames).toEqual(['ack 2', 'ack 3']);
  });

  it('when a delivery is nacked, then the nack goes out at once on its own and later runs skip it', () => {
    const wire = recordingChannel();
    const acks = new AckBatcher(wire.channel);
    const [m1, m2, m3] = deliver(acks, 3);
    acks.ack(m1!);
    acks.nack(m2!, true);
    acks.ack(m3!);
    expect(wire.frames).toEqual(['nack 2 requeue']);
    vi.advanceTimersToNextTimer();
    expect(wire.frames).toEqual(['nack 2 requeue', 'ack 3+']);
  });

  it('when the consumer stops, then drain sends every ack at once, held ones included', () => {
    const wire = recordingChannel();
    const acks = new AckBatcher(wire.channel, { holdMs: 60_000 });
    const [m1, m2, , m4] = deliver(acks, 4);
    acks.ack(m1!);
    acks.ack(m2!);
    acks.ack(m4!);
    acks.drain();
    expect(wire.frames).toEqual(['ack 2+', 'ack 4']);
  });

  it('when the channel has closed, then pending acks are dropped without throwing: the broker has put them back', () => {
    const wire = recordingChannel();
    const acks = new AckBatcher(wire.channel);
    const [m1, m2] = deliver(acks, 2);
    acks.ack(m1!);
    wire.close();
    expect(() => vi.advanceTimersToNextTimer()).not.toThrow();
    acks.ack(m2!);
    acks.drain();
    expect(wire.frames).toEqual([]);
  });
});
