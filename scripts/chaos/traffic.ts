import type { Knex } from 'knex';
import type { CompensationPorts } from '../lib/compensation-traffic.js';
import { INPUT_QUEUE, queueDepths } from '../lib/input-queue.js';
import { inventoryReserved } from '../lib/saga-client.js';
import { sleep, until } from '../lib/poll.js';
import type { ChaosClient } from './chaos-client.js';
import { CHAOS_ID_HEADER, type OrderMix } from './order-mix.js';

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

/** The chaos client as the compensation plan's ports: its orders' reservations and order events, tagged like the mix. */
export function compensationPorts(client: ChaosClient): CompensationPorts {
  return {
    async publishReservation(o) {
      const event = inventoryReserved({ orderId: o.orderId, amount: o.amount, currency: o.currency, paymentMethod: o.paymentMethod, customerId: 'cus_chaos' });
      const chaosId = `compensation:InventoryReserved:${o.orderId}`;
      await client.publish({ chaosId, headers: { [CHAOS_ID_HEADER]: chaosId }, body: Buffer.from(JSON.stringify(event)), messageId: event.id, type: 'InventoryReserved' });
    },
    publishOrderEvent: (event) => client.publishOrderEvent(event),
    received: client.received,
  };
}
