import type { Refund as MachineRefund } from '../../../src/machines/payment.machine.js';
import {
  refundIdempotencyKey,
  type CompensationsRepository,
  type NewCancellation,
  type NewRefund,
  type OrderCancellation,
  type Refund,
} from '../../../src/persistence/compensations.repository.js';
import type { OutboxEvent } from '../../../src/persistence/payments.repository.js';
import type { InMemoryOutbox } from './in-memory-outbox.repository.js';

/** The part of the compensations repository the compensation worker (and the consumer, to seed it) uses, checked against the real type. */
export type CompensationsPort = Pick<
  CompensationsRepository,
  | 'recordCancellation'
  | 'insertRefund'
  | 'findCancellation'
  | 'findRefund'
  | 'markCancellationAnswered'
  | 'answerCancellationWithoutPayment'
  | 'refuseRefund'
  | 'syncRefunds'
>;

/**
 * The order_cancellations and refunds tables in memory, with the conditions
 * the SQL puts on its writes: inserts never overwrite; a cancellation is
 * answered without a payment only while the order has none and it is still
 * unanswered; a refund is refused only while it is `requested`; each of those
 * writes its outbox event with it or not at all. `hasPayment` is the payments
 * table's side of the NOT EXISTS. Every read hands out a copy.
 *
 * `journal`, when given, gets `syncRefunds:<refundId>=<status>/<key>` entries,
 * so a test can check a refund's key was on record before the gateway saw it.
 */
export function createInMemoryCompensations(o: {
  outbox: InMemoryOutbox;
  hasPayment: (orderId: string) => boolean;
  journal?: string[];
  now?: () => Date;
}) {
  const now = o.now ?? (() => new Date());
  const cancellations = new Map<string, OrderCancellation>();
  const refunds = new Map<string, Refund>();
  const copy = <T>(value: T): T => structuredClone(value);

  const port = {
    async recordCancellation(c: NewCancellation): Promise<{ created: boolean; cancellation: OrderCancellation }> {
      const existing = cancellations.get(c.orderId);
      if (existing) return { created: false, cancellation: copy(existing) };
      const row: OrderCancellation = { orderId: c.orderId, sourceEventId: c.sourceEventId, reason: c.reason, receivedAt: now(), answeredAt: null };
      cancellations.set(c.orderId, row);
      return { created: true, cancellation: copy(row) };
    },

    async insertRefund(r: NewRefund): Promise<{ created: boolean; refund: Refund }> {
      const existing = refunds.get(r.id);
      if (existing) return { created: false, refund: copy(existing) };
      const at = now();
      const row: Refund = {
        id: r.id,
        orderId: r.orderId,
        paymentId: r.paymentId,
        amountMinor: r.amountMinor,
        amount: r.amount,
        currency: r.currency,
        reason: r.reason,
        status: 'requested',
        failureCode: r.failureCode ?? null,
        failureReason: r.failureReason ?? null,
        gatewayRefundId: null,
        idempotencyKey: r.idempotencyKey ?? null,
        sourceEventId: r.sourceEventId,
        cancel: r.cancel ?? false,
        createdAt: at,
        updatedAt: at,
      };
      refunds.set(r.id, row);
      return { created: true, refund: copy(row) };
    },

    async findCancellation(orderId: string): Promise<OrderCancellation | undefined> {
      const found = cancellations.get(orderId);
      return found && copy(found);
    },

    async findRefund(id: string): Promise<Refund | undefined> {
      const found = refunds.get(id);
      return found && copy(found);
    },

    async markCancellationAnswered(orderId: string): Promise<void> {
      const found = cancellations.get(orderId);
      if (found && found.answeredAt === null) found.answeredAt = now();
    },

    async answerCancellationWithoutPayment(orderId: string, event: OutboxEvent): Promise<boolean> {
      const found = cancellations.get(orderId);
      if (!found || found.answeredAt !== null || o.hasPayment(orderId)) return false;
      found.answeredAt = now();
      o.outbox.append(event, { orderId, paymentId: null });
      return true;
    },

    async refuseRefund(refundId: string, code: string, reason: string, event: OutboxEvent): Promise<boolean> {
      const found = refunds.get(refundId);
      if (!found || found.status !== 'requested') return false;
      Object.assign(found, { status: 'failed', failureCode: code.slice(0, 64), failureReason: reason.slice(0, 500), updatedAt: now() });
      o.outbox.append(event, { orderId: found.orderId, paymentId: found.paymentId });
      return true;
    },

    async syncRefunds(payment: { id: string; orderId: string; currency: string; refunds: Record<string, MachineRefund> }): Promise<void> {
      for (const [id, r] of Object.entries(payment.refunds)) {
        const idempotencyKey = refundIdempotencyKey(payment.id, id, r.attempt);
        const before = refunds.get(id);
        const merged = {
          paymentId: payment.id,
          amountMinor: BigInt(r.amountMinor),
          currency: payment.currency,
          status: r.status,
          failureCode: r.failureCode,
          failureReason: r.failureReason,
          gatewayRefundId: r.gatewayRefundId,
          idempotencyKey,
          updatedAt: now(),
        };
        // As the upsert: a new row (the cancellation's own refund) takes the machine's reason and flag, an existing one keeps its own.
        const row: Refund = before
          ? { ...before, ...merged }
          : { id, orderId: payment.orderId, amount: null, reason: r.reason, sourceEventId: null, cancel: r.cancel, createdAt: now(), ...merged };
        refunds.set(id, row);
        o.journal?.push(`syncRefunds:${id}=${r.status}/${idempotencyKey}`);
      }
    },
  } satisfies CompensationsPort;

  return {
    ...port,
    /** Every refund row as stored now (copies). */
    refunds: (): Refund[] => [...refunds.values()].map(copy),
  };
}

export type InMemoryCompensations = ReturnType<typeof createInMemoryCompensations>;
