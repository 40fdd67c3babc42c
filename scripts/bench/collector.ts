import amqp from 'amqplib';

/** When it was published, when its terminal event arrived: one order of one phase. */
export interface Phase {
  name: string;
  sentAt: Map<string, number>;
  receivedAt: Map<string, number>;
  /** First terminal event id per order: a second, different id breaks "one distinct terminal event". */
  eventId: Map<string, string>;
  types: Record<string, number>;
  /** Terminal events with a new id for an order that already had one (must stay 0). */
  distinctDuplicates: number;
  /** The same event delivered again (allowed: at-least-once). */
  redeliveries: number;
  expected: number;
}

/** Milliseconds on the wall clock with sub-ms precision: comparable with PostgreSQL's now(). */
export const wallMs = () => performance.timeOrigin + performance.now();

/**
 * The other side of the saga: a queue bound to payment.events. Each terminal
 * event is matched to its order by the CloudEvent's data.orderId.
 */
export interface Collector {
  phase(name: string, expected: number): Phase;
  /** Resolves once every order of the phase has its terminal event; rejects when nothing arrives for `stallMs`. */
  done(phase: Phase, stallMs?: number, onProgress?: (received: number) => void): Promise<void>;
  close(): Promise<void>;
}

export async function startCollector(amqpUrl: string, queue: string): Promise<Collector> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  const channel = await connection.createChannel();
  await channel.assertExchange('payment.events', 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(queue, 'payment.events', 'payment.*');
  await channel.prefetch(2000);
  const active = new Set<Phase>();
  let pendingAcks = 0;
  let last: amqp.ConsumeMessage | undefined;

  await channel.consume(queue, (msg) => {
    if (!msg) return;
    const at = wallMs();
    record(msg, at);
    // Acking every 200 (multiple) keeps the collector's own cost low.
    last = msg;
    if (++pendingAcks >= 200) flushAcks();
  });
  const ackTimer = setInterval(flushAcks, 50);

  function flushAcks() {
    if (last && pendingAcks > 0) channel.ack(last, true);
    pendingAcks = 0;
    last = undefined;
  }

  function record(msg: amqp.ConsumeMessage, at: number) {
    let body: { id?: string; type?: string; data?: { orderId?: string } };
    try {
      body = JSON.parse(msg.content.toString('utf8'));
    } catch {
      return;
    }
    const orderId = body.data?.orderId;
    if (!orderId) return;
    for (const p of active) {
      if (!p.sentAt.has(orderId)) continue;
      const first = p.eventId.get(orderId);
      if (first === undefined) {
        p.eventId.set(orderId, String(body.id));
        p.receivedAt.set(orderId, at);
        p.types[String(body.type)] = (p.types[String(body.type)] ?? 0) + 1;
      } else if (first === body.id) p.redeliveries++;
      else p.distinctDuplicates++;
    }
  }

  return {
    phase(name, expected) {
      const p: Phase = { name, sentAt: new Map(), receivedAt: new Map(), eventId: new Map(), types: {}, distinctDuplicates: 0, redeliveries: 0, expected };
      active.add(p);
      return p;
    },
    async done(p, stallMs = 90_000, onProgress) {
      let seen = -1;
      let lastProgress = Date.now();
      for (;;) {
        const n = p.receivedAt.size;
        if (n !== seen) {
          seen = n;
          lastProgress = Date.now();
          onProgress?.(n);
        }
        if (n >= p.expected) break;
        if (Date.now() - lastProgress > stallMs) {
          throw new Error(`${p.name}: no terminal event for ${stallMs / 1000} s; ${n} of ${p.expected} received`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      // Keep it a little longer: late duplicates of this phase still count against it.
      setTimeout(() => active.delete(p), 2000).unref();
    },
    async close() {
      clearInterval(ackTimer);
      await channel.close().catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}
