import { randomInt } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../observability/logger.js';
import { AckBatcher } from './ack-batcher.js';
import type { AmqpConnection } from './amqp-connection.js';
import type { MessageHandler, Settlement } from './consumer-outcomes.js';
import { INPUT_QUEUE, declareInputTopology } from './topology.js';

/** A running consumer of one input queue. */
export interface InputConsumer {
  /** Stops taking deliveries, waits for those in flight to be acked or nacked, closes the channel. */
  stop(): Promise<void>;
}

export type InventoryConsumer = InputConsumer;

export interface InputConsumerOptions {
  connection: AmqpConnection;
  /** Deliveries in flight at once on this process (the channel's prefetch). */
  prefetch: number;
  handler: MessageHandler;
  logger: Logger;
  /** How long to hold a failed delivery before nacking it, by its earlier deliveries. */
  retryDelayMs?: (deliveryCount: number) => number;
  /** This consumer's RabbitMQ consumer priority (`x-priority`); by default a random one (see below). */
  priority?: number;
  /** How long, after failing to handle a delivery, this process consumes below every healthy one. */
  demoteMs?: number;
  /** Told the priority each time this process starts consuming (-1: demoted). */
  onPriority?: (priority: number) => void;
}

/** Any input queue of CONTRACT.md §3, consumed the same way. */
export interface QueueConsumerOptions extends InputConsumerOptions {
  queue: string;
  /** Names the channel and the log lines: "inventory" gives "inventory-consumer". */
  name: string;
}

/** Default consumer priorities are drawn from [0, this): two processes tie once in a thousand (then: round-robin). */
const PRIORITY_RANGE = 1000;
/** Below every default priority: a process that cannot handle deliveries takes only what the others leave. */
const DEMOTED_PRIORITY = -1;
const DEFAULT_DEMOTE_MS = 30_000;

/**
 * A nack puts the message straight back in the queue; without a pause an
 * outage of a few seconds would burn every delivery the queue allows in
 * milliseconds. Doubling from 100 ms up to 15 s, the input queue's 20
 * deliveries span about three and a half minutes.
 */
export function defaultRetryDelayMs(deliveryCount: number): number {
  return Math.min(100 * 2 ** deliveryCount, 15_000);
}

/**
 * Consumes the input queue. The consume runs in the channel's setup, so after
 * a reconnect the consumer is back by itself. Each delivery is acked or nacked
 * on the channel it came from: after a reconnect its tag means nothing on the
 * new channel (the broker has already put it back in the queue). Acks go out
 * in runs (AckBatcher): one frame for a tick's settled deliveries.
 *
 * Each process consumes with its own consumer priority. RabbitMQ hands every
 * delivery to the highest-priority consumer that has prefetch room, so below
 * what one process's prefetch absorbs, one process takes all the input: its
 * inserts and enqueues share statements and round trips, and the other
 * processes are not woken for deliveries at all (BullMQ still spreads the
 * charges over every worker). Past that, the overflow goes to the next
 * consumer, and when a process goes away the next one takes over. A process
 * that fails to handle a delivery (a nack: its database or Redis did not
 * answer) consumes below every healthy process for `demoteMs`, so it does not
 * keep taking, and failing, what the others could handle; its redelivered
 * message goes to them. When every process fails (a shared outage) they are
 * all demoted alike, and deliveries go round-robin as without priorities.
 * Nothing is lost either way: this only chooses who is handed a delivery.
 */
export function startInventoryConsumer(o: InputConsumerOptions): InventoryConsumer {
  return startQueueConsumer({ ...o, queue: INPUT_QUEUE, name: 'inventory' });
}

/** startInventoryConsumer's consumer, for any input queue declared by declareInputTopology. */
export function startQueueConsumer(o: QueueConsumerOptions): InputConsumer {
  const ownPriority = o.priority ?? randomInt(PRIORITY_RANGE);
  const demoteMs = o.demoteMs ?? DEFAULT_DEMOTE_MS;
  const log = o.logger.child({ component: `${o.name}-consumer` });
  const retryDelayMs = o.retryDelayMs ?? defaultRetryDelayMs;
  const inFlight = new Set<Promise<void>>();
  const stopped = new AbortController();
  let current: { channel: Channel; consumerTag: string; acks: AckBatcher; priority: number } | undefined;
  let demoted = false;
  let demotion: NodeJS.Timeout | undefined;
  const priorityNow = () => (demoted ? DEMOTED_PRIORITY : ownPriority);

  async function settle(acks: AckBatcher, message: ConsumeMessage): Promise<void> {
    let decision: Settlement;
    try {
      decision = await o.handler(message);
    } catch (err) {
      log.error({ err: { message: (err as Error)?.message } }, `${o.name} handler threw: the message will be delivered again`);
      decision = 'nack';
    }
    if (decision === 'nack') {
      demote();
      await sleep(retryDelayMs(deliveryCount(message)), stopped.signal);
      await swapping; // demoted before the nack, so the broker hands the message to a healthy process
    }
    // A closed channel is absorbed there: the broker has already put the message back.
    if (decision === 'ack') acks.ack(message);
    else acks.nack(message, true);
  }

  /** One batcher per channel, kept across a re-subscribe: a multiple ack must see every outstanding tag. */
  const batchers = new WeakMap<Channel, AckBatcher>();
  function acksOn(channel: Channel): AckBatcher {
    let acks = batchers.get(channel);
    if (!acks) {
      const created = new AckBatcher(channel);
      channel.once('close', () => created.close());
      batchers.set(channel, created);
      acks = created;
    }
    return acks;
  }

  async function consumeOn(channel: Channel): Promise<void> {
    const acks = acksOn(channel);
    const priority = priorityNow();
    const { consumerTag } = await channel.consume(o.queue, (message) => {
      if (message === null) return resubscribe(channel);
      acks.delivered(message);
      const work = settle(acks, message).finally(() => inFlight.delete(work));
      inFlight.add(work);
    }, { priority });
    current = { channel, consumerTag, acks, priority };
    o.onPriority?.(priority);
    log.info({ queue: o.queue, prefetch: o.prefetch, consumerPriority: priority }, 'consuming the input queue');
  }

  /** Demoted until `demoteMs` after the last failure. */
  function demote(): void {
    const already = demoted;
    demoted = true;
    clearTimeout(demotion);
    demotion = setTimeout(() => {
      demoted = false;
      reprioritize();
    }, demoteMs);
    demotion.unref();
    if (already) return;
    log.warn({ forMs: demoteMs }, 'could not handle a delivery: consuming below the other processes for a while');
    reprioritize();
  }

  /** Consumes again at the priority due now: the new consumer first, then the old one cancelled. One swap at a time. */
  let swapping = Promise.resolve();
  function reprioritize(): void {
    swapping = swapping.then(async () => {
      const old = current;
      if (!old || stopped.signal.aborted || old.priority === priorityNow()) return;
      try {
        await consumeOn(old.channel);
        await old.channel.cancel(old.consumerTag);
      } catch (err) {
        // The channel closed: its setup consumes again, at the priority due then.
        log.warn({ reason: (err as Error).message }, 'could not change the consumer priority; the reconnect will');
      }
    });
  }

  /** The broker cancelled the consumer (the queue was deleted): declare it again and consume. */
  function resubscribe(channel: Channel): void {
    if (stopped.signal.aborted) return;
    log.warn('the broker cancelled the consumer: declaring the topology again');
    declareInputTopology(channel)
      .then(() => consumeOn(channel))
      .catch((err: Error) => log.error({ reason: err.message }, 'could not consume again; waiting for a reconnect'));
  }

  const wrapper = o.connection.createChannel({
    name: `${o.name}-consumer`,
    confirm: false,
    setup: async (channel) => {
      if (stopped.signal.aborted) return;
      // The input's topology (CONTRACT.md §3) before it consumes; the dead-letter queue is declared at start.
      await declareInputTopology(channel);
      await channel.prefetch(o.prefetch);
      await consumeOn(channel);
    },
  });

  return {
    async stop() {
      stopped.abort();
      clearTimeout(demotion);
      await swapping;
      const consumer = current;
      if (consumer) await consumer.channel.cancel(consumer.consumerTag).catch(() => undefined);
      await Promise.allSettled([...inFlight]);
      current?.acks.drain();
      await wrapper.close();
    },
  };
}

function deliveryCount(message: ConsumeMessage): number {
  const count = Number(message.properties.headers?.['x-delivery-count'] ?? 0);
  return Number.isFinite(count) ? count : 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
