import type { Logger } from '../../src/observability/logger.js';
import type { AmqpConnection } from '../../src/queues/amqp-connection.js';
import { createConfirmedPublisher } from '../../src/queues/confirmed-publisher.js';
import { startInventoryConsumer, type InventoryConsumer } from '../../src/queues/inventory-consumer.runner.js';
import { INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY } from '../../src/queues/topology.js';

/**
 * The two sides of the input queue during a node loss, built from the
 * service's own parts: the confirmed publisher the outbox relay uses (here
 * playing the inventory service, which declares only its exchange), and the
 * worker's input consumer (it declares the whole topology on every reconnect).
 */
export interface Publishing {
  /** Publish calls, re-publishes included. */
  sent: number;
  /** Publishes that failed or were not confirmed in time, and so were sent again (same message id). */
  republished: number;
  /** Message id -> when the broker confirmed it (epoch ms). */
  confirmed: Map<string, number>;
  /** Resolves once every id is confirmed. */
  done: Promise<void>;
  /** Gives up on what is not confirmed yet. */
  stop(): void;
}

export interface PublishOptions {
  ratePerS: number;
  /** At most this many publishes wait for their confirm at once. */
  window: number;
  /** A publish not confirmed by then counts as failed and is sent again, as the relay does. */
  timeoutMs: number;
}

const TICK_MS = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishes every id, as the outbox relay would: only a confirm settles one; anything else sends it again later. */
export function publishAll(connection: AmqpConnection, name: string, ids: string[], o: PublishOptions): Publishing {
  const publisher = createConfirmedPublisher(connection, {
    name,
    declare: async (channel) => void (await channel.assertExchange(INVENTORY_EXCHANGE, 'topic', { durable: true })),
    timeoutMs: o.timeoutMs,
    returnKey: (m) => (typeof m.properties.messageId === 'string' ? m.properties.messageId : undefined),
  });
  let stopped = false;
  const run: Publishing = { sent: 0, republished: 0, confirmed: new Map(), done: Promise.resolve(), stop: () => void (stopped = true) };
  const todo = [...ids];
  const inFlight = new Set<Promise<void>>();
  const again = (id: string) => {
    run.republished++;
    todo.push(id);
  };
  const publishOne = (id: string) => {
    run.sent++;
    const content = Buffer.from(JSON.stringify({ id, type: 'InventoryReserved' }));
    const work = publisher
      .publish({ exchange: INVENTORY_EXCHANGE, routingKey: INVENTORY_RESERVED_KEY, content, options: { persistent: true, messageId: id }, key: id })
      .then(
        (outcome) => (outcome === 'confirmed' ? void run.confirmed.set(id, Date.now()) : again(id)),
        () => again(id),
      )
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  };
  const perTick = Math.max(1, Math.round((o.ratePerS * TICK_MS) / 1000));
  run.done = (async () => {
    while (run.confirmed.size < ids.length && !stopped) {
      let sentThisTick = 0;
      while (todo.length && inFlight.size < o.window && sentThisTick < perTick) {
        publishOne(todo.shift()!);
        sentThisTick++;
      }
      if (!todo.length || inFlight.size >= o.window) await Promise.race([...inFlight, sleep(TICK_MS)]);
      else await sleep(TICK_MS);
    }
    await publisher.close();
  })();
  return run;
}

export interface Consuming {
  /** Deliveries handled, redeliveries included. */
  deliveries: number;
  /** Message id -> how many times a consumer handled it (more than 1: a duplicate the service dedupes). */
  handled: Map<string, number>;
  /** When each delivery was handled (epoch ms), in order. */
  times: number[];
  /** Deliveries whose x-delivery-count header says the queue had handed them out before (it counts toward the delivery limit). */
  counted: number;
  stop(): Promise<void>;
}

/**
 * One input consumer per connection, as one worker process each, each with
 * its consumer priority: the first takes every delivery while it has room.
 * Each delivery is "handled" for `handleMs`, then acked.
 */
export function consumeAll(workers: Array<{ connection: AmqpConnection; priority: number }>, handleMs: number, logger: Logger): Consuming {
  const run: Consuming = { deliveries: 0, handled: new Map(), times: [], counted: 0, stop: async () => undefined };
  const consumers: InventoryConsumer[] = workers.map(({ connection, priority }) =>
    startInventoryConsumer({
      connection,
      priority,
      prefetch: 50,
      logger,
      handler: async (message) => {
        const id = String(message.properties.messageId);
        run.deliveries++;
        run.times.push(Date.now());
        run.handled.set(id, (run.handled.get(id) ?? 0) + 1);
        if (Number(message.properties.headers?.['x-delivery-count'] ?? 0) > 0) run.counted++;
        await sleep(handleMs);
        return 'ack';
      },
    }),
  );
  run.stop = async () => void (await Promise.all(consumers.map((c) => c.stop())));
  return run;
}
