import amqp from 'amqplib';
import type { Knex } from 'knex';
import type { ChaosClient } from './chaos-client.js';
import type { OrderMix } from './order-mix.js';

/**
 * The run's traffic and its end: publishing the mix at a steady pace, and
 * deciding when the system has settled.
 */
export interface Progress {
  published: number;
  total: number;
}

/**
 * Publishes the stream evenly over `spreadMs` (catching up after a stall),
 * then the conflicts, each once its first payment has a row: a conflict that
 * overtook its original would itself become the original.
 */
export async function publishMix(client: ChaosClient, mix: OrderMix, spreadMs: number, knex: Knex, progress: Progress): Promise<void> {
  const started = Date.now();
  const gap = spreadMs / Math.max(1, mix.stream.length);
  for (const [i, message] of mix.stream.entries()) {
    const due = started + i * gap - Date.now();
    if (due > 0) await sleep(due);
    await client.publish(message);
    progress.published++;
  }
  const originals = mix.conflicts.map((c) => c.orderId!);
  await until(async () => (await rowsFor(knex, originals)) === originals.length, 120_000);
  for (const conflict of mix.conflicts) {
    await client.publish(conflict);
    progress.published++;
  }
}

async function rowsFor(knex: Knex, orderIds: string[]): Promise<number> {
  const row = (await knex('payments').whereIn('order_id', orderIds).count('* as n').first()) as { n: string };
  return Number(row.n);
}

export interface SettleState {
  unfinished: number;
  rows: number;
  outboxPending: number;
  ordersAnswered: number;
  inputReady: number;
  deadLettered: number;
}

/** Everything that must hold before the checks: orders terminal, events out and received, poison parked. */
export function isSettled(s: SettleState, mix: OrderMix): boolean {
  return (
    s.unfinished === 0 &&
    s.rows >= mix.orders.length &&
    s.outboxPending === 0 &&
    s.ordersAnswered >= mix.orders.length &&
    s.inputReady === 0 &&
    s.deadLettered >= mix.poison.length
  );
}

export async function settleState(knex: Knex, amqpUrl: string, client: ChaosClient, mix: OrderMix): Promise<SettleState> {
  const count = async (q: Knex.QueryBuilder) => Number(((await q.count('* as n').first()) as { n: string }).n);
  const [unfinished, rows, outboxPending] = await Promise.all([
    count(knex('payments').whereIn('status', ['Initiated', 'Processing'])),
    count(knex('payments')),
    count(knex('outbox').whereNull('published_at')),
  ]);
  const wanted = new Set(mix.orders.map((o) => o.orderId));
  const answered = new Set(client.received.map((e) => e.data?.orderId).filter((id) => wanted.has(id)));
  const [inputReady, deadLettered] = await queueDepths(amqpUrl, [INPUT_QUEUE, 'payment-service.dead-letter']);
  return { unfinished, rows, outboxPending, ordersAnswered: answered.size, inputReady: inputReady!, deadLettered: deadLettered! };
}

async function queueDepths(amqpUrl: string, queues: string[]): Promise<number[]> {
  return (await checkQueues(amqpUrl, queues)).map((q) => q.messageCount);
}

/**
 * Resolves once the input queue has `count` consumers: traffic starts when
 * the service consumes, not merely when its processes say they are ready.
 */
export async function waitForConsumers(amqpUrl: string, count: number, timeoutMs = 60_000): Promise<void> {
  const ok = await until(async () => (await inputConsumerCount(amqpUrl)) >= count, timeoutMs);
  if (!ok) throw new Error(`${INPUT_QUEUE} did not get ${count} consumer(s) within ${timeoutMs} ms`);
}

/** Consumers on the input queue now; rejects while the queue is not declared. */
export async function inputConsumerCount(amqpUrl: string): Promise<number> {
  return (await checkQueues(amqpUrl, [INPUT_QUEUE]))[0]!.consumerCount;
}

async function checkQueues(amqpUrl: string, queues: string[]): Promise<Array<{ messageCount: number; consumerCount: number }>> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  connection.on('error', () => undefined);
  try {
    const found: Array<{ messageCount: number; consumerCount: number }> = [];
    for (const queue of queues) {
      // checkQueue on a missing queue closes the channel: one channel per look.
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      found.push(await channel.checkQueue(queue));
      await channel.close();
    }
    return found;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

const INPUT_QUEUE = 'payment-service.inventory-reserved';

/** Polls `probe` (errors count as "not yet": the run terminates sessions) until true or the deadline. */
export async function until(probe: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return true;
    } catch {
      // A terminated session or a closed connection: ask again.
    }
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
