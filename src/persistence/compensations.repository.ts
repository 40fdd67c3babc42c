import type { Knex } from 'knex';
import type { Refund as MachineRefund } from '../machines/payment.machine.js';
import type { OutboxEvent } from './payments.repository.js';

/**
 * The compensation input's durable record (CONTRACT.md §8): order
 * cancellations and refund requests. Inserts never overwrite: the first
 * record stands and a repeated one hands it back, so the caller can tell a
 * duplicate (absorbed) from a conflict. Plain objects out, money as bigint.
 */

export type RefundStatus = 'requested' | 'pending' | 'succeeded' | 'failed';

export interface OrderCancellation {
  orderId: string;
  sourceEventId: string;
  reason: string | null;
  receivedAt: Date;
  /** When its PaymentCancelled or PaymentRefunded was written; null while it still has to be answered. */
  answeredAt: Date | null;
}

export interface NewCancellation {
  orderId: string;
  sourceEventId: string;
  reason: string | null;
}

export interface Refund {
  /** The caller's refundId, or the service's own for a cancellation. */
  id: string;
  orderId: string;
  paymentId: string | null;
  /** Null while the payment's currency is unknown, or when the amount is valid in none (then `failureCode` says why). */
  amountMinor: bigint | null;
  /** As the caller wrote it. */
  amount: string | null;
  currency: string | null;
  reason: string | null;
  status: RefundStatus;
  failureCode: string | null;
  failureReason: string | null;
  gatewayRefundId: string | null;
  idempotencyKey: string | null;
  sourceEventId: string | null;
  /** Made by a cancellation (everything not yet refunded goes back), not asked for by a RefundRequested. */
  cancel: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewRefund {
  id: string;
  orderId: string;
  paymentId: string | null;
  amountMinor: bigint | null;
  amount: string | null;
  currency: string | null;
  reason: string | null;
  sourceEventId: string | null;
  cancel?: boolean;
  /** A request refused before any gateway call (`invalid_request`): still `requested` until its RefundFailed is written. */
  failureCode?: string | null;
  failureReason?: string | null;
  idempotencyKey?: string | null;
}

interface CancellationRow {
  order_id: string;
  source_event_id: string;
  reason: string | null;
  received_at: Date;
  answered_at: Date | null;
}

interface RefundRow {
  id: string;
  order_id: string;
  payment_id: string | null;
  amount_minor: string | null;
  amount: string | null;
  currency: string | null;
  reason: string | null;
  status: RefundStatus;
  failure_code: string | null;
  failure_reason: string | null;
  gateway_refund_id: string | null;
  idempotency_key: string | null;
  source_event_id: string | null;
  cancel: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A cancellation as the rest of the program sees it (from a row, or its objection model). */
export const toCancellation = (r: CancellationRow): OrderCancellation => ({
  orderId: r.order_id,
  sourceEventId: r.source_event_id,
  reason: r.reason,
  receivedAt: r.received_at,
  answeredAt: r.answered_at,
});

/** A refund as the rest of the program sees it (from a row, or its objection model): money as bigint. */
export const toRefund = (r: RefundRow): Refund => ({
  id: r.id,
  orderId: r.order_id,
  paymentId: r.payment_id,
  // int8 comes from pg as a string: straight to BigInt, never through a Number.
  amountMinor: r.amount_minor === null ? null : BigInt(r.amount_minor),
  amount: r.amount,
  currency: r.currency,
  reason: r.reason,
  status: r.status,
  failureCode: r.failure_code,
  failureReason: r.failure_reason,
  gatewayRefundId: r.gateway_refund_id,
  idempotencyKey: r.idempotency_key,
  sourceEventId: r.source_event_id,
  cancel: r.cancel,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * The gateway idempotency key of a refund's attempt: one refund per key at the
 * gateway, and a new attempt (a cancellation's refund that failed) a new key.
 */
export const refundIdempotencyKey = (paymentId: string, refundId: string, attempt: number) => `${paymentId}-refund-${refundId}-${attempt}`;

const outboxParams = (e: OutboxEvent) => ({
  id: e.id,
  type: e.type,
  routingKey: e.routingKey,
  payload: JSON.stringify(e.payload),
  headers: e.headers ? JSON.stringify(e.headers) : null,
});

/** Columns hold 255 (reasons) and 500 (failure reasons) characters. */
const fit = (text: string | null | undefined, max: number) => text?.slice(0, max) ?? null;

export type CompensationsRepository = ReturnType<typeof createCompensationsRepository>;

export function createCompensationsRepository(knex: Knex) {
  /**
   * `ON CONFLICT DO NOTHING` decides races; the row that was there first is
   * read back. Both run outside a transaction, so a row inserted concurrently
   * is visible to the read once the insert has waited for it.
   */
  async function insertOnce<Row>(table: string, key: string, row: Record<string, unknown>): Promise<{ created: boolean; row: Row }> {
    const [inserted] = (await knex(table).insert(row).onConflict(key).ignore().returning('*')) as Row[];
    if (inserted) return { created: true, row: inserted };
    const existing = (await knex(table).where(key, row[key] as string).first()) as Row | undefined;
    if (!existing) throw new Error(`${table} ${String(row[key])} conflicted on insert but cannot be read back; retry`);
    return { created: false, row: existing };
  }

  return {
    /** Records the order's cancellation unless it has one; `created` false: the first one, handed back. */
    async recordCancellation(c: NewCancellation): Promise<{ created: boolean; cancellation: OrderCancellation }> {
      const { created, row } = await insertOnce<CancellationRow>('order_cancellations', 'order_id', {
        order_id: c.orderId,
        source_event_id: fit(c.sourceEventId, 255),
        reason: fit(c.reason, 255),
      });
      return { created, cancellation: toCancellation(row) };
    },

    async findCancellation(orderId: string): Promise<OrderCancellation | undefined> {
      const row = (await knex('order_cancellations').where({ order_id: orderId }).first()) as CancellationRow | undefined;
      return row ? toCancellation(row) : undefined;
    },

    /** Records the refund unless its id has one; `created` false: the first one, handed back (compare it: a duplicate or a conflict). */
    async insertRefund(r: NewRefund): Promise<{ created: boolean; refund: Refund }> {
      const { created, row } = await insertOnce<RefundRow>('refunds', 'id', {
        id: r.id,
        order_id: r.orderId,
        payment_id: r.paymentId,
        amount_minor: r.amountMinor === null ? null : r.amountMinor.toString(),
        amount: r.amount,
        currency: r.currency,
        reason: fit(r.reason, 255),
        status: 'requested',
        failure_code: r.failureCode ?? null,
        failure_reason: fit(r.failureReason, 500),
        idempotency_key: r.idempotencyKey ?? null,
        source_event_id: fit(r.sourceEventId, 255),
        cancel: r.cancel ?? false,
      });
      return { created, refund: toRefund(row) };
    },

    async findRefund(id: string): Promise<Refund | undefined> {
      const row = (await knex('refunds').where({ id }).first()) as RefundRow | undefined;
      return row ? toRefund(row) : undefined;
    },

    /** An order's refunds, oldest first (ops pages, reconciliation). */
    async refundsOf(orderId: string): Promise<Refund[]> {
      const rows = (await knex('refunds').where({ order_id: orderId }).orderBy([{ column: 'created_at' }, { column: 'id' }])) as RefundRow[];
      return rows.map(toRefund);
    },

    /** Cancellations still unanswered `olderThanMs` after they arrived, oldest first: a sweeper's candidates (their job may be lost). */
    async unansweredCancellations(olderThanMs: number, limit: number): Promise<OrderCancellation[]> {
      const rows = (await knex('order_cancellations')
        .whereNull('answered_at')
        .where('received_at', '<', new Date(Date.now() - olderThanMs))
        .orderBy('received_at')
        .limit(limit)) as CancellationRow[];
      return rows.map(toCancellation);
    },

    /** Refunds still requested or pending, untouched for `olderThanMs`, oldest first: a sweeper's candidates. */
    async openRefunds(olderThanMs: number, limit: number): Promise<Refund[]> {
      const rows = (await knex('refunds')
        .whereIn('status', ['requested', 'pending'])
        .where('updated_at', '<', new Date(Date.now() - olderThanMs))
        .orderBy('updated_at')
        .limit(limit)) as RefundRow[];
      return rows.map(toRefund);
    },

    /** Its answer is written (by the machine's commit, or below): nothing more to do for it. */
    async markCancellationAnswered(orderId: string): Promise<void> {
      await knex('order_cancellations').where({ order_id: orderId }).whereNull('answered_at').update({ answered_at: knex.fn.now() });
    },

    /**
     * Answers the cancellation of an order that has no payment: PaymentCancelled
     * (no payment id) and the cancellation marked answered, in one statement, and
     * only while the order still has no payment. False when it has one by now
     * (the machine answers then) or the cancellation was answered already.
     */
    async answerCancellationWithoutPayment(orderId: string, event: OutboxEvent): Promise<boolean> {
      const { rows } = await knex.raw(
        `WITH answered AS (
           UPDATE order_cancellations SET answered_at = now()
           WHERE order_id = :orderId AND answered_at IS NULL AND NOT EXISTS (SELECT 1 FROM payments WHERE order_id = :orderId)
           RETURNING order_id),
         ob AS (
           INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload, headers)
           SELECT :id, NULL, order_id, :type, :routingKey, CAST(:payload AS jsonb), CAST(:headers AS jsonb) FROM answered
           ON CONFLICT DO NOTHING)
         SELECT CAST(count(*) AS int) AS n FROM answered`,
        { orderId, ...outboxParams(event) },
      );
      return (rows as Array<{ n: number }>)[0]!.n === 1;
    },

    /**
     * Refuses a refund the machine never saw (no payment for its order, or an
     * amount no currency can hold): the row failed and its RefundFailed, in one
     * statement, only while the row is still requested. False: answered already.
     */
    async refuseRefund(refundId: string, code: string, reason: string, event: OutboxEvent): Promise<boolean> {
      const { rows } = await knex.raw(
        `WITH refused AS (
           UPDATE refunds SET status = 'failed', failure_code = :code, failure_reason = :reason, updated_at = now()
           WHERE id = :refundId AND status = 'requested'
           RETURNING order_id, payment_id),
         ob AS (
           INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload, headers)
           SELECT :id, payment_id, order_id, :type, :routingKey, CAST(:payload AS jsonb), CAST(:headers AS jsonb) FROM refused)
         SELECT CAST(count(*) AS int) AS n FROM refused`,
        { refundId, code: fit(code, 64), reason: fit(reason, 500), ...outboxParams(event) },
      );
      return (rows as Array<{ n: number }>)[0]!.n === 1;
    },

    /**
     * Brings the refunds rows in line with the payment's machine, which is the
     * record: each refund's status, gateway id, last failure and the
     * idempotency key of its current attempt. Called before a refund is sent (so
     * its key is on record first) and after its outcome is committed.
     */
    async syncRefunds(payment: { id: string; orderId: string; currency: string; refunds: Record<string, MachineRefund> }): Promise<void> {
      const rows = Object.entries(payment.refunds).map(([id, r]) => ({
        id,
        order_id: payment.orderId,
        payment_id: payment.id,
        amount_minor: r.amountMinor,
        currency: payment.currency,
        reason: fit(r.reason, 255),
        status: r.status,
        failure_code: fit(r.failureCode, 64),
        failure_reason: fit(r.failureReason, 500),
        gateway_refund_id: r.gatewayRefundId,
        idempotency_key: refundIdempotencyKey(payment.id, id, r.attempt),
        cancel: r.cancel,
        payment_intent: r.intentId ?? null,
        updated_at: knex.fn.now(),
      }));
      if (!rows.length) return;
      await knex('refunds')
        .insert(rows)
        .onConflict('id')
        .merge(['payment_id', 'payment_intent', 'amount_minor', 'currency', 'status', 'failure_code', 'failure_reason', 'gateway_refund_id', 'idempotency_key', 'updated_at']);
    },

    /** The order's payment, if it has one yet: a refund is in its currency. */
    async paymentOf(orderId: string): Promise<{ id: string; currency: string } | undefined> {
      return (await knex('payments').select('id', 'currency').where({ order_id: orderId }).first()) as { id: string; currency: string } | undefined;
    },
  };
}
