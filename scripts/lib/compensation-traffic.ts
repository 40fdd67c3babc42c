import { createPrng, type Random } from '../../src/gateway/simulator/prng.js';
import { orderCancelled, refundRequested, underNewId, type OrderEvent } from './compensation-messages.js';
import type { SeenEvent } from './compensation-invariants.js';
import type { CompensationPlan, PlannedOrder } from './compensation-plan.js';
import { sleep } from './poll.js';

/**
 * Plays a compensation plan against a running service: each order's
 * reservation and compensation messages in the order its plan says, each
 * compensation message also sent again with the same event id and once more
 * under a new id, waiting where the plan depends on an answer (a
 * cancellation confirmed before the reservation; refunds after the charge's
 * outcome). A wait that times out is recorded, never thrown: the invariants
 * then say precisely what is missing.
 */
export interface CompensationPorts {
  publishReservation(order: PlannedOrder): Promise<void>;
  publishOrderEvent(event: OrderEvent): Promise<void>;
  /** Everything received on payment.events so far; appended to as events arrive. */
  received: readonly SeenEvent[];
}

export interface DriveOptions {
  /** Orders start over this long. */
  spreadMs: number;
  /** How long one order waits for an answer it depends on. */
  answerTimeoutMs: number;
  /** A cancellation `during` follows its reservation after a random pause up to this long. */
  duringWithinMs: number;
}

export interface DriveResult {
  cancelConfirmedFirst: string[];
  /** "order X: what it waited for" for every wait that timed out. */
  timedOut: string[];
  messagesPublished: number;
}

export async function driveCompensation(plan: CompensationPlan, ports: CompensationPorts, o: DriveOptions): Promise<DriveResult> {
  const random = createPrng(plan.seed ^ 0xd21e);
  const watch = watchEvents(ports.received);
  const result: DriveResult = { cancelConfirmedFirst: [], timedOut: [], messagesPublished: 0 };
  const send = async (event: OrderEvent) => {
    await sendWithDuplicates(ports, event, random);
    result.messagesPublished += 3;
  };
  const awaitOrFlag = async (order: PlannedOrder, what: string, predicate: (events: SeenEvent[]) => boolean) => {
    const ok = await watch.until(order.orderId, predicate, o.answerTimeoutMs);
    if (!ok) result.timedOut.push(`order ${order.orderId}: ${what} not received within ${o.answerTimeoutMs} ms`);
    return ok;
  };
  const reserve = async (order: PlannedOrder) => {
    await ports.publishReservation(order);
    result.messagesPublished++;
  };
  const gap = o.spreadMs / Math.max(1, plan.orders.length);
  try {
    await Promise.all(
      plan.orders.map(async (order, i) => {
        await sleep(i * gap);
        // A cancellation "during" lands anywhere from before the charge is sent to after it settled.
        const midCharge = () => sleep(random() * o.duringWithinMs);
        await playOrder(order, { send, reserve, awaitOrFlag, midCharge, confirmed: (id) => result.cancelConfirmedFirst.push(id) });
      }),
    );
  } finally {
    watch.stop();
  }
  return result;
}

interface Steps {
  send(event: OrderEvent): Promise<void>;
  reserve(order: PlannedOrder): Promise<void>;
  awaitOrFlag(order: PlannedOrder, what: string, predicate: (events: SeenEvent[]) => boolean): Promise<boolean>;
  midCharge(): Promise<void>;
  confirmed(orderId: string): void;
}

async function playOrder(order: PlannedOrder, s: Steps): Promise<void> {
  const cancel = () => s.send(orderCancelled({ orderId: order.orderId, reason: `cancelled ${order.cancel}` }));
  if (order.cancel === 'before') {
    await cancel();
    if (await s.awaitOrFlag(order, 'PaymentCancelled (cancelled before its reservation)', (es) => es.some((e) => e.type === 'PaymentCancelled'))) s.confirmed(order.orderId);
    await s.reserve(order);
    return;
  }
  await s.reserve(order);
  if (order.cancel === 'during') {
    await s.midCharge();
    return cancel();
  }
  if (!order.refunds.length && order.cancel !== 'after') return;
  await s.awaitOrFlag(order, 'its terminal event (PaymentCompleted or PaymentFailed)', (es) => es.some((e) => e.type === 'PaymentCompleted' || e.type === 'PaymentFailed'));
  if (order.refunds.length) {
    // Sent together, so the service meets them concurrently (with the cancellation, when they race).
    const racing = order.cancelRacesRefunds ? [cancel()] : [];
    await Promise.all([...racing, ...order.refunds.map((r) => s.send(refundRequested({ orderId: order.orderId, refundId: r.refundId, amount: r.amount })))]);
    const wanted = new Set(order.refunds.map((r) => r.refundId));
    await s.awaitOrFlag(order, `answers to refunds ${[...wanted].join(', ')}`, (es) => {
      const answered = new Set(es.filter((e) => e.type === 'PaymentRefunded' || e.type === 'RefundFailed').map((e) => String(e.data.refundId)));
      return [...wanted].every((id) => answered.has(id));
    });
    if (order.cancelRacesRefunds) return;
  }
  if (order.cancel === 'after') await cancel();
}

/** The message, the same message again (a redelivery), and the same data under a new event id, at random short intervals. */
async function sendWithDuplicates(ports: CompensationPorts, event: OrderEvent, random: Random): Promise<void> {
  const [again, twin] = [random() * 300, random() * 1000];
  await ports.publishOrderEvent(event);
  await Promise.all([sleep(again).then(() => ports.publishOrderEvent(event)), sleep(twin).then(() => ports.publishOrderEvent(underNewId(event)))]);
}

interface EventWatch {
  until(orderId: string, predicate: (events: SeenEvent[]) => boolean, timeoutMs: number): Promise<boolean>;
  stop(): void;
}

/**
 * Waits on the received events per order. The clients append to an array
 * (the chaos client from a reconnecting channel, without callbacks), so one
 * timer indexes new arrivals by order and wakes the waiters they concern.
 */
export function watchEvents(received: readonly SeenEvent[], everyMs = 50): EventWatch {
  const byOrder = new Map<string, SeenEvent[]>();
  const waiters = new Map<string, Set<() => void>>();
  let indexed = 0;
  const index = () => {
    const touched = new Set<string>();
    for (; indexed < received.length; indexed++) {
      const e = received[indexed]!;
      const id = String(e.data?.orderId);
      byOrder.set(id, [...(byOrder.get(id) ?? []), e]);
      touched.add(id);
    }
    for (const id of touched) for (const wake of [...(waiters.get(id) ?? [])]) wake();
  };
  // Unref'd: a run that ends early must not be kept alive by its watch.
  const timer = setInterval(index, everyMs).unref();
  return {
    until(orderId, predicate, timeoutMs) {
      index();
      if (predicate(byOrder.get(orderId) ?? [])) return Promise.resolve(true);
      return new Promise((resolve) => {
        const set = waiters.get(orderId) ?? new Set();
        waiters.set(orderId, set);
        const done = (ok: boolean) => {
          clearTimeout(deadline);
          set.delete(check);
          resolve(ok);
        };
        const check = () => predicate(byOrder.get(orderId) ?? []) && done(true);
        const deadline = setTimeout(() => done(false), timeoutMs);
        set.add(check);
      });
    },
    stop: () => clearInterval(timer),
  };
}

/** Every answer the plan is owed, listed as what is still missing; empty once all are in. */
export function missingAnswers(plan: CompensationPlan, received: readonly SeenEvent[]): string[] {
  const byOrder = new Map<string, SeenEvent[]>();
  for (const e of received) byOrder.set(String(e.data?.orderId), [...(byOrder.get(String(e.data?.orderId)) ?? []), e]);
  const missing: string[] = [];
  for (const o of plan.orders) {
    const es = byOrder.get(o.orderId) ?? [];
    if (!es.some((e) => e.type === 'PaymentCompleted' || e.type === 'PaymentFailed')) missing.push(`order ${o.orderId}: terminal event`);
    const refundIds = new Set(o.refunds.map((r) => r.refundId));
    if (o.cancel && !es.some((e) => e.type === 'PaymentCancelled' || (e.type === 'PaymentRefunded' && !refundIds.has(String(e.data.refundId))))) {
      missing.push(`order ${o.orderId}: answer to OrderCancelled (${o.cancel})`);
    }
    for (const r of o.refunds) {
      if (!es.some((e) => (e.type === 'PaymentRefunded' || e.type === 'RefundFailed') && e.data.refundId === r.refundId)) missing.push(`order ${o.orderId}: answer to refund ${r.refundId}`);
    }
  }
  return missing;
}
