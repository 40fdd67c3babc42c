import amqp from 'amqplib';
import type { Channel, ConsumeMessage, Options } from 'amqplib';
import { AmqpConnectionManagerClass } from 'amqp-connection-manager';
import { ORDER_EVENTS_EXCHANGE, orderEventMessage, type OrderEvent } from '../lib/compensation-messages.js';
import type { ReceivedEvent } from '../lib/saga-client.js';
import { CHAOS_ID_HEADER, type OutgoingMessage } from './order-mix.js';

/**
 * The saga's other side for a chaos run. Unlike the tests' saga client it
 * survives the broker closing its connection (the run closes every
 * connection of its vhost): it reconnects, consumes its durable queue again,
 * and re-sends publishes that were not confirmed (at least once, as a real
 * inventory service would; the payment service absorbs the copies).
 */
export interface ChaosClient {
  publish(message: OutgoingMessage): Promise<void>;
  /** An OrderCancelled or RefundRequested to `order.events`, re-sent the same way when unconfirmed. */
  publishOrderEvent(event: OrderEvent): Promise<void>;
  /** Every payment event delivered, copies included. */
  received: ReceivedEvent[];
  /** Times the connection was lost. */
  disconnects(): number;
  /** Drains the dead-letter queue. */
  deadLetters(): Promise<DeadLetterCopy[]>;
  close(): Promise<void>;
}

export interface DeadLetterCopy {
  content: Buffer;
  headers: Record<string, unknown>;
}

const LISTEN_QUEUE = 'chaos.payment-events';
const DEAD_LETTER_QUEUE = 'payment-service.dead-letter';

export async function connectChaosClient(amqpUrl: string, log: (line: string) => void = () => undefined): Promise<ChaosClient> {
  const manager = new AmqpConnectionManagerClass(amqpUrl, {
    heartbeatIntervalInSeconds: 5,
    reconnectTimeInSeconds: 0.5,
    connectionOptions: { noDelay: true },
  });
  let lost = 0;
  manager.on('disconnect', ({ err }) => {
    lost++;
    log(`saga client lost its broker connection (${err?.message ?? 'closed'}); reconnecting`);
  });
  manager.on('connectFailed', () => undefined);
  await manager.connect({ timeout: 30_000 });

  const received: ReceivedEvent[] = [];
  const publisher = manager.createChannel({
    confirm: true,
    setup: async (ch: Channel) => {
      await ch.assertExchange('inventory.events', 'topic', { durable: true });
      await ch.assertExchange(ORDER_EVENTS_EXCHANGE, 'topic', { durable: true });
    },
  });
  const listener = manager.createChannel({
    setup: async (ch: Channel) => {
      await ch.assertExchange('payment.events', 'topic', { durable: true });
      await ch.assertQueue(LISTEN_QUEUE, { durable: true });
      await ch.bindQueue(LISTEN_QUEUE, 'payment.events', 'payment.*');
      await ch.prefetch(500);
      await ch.consume(LISTEN_QUEUE, (msg) => {
        if (!msg) return;
        received.push(toEvent(msg));
        ch.ack(msg);
      });
    },
  });
  // A setup that fails while the broker is closing connections is retried on the next connect.
  publisher.on('error', () => undefined);
  listener.on('error', () => undefined);
  await Promise.all([publisher.waitForConnect(), listener.waitForConnect()]);

  /**
   * A channel closed with the message unconfirmed rejects it: send it again, as any
   * at-least-once publisher would (the payment service absorbs the copy).
   */
  async function confirmed(exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await publisher.publish(exchange, routingKey, body, options);
        return;
      } catch (err) {
        if (attempt >= 120) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  return {
    received,
    disconnects: () => lost,
    async publish(m) {
      const options = {
        persistent: true,
        contentType: 'application/cloudevents+json',
        headers: m.headers,
        ...(m.messageId ? { messageId: m.messageId } : {}),
        ...(m.type ? { type: m.type } : {}),
      };
      await confirmed('inventory.events', 'inventory.reserved', m.body, options);
    },
    async publishOrderEvent(event) {
      const m = orderEventMessage(event);
      // Tagged like every chaos message, so a dead-lettered copy says which it was.
      const headers = { [CHAOS_ID_HEADER]: `compensation:${event.type}:${event.data.orderId}` };
      await confirmed(m.exchange, m.routingKey, m.body, { ...m.options, headers });
    },
    deadLetters: () => drain(amqpUrl, DEAD_LETTER_QUEUE),
    async close() {
      await Promise.allSettled([publisher.close(), listener.close()]);
      await manager.close().catch(() => undefined);
    },
  };
}

function toEvent(msg: ConsumeMessage): ReceivedEvent {
  const body = JSON.parse(msg.content.toString('utf8')) as Record<string, unknown> & { id: string; type: string; data: ReceivedEvent['data'] };
  return {
    id: body.id,
    type: body.type,
    routingKey: msg.fields.routingKey,
    messageId: msg.properties.messageId,
    contentType: msg.properties.contentType,
    data: body.data,
    body,
    receivedAt: Date.now(),
  };
}

/** Reads a queue empty on a plain connection (no faults are injected by then). */
async function drain(amqpUrl: string, queue: string): Promise<DeadLetterCopy[]> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  connection.on('error', () => undefined);
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  const out: DeadLetterCopy[] = [];
  try {
    for (;;) {
      const msg = await channel.get(queue, { noAck: false });
      if (!msg) break;
      out.push({ content: msg.content, headers: (msg.properties.headers ?? {}) as Record<string, unknown> });
      channel.ack(msg);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
  return out;
}
