import type { Knex } from 'knex';
import type { PaymentStatus } from '../machines/payment.machine.js';
import type { StoredSnapshot } from '../machines/payment.snapshot.js';
import { PaymentModel, PaymentTransitionModel } from './models.js';

/** A payment as the rest of the program sees it: plain data, money as bigint. */
export interface Payment {
  id: string;
  orderId: string;
  amount: string;
  amountMinor: bigint;
  currency: string;
  customerId: string | null;
  paymentMethod: string | null;
  status: PaymentStatus;
  transactionId: string | null;
  gateway: string | null;
  gatewayResponse: Record<string, unknown> | null;
  failureCode: string | null;
  failureReason: string | null;
  snapshot: StoredSnapshot;
  version: number;
  sourceEventId: string | null;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  failedAt: Date | null;
}

export interface Transition {
  id: string;
  fromStatus: PaymentStatus | null;
  toStatus: PaymentStatus;
  event: string;
  detail: Record<string, unknown> | null;
  createdAt: Date;
}

/** An event to publish, stored in the outbox with the state that caused it. */
export interface OutboxEvent {
  id: string;
  type: string;
  routingKey: string;
  payload: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface NewPayment {
  id: string;
  orderId: string;
  amount: string;
  amountMinor: bigint;
  currency: string;
  customerId: string | null;
  paymentMethod: string | null;
  sourceEventId: string;
  snapshot: StoredSnapshot;
  /** Detail for the first history row (e.g. the source event id). */
  detail?: Record<string, unknown>;
  /** For a payment born terminal (invalid request): its failure and event, written atomically. */
  failure?: { code: string; reason: string; outbox: OutboxEvent };
}

export interface TransitionWrite {
  snapshot: StoredSnapshot;
  event: string;
  detail?: Record<string, unknown>;
  transactionId?: string | null;
  gateway?: string | null;
  gatewayResponse?: Record<string, unknown> | null;
  failureCode?: string | null;
  failureReason?: string | null;
  outbox?: OutboxEvent;
}

function toPayment(row: PaymentModel): Payment {
  return {
    id: row.id,
    orderId: row.order_id,
    amount: String(row.amount),
    amountMinor: BigInt(row.amount_minor),
    currency: row.currency,
    customerId: row.customer_id,
    paymentMethod: row.payment_method,
    status: row.status as PaymentStatus,
    transactionId: row.transaction_id,
    gateway: row.gateway,
    gatewayResponse: row.gateway_response,
    failureCode: row.failure_code,
    failureReason: row.failure_reason,
    snapshot: row.snapshot as StoredSnapshot,
    version: row.version,
    sourceEventId: row.source_event_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    completedAt: row.completed_at,
    failedAt: row.failed_at,
  };
}

function outboxRow(paymentId: string, orderId: string, e: OutboxEvent) {
  return {
    id: e.id,
    payment_id: paymentId,
    order_id: orderId,
    type: e.type,
    routing_key: e.routingKey,
    payload: e.payload,
    headers: e.headers ?? null,
  };
}

export type PaymentsRepository = ReturnType<typeof createPaymentsRepository>;

export function createPaymentsRepository(knex: Knex) {
  const Payments = PaymentModel.bindKnex(knex);
  const Transitions = PaymentTransitionModel.bindKnex(knex);

  return {
    /**
     * Inserts the payment unless its order already has one (the unique
     * order_id decides races). `existing` hands back the first payment so the
     * caller can tell a duplicate from a conflict.
     */
    async insert(p: NewPayment): Promise<{ created: boolean; payment: Payment }> {
      const status = p.snapshot.value;
      const row = {
        id: p.id,
        order_id: p.orderId,
        amount: p.amount,
        amount_minor: p.amountMinor.toString(),
        currency: p.currency,
        customer_id: p.customerId,
        payment_method: p.paymentMethod,
        status,
        snapshot: JSON.stringify(p.snapshot),
        machine_version: p.snapshot.version,
        source_event_id: p.sourceEventId,
        failure_code: p.failure?.code ?? null,
        failure_reason: p.failure?.reason.slice(0, 500) ?? null,
        failed_at: p.failure ? new Date() : null,
      };
      // One statement (one round trip, atomic): the history row and a born-failed
      // payment's event are inserted only when the payment row itself was.
      let query = knex
        .with('ins', knex('payments').insert(row).onConflict('order_id').ignore().returning('*'))
        .with(
          'hist',
          knex.raw(
            `INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
             SELECT id, order_id, NULL, status, ?, ?::jsonb FROM ins`,
            [p.failure ? 'REJECT' : 'CREATED', JSON.stringify({ sourceEventId: p.sourceEventId, ...p.detail })],
          ),
        );
      if (p.failure) {
        const o = outboxRow(p.id, p.orderId, p.failure.outbox);
        query = query.with(
          'ob',
          knex.raw(
            `INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload, headers)
             SELECT ?, id, order_id, ?, ?, ?::jsonb, ?::jsonb FROM ins`,
            [o.id, o.type, o.routing_key, JSON.stringify(o.payload), o.headers ? JSON.stringify(o.headers) : null],
          ),
        );
      }
      const inserted = ((await query.select('*').from('ins')) as PaymentModel[])[0];
      if (inserted) return { created: true, payment: toPayment(inserted) };
      // The order already has its payment (the unique order_id decided): hand it back.
      const existing = await Payments.query().findOne({ order_id: p.orderId });
      if (!existing) throw new Error(`payment for order ${p.orderId} conflicted on insert but cannot be read back; retry`);
      return { created: false, payment: toPayment(existing) };
    },

    async findByOrderId(orderId: string): Promise<Payment | undefined> {
      const row = await Payments.query().findOne({ order_id: orderId });
      return row ? toPayment(row) : undefined;
    },

    /**
     * Commits one transition, its history row and (for a terminal state) its
     * outbox event in one transaction — only if nobody else wrote the payment
     * since `expectedVersion` was read. Returns null when that race was lost.
     */
    async commitTransition(payment: Payment, w: TransitionWrite): Promise<Payment | null> {
      const status = w.snapshot.value;
      const now = new Date();
      const patch: Record<string, unknown> = {
        status,
        snapshot: JSON.stringify(w.snapshot),
        machine_version: w.snapshot.version,
        version: payment.version + 1,
        updated_at: now,
      };
      if (w.transactionId !== undefined) patch.transaction_id = w.transactionId;
      if (w.gateway !== undefined) patch.gateway = w.gateway;
      if (w.gatewayResponse !== undefined) patch.gateway_response = w.gatewayResponse === null ? null : JSON.stringify(w.gatewayResponse);
      if (w.failureCode !== undefined) patch.failure_code = w.failureCode;
      if (w.failureReason !== undefined) patch.failure_reason = w.failureReason?.slice(0, 500) ?? null;
      if (status === 'Success') patch.completed_at = now;
      if (status === 'Failed') patch.failed_at = now;
      // One statement, so one round trip and atomic: the history row and the
      // outbox event are inserted only if the version-checked update matched.
      let query = knex
        .with('upd', knex('payments').update(patch).where({ id: payment.id, version: payment.version }).returning('*'))
        .with(
          'hist',
          knex.raw(
            `INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
             SELECT id, order_id, ?, status, ?, ?::jsonb FROM upd`,
            [payment.status, w.event, w.detail ? JSON.stringify(w.detail) : null],
          ),
        );
      if (w.outbox) {
        const o = outboxRow(payment.id, payment.orderId, w.outbox);
        query = query.with(
          'ob',
          knex.raw(
            `INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload, headers)
             SELECT ?, id, order_id, ?, ?, ?::jsonb, ?::jsonb FROM upd`,
            [o.id, o.type, o.routing_key, JSON.stringify(o.payload), o.headers ? JSON.stringify(o.headers) : null],
          ),
        );
      }
      const rows = (await query.select('*').from('upd')) as PaymentModel[];
      return rows[0] ? toPayment(rows[0]) : null;
    },

    /** Adds a history row without changing state (a gateway call, a look-up, a retry scheduled). */
    async note(payment: Payment, event: string, detail: Record<string, unknown>): Promise<void> {
      await Transitions.query().insert({
        payment_id: payment.id,
        order_id: payment.orderId,
        from_status: payment.status,
        to_status: payment.status,
        event,
        detail,
      } as Partial<PaymentTransitionModel>);
    },

    async history(orderId: string): Promise<Transition[]> {
      const rows = await Transitions.query().where({ order_id: orderId }).orderBy('id');
      return rows.map((r) => ({
        id: String(r.id),
        fromStatus: r.from_status as PaymentStatus | null,
        toStatus: r.to_status as PaymentStatus,
        event: r.event,
        detail: r.detail,
        createdAt: r.created_at,
      }));
    },

    /** Unfinished payments not touched for `olderThanMs`: the sweeper's candidates. */
    async findUnfinished(olderThanMs: number, limit: number): Promise<Payment[]> {
      const rows = await Payments.query()
        .whereIn('status', ['Initiated', 'Processing'])
        .where('updated_at', '<', new Date(Date.now() - olderThanMs))
        .orderBy('updated_at')
        .limit(limit);
      return rows.map(toPayment);
    },

    async countByStatus(): Promise<Record<PaymentStatus, number>> {
      const counts: Record<PaymentStatus, number> = { Initiated: 0, Processing: 0, Success: 0, Failed: 0 };
      const rows = (await knex('payments').select('status').count('* as n').groupBy('status')) as Array<{
        status: PaymentStatus;
        n: string;
      }>;
      for (const r of rows) counts[r.status] = Number(r.n);
      return counts;
    },

    /** Transitions taken since `since`, counted by (from, to, event): self-transitions such as a retry included. */
    async transitionCountsSince(since: Date): Promise<Array<{ from: string | null; to: string; event: string; n: number }>> {
      const rows = (await knex('payment_transitions')
        .select('from_status', 'to_status', 'event')
        .count('* as n')
        .where('created_at', '>=', since)
        .groupBy('from_status', 'to_status', 'event')) as Array<{ from_status: string | null; to_status: string; event: string; n: string }>;
      return rows.map((r) => ({ from: r.from_status, to: r.to_status, event: r.event, n: Number(r.n) }));
    },
  };
}
