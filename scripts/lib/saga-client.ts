import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { amqpUrlsOf } from '../../src/queues/amqp-urls.js';

/**
 * The other side of the saga, for tests, the demo and the benchmark: publishes
 * InventoryReserved events and collects what the payment service publishes.
 */
export interface ReceivedEvent {
  id: string;
  type: string;
  routingKey: string;
  messageId: string | undefined;
  contentType: string | undefined;
  data: Record<string, unknown> & { orderId: string };
  body: Record<string, unknown>;
  receivedAt: number;
}

export interface InventoryReserved {
  orderId: string;
  amount: string;
  currency: string;
  customerId?: string;
  paymentMethod?: string;
}

export function inventoryReserved(data: InventoryReserved, id: string = randomUUID()) {
  return {
    specversion: '1.0',
    id,
    source: 'inventory-service',
    type: 'InventoryReserved',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { customerId: 'cus_123', paymentMethod: 'pm_card_visa', ...data },
  };
}

/** OrderCancelled (CONTRACT.md §8), from the order service. */
export function orderCancelled(data: { orderId: string; reason: string }, id: string = randomUUID()) {
  return {
    specversion: '1.0',
    id,
    source: 'order-service',
    type: 'OrderCancelled' as const,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}

/** RefundRequested (CONTRACT.md §8): `refundId` is the caller's idempotency key, `amount` a decimal string with the currency's digits. */
export function refundRequested(data: { orderId: string; refundId?: string; amount: string; reason: string }, id: string = randomUUID()) {
  return {
    specversion: '1.0',
    id,
    source: 'order-service',
    type: 'RefundRequested' as const,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { ...data, refundId: data.refundId ?? randomUUID() },
  };
}

export type OrderEvent = ReturnType<typeof orderCancelled> | ReturnType<typeof refundRequested>;

const ORDER_ROUTING_KEYS: Record<OrderEvent['type'], string> = {
  OrderCancelled: 'order.cancelled',
  RefundRequested: 'order.refund_requested',
};

/** The first of AMQP_URL's nodes that accepts a connection (one URL, or a cluster's nodes comma-separated). */
async function connectToAnyNode(amqpUrl: string): Promise<amqp.ChannelModel> {
  let lastError: unknown = new Error('AMQP_URL names no broker');
  for (const url of amqpUrlsOf(amqpUrl)) {
    try {
      return await amqp.connect(url, { noDelay: true });
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

export async function connectSagaClient(amqpUrl: string, opts: { listenQueue?: string; temporary?: boolean } = {}) {
  const connection = await connectToAnyNode(amqpUrl);
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange('inventory.events', 'topic', { durable: true });
  await channel.assertExchange('payment.events', 'topic', { durable: true });
  // Declared as the worker declares it: publishing to a missing exchange would close the channel.
  await channel.assertExchange('order.events', 'topic', { durable: true });
  const listenQueue = opts.listenQueue ?? `saga-test-${randomUUID()}`;
  // A temporary queue disappears with this connection: the demo leaves nothing behind.
  await channel.assertQueue(listenQueue, opts.temporary ? { exclusive: true, autoDelete: true, durable: false } : { durable: true });
  await channel.bindQueue(listenQueue, 'payment.events', 'payment.*');

  const received: ReceivedEvent[] = [];
  const waiters: Array<{ check: () => boolean; resolve: () => void }> = [];
  await channel.consume(listenQueue, (msg) => {
    if (!msg) return;
    const body = JSON.parse(msg.content.toString('utf8'));
    received.push({
      id: body.id,
      type: body.type,
      routingKey: msg.fields.routingKey,
      messageId: msg.properties.messageId,
      contentType: msg.properties.contentType,
      data: body.data,
      body,
      receivedAt: Date.now(),
    });
    channel.ack(msg);
    for (const w of [...waiters]) if (w.check()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });

  return {
    channel,
    listenQueue,
    received,
    /** Publishes a raw body (Buffer or object) to inventory.events, with broker confirm. */
    async publishRaw(body: Buffer | object, props: amqp.Options.Publish = {}) {
      const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const id = !Buffer.isBuffer(body) && 'id' in body ? String((body as { id: unknown }).id) : undefined;
      channel.publish('inventory.events', 'inventory.reserved', content, {
        persistent: true,
        contentType: 'application/cloudevents+json',
        ...(id ? { messageId: id, type: 'InventoryReserved' } : {}),
        ...props,
      });
      await channel.waitForConfirms();
    },
    async publish(event: ReturnType<typeof inventoryReserved>) {
      await this.publishRaw(event);
    },
    /** Publishes an OrderCancelled or RefundRequested to order.events under its routing key, with broker confirm. */
    async publishOrderEvent(event: OrderEvent) {
      channel.publish('order.events', ORDER_ROUTING_KEYS[event.type], Buffer.from(JSON.stringify(event)), {
        persistent: true,
        contentType: 'application/cloudevents+json',
        messageId: event.id,
        type: event.type,
      });
      await channel.waitForConfirms();
    },
    /** Distinct terminal events per order id. */
    byOrder(): Map<string, ReceivedEvent[]> {
      const map = new Map<string, ReceivedEvent[]>();
      for (const e of received) map.set(e.data.orderId, [...(map.get(e.data.orderId) ?? []), e]);
      return map;
    },
    /** Resolves once `predicate` holds over what was received, or rejects after `timeoutMs`. */
    waitFor(what: string, predicate: (events: ReceivedEvent[]) => boolean, timeoutMs = 60_000): Promise<void> {
      if (predicate(received)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`timed out waiting for ${what}: ${received.length} events received`));
        }, timeoutMs);
        waiters.push({ check: () => predicate(received), resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
    async deadLetters(): Promise<Array<{ content: Buffer; headers: Record<string, unknown> }>> {
      const out: Array<{ content: Buffer; headers: Record<string, unknown> }> = [];
      for (;;) {
        const msg = await channel.get('payment-service.dead-letter', { noAck: false });
        if (!msg) break;
        out.push({ content: msg.content, headers: msg.properties.headers ?? {} });
        channel.ack(msg);
      }
      return out;
    },
    async close() {
      await channel.close().catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}

export type SagaClient = Awaited<ReturnType<typeof connectSagaClient>>;
