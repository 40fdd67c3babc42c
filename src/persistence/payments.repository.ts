import type { Knex } from 'knex';
import { PAYMENT_STATUSES, type PaymentStatus } from '../machines/payment.machine.js';
import type { StoredSnapshot } from '../machines/payment.snapshot.js';
import type { Model } from 'objection';
import { toCancellation, toRefund, type OrderCancellation, type Refund } from './compensations.repository.js';
import { PaymentModel, type PaymentTransitionModel } from './models.js';
import { batcher, groupCommit } from '../batching.js';
import { createSql, type SqlOptions } from './sql.js';

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
  /**
   * The order's OrderCancelled as recorded when the payment was loaded
   * (`order_cancellations`), whether or not the machine has taken it yet;
   * `answered`: its answer has been written. Null when it is not cancelled.
   */
  orderCancelled: { reason: string | null; answered: boolean } | null;
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

/** A transition's write: the row's columns as the machine's context has them after the step. */
export interface TransitionWrite {
  snapshot: StoredSnapshot;
  event: string;
  detail?: Record<string, unknown>;
  transactionId: string | null;
  gateway: string | null;
  failureCode: string | null;
  failureReason: string | null;
  /** Stored only when given: the gateway's answer that settled this step. */
  gatewayResponse?: Record<string, unknown>;
  /** The events the machine asked for with this step, written with it. */
  outbox?: OutboxEvent[];
}

/** A `payments` row as PostgreSQL returns it (int8 and numeric as strings). */
type PaymentRow = Pick<PaymentModel, Exclude<keyof PaymentModel, keyof Model>> & {
  /** Only from the loads, which join the order's cancellation. */
  cancel_received_at?: Date | null;
  cancel_answered_at?: Date | null;
  cancel_reason?: string | null;
};

function toPayment(row: PaymentRow): Payment {
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
    orderCancelled: row.cancel_received_at ? { reason: row.cancel_reason ?? null, answered: !!row.cancel_answered_at } : null,
  };
}

function toTransition(r: PaymentTransitionModel): Transition {
  return {
    id: String(r.id),
    fromStatus: r.from_status as PaymentStatus | null,
    toStatus: r.to_status as PaymentStatus,
    event: r.event,
    detail: r.detail,
    createdAt: r.created_at,
  };
}

/**
 * A payment as the ops pages read it: its history, its refunds (oldest first)
 * and the order's cancellation. This repository always reads both; they are
 * optional so that a port's fake without compensations still fits.
 */
export interface PaymentRecord {
  payment: Payment;
  history: Transition[];
  refunds?: Refund[];
  cancellation?: OrderCancellation | null;
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

// The per-payment statements, each one round trip and atomic (data-modifying
// CTEs: the history row and the outbox event are written only if the payment
// row was), sent as named prepared statements unless the pooler in between
// cannot keep them (see sql.ts).

/** A payment with its order's cancellation, if one was recorded (the charge job must see it before it charges). */
const LOAD_COLUMNS = `p.*, c.received_at AS cancel_received_at, c.answered_at AS cancel_answered_at, c.reason AS cancel_reason
  FROM payments p LEFT JOIN order_cancellations c ON c.order_id = p.order_id`;
const LOAD = `SELECT ${LOAD_COLUMNS} WHERE p.order_id = $1`;
/** Many payments by order id in one statement: one prepared statement for any batch size. */
const LOAD_MANY = `SELECT ${LOAD_COLUMNS} WHERE p.order_id = ANY($1::uuid[])`;


/** failure_reason holds 500 characters. */
const fitReason = (reason: string | null | undefined) => reason?.slice(0, 500) ?? null;

/** A statement's inputs as (name, type), in parameter order. */
type Columns = ReadonlyArray<readonly [string, string]>;

/**
 * The `input` CTE every write starts from: one row of scalar parameters
 * ($1, $2, …), or (`many`) the same columns as arrays, one row per element,
 * so one prepared statement serves any batch size.
 */
function inputRows(columns: Columns, many: boolean): string {
  return many
    ? `SELECT * FROM unnest(${columns.map(([, type], k) => `$${k + 1}::${type}[]`).join(', ')}) AS t(${columns.map(([name]) => name).join(', ')})`
    : `SELECT ${columns.map(([name, type], k) => `$${k + 1}::${type} AS ${name}`).join(', ')}`;
}

/** An event written with its payment's row: its columns, and the CTE that writes it only for the rows `source` wrote. */
const OUTBOX_COLUMNS = [['ob_events', 'jsonb']] as const;
const outboxCte = (source: 'ins' | 'upd') => `,
  ob AS (INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload, headers)
    SELECT (e->>'id')::uuid, w.id, w.order_id, e->>'type', e->>'routingKey', e->'payload', NULLIF(e->'headers', 'null'::jsonb)
    FROM ${source} w JOIN input i ON i.id = w.id CROSS JOIN LATERAL jsonb_array_elements(i.ob_events) e)`;
/** The events as the one `ob_events` value: a JSON array, each event with its id, type, routing key, payload and headers. */
const outboxValue = (events: readonly OutboxEvent[]) =>
  JSON.stringify(events.map((e) => ({ id: e.id, type: e.type, routingKey: e.routingKey, payload: e.payload, headers: e.headers ?? null })));

/** A new payment's inputs: the row, then its first history row. */
const INSERT_COLUMNS = [
  ['id', 'uuid'], ['order_id', 'uuid'], ['amount', 'numeric'], ['amount_minor', 'bigint'], ['currency', 'text'],
  ['customer_id', 'text'], ['payment_method', 'text'], ['status', 'text'], ['snapshot', 'jsonb'], ['machine_version', 'int'],
  ['source_event_id', 'text'], ['failure_code', 'text'], ['failure_reason', 'text'], ['failed', 'boolean'],
  ['event', 'text'], ['detail', 'jsonb'],
] as const;

/**
 * New payments with their first history row and (`outbox`: a payment born
 * failed) its event, in one statement. A row whose order already has a
 * payment is skipped (the unique order_id decides) and gets no history row
 * and no event. For one payment, or (`many`) for a batch.
 */
function insertStatement(o: { many: boolean; outbox: boolean }): string {
  const columns = [...INSERT_COLUMNS, ...(o.outbox ? OUTBOX_COLUMNS : [])];
  return `WITH input AS (${inputRows(columns, o.many)}),
  ins AS (
    INSERT INTO payments (id, order_id, amount, amount_minor, currency, customer_id, payment_method, status, snapshot,
                          machine_version, source_event_id, failure_code, failure_reason, failed_at)
    SELECT id, order_id, amount, amount_minor, currency, customer_id, payment_method, status, snapshot,
           machine_version, source_event_id, failure_code, failure_reason, CASE WHEN failed THEN now() END FROM input
    ON CONFLICT (order_id) DO NOTHING RETURNING *),
  hist AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
    SELECT w.id, w.order_id, NULL, w.status, i.event, i.detail FROM ins w JOIN input i ON i.id = w.id)${o.outbox ? outboxCte('ins') : ''}
  SELECT * FROM ins`;
}
const INSERT = { name: 'payments.insert', text: insertStatement({ many: false, outbox: false }) };
const INSERT_WITH_OUTBOX = { name: 'payments.insert+outbox', text: insertStatement({ many: false, outbox: true }) };
const INSERT_MANY = { name: 'payments.insert-many', text: insertStatement({ many: true, outbox: false }) };

/** A new payment's parameter values, in INSERT_COLUMNS order (then its event, when born failed). */
function insertValues(p: NewPayment): unknown[] {
  const values: unknown[] = [
    p.id, p.orderId, p.amount, p.amountMinor.toString(), p.currency, p.customerId, p.paymentMethod,
    p.snapshot.value, JSON.stringify(p.snapshot), p.snapshot.version, p.sourceEventId,
    p.failure?.code ?? null, fitReason(p.failure?.reason), p.failure !== undefined,
    p.failure ? 'REJECT' : 'CREATED', historyDetail(p),
  ];
  if (p.failure) values.push(outboxValue([p.failure.outbox]));
  return values;
}

/** Rows of values as the columns of a `many` statement: column k holds every row's k-th value. */
const asColumns = (rows: unknown[][]): unknown[][] => rows[0]!.map((_, k) => rows.map((row) => row[k]));

/** Most payments one multi-row insert carries. */
const INSERT_BATCH_MAX = 100;

/** A commit's inputs, in parameter order: the row, its history, then (by shape) the gateway's answer and the event. */
const COMMIT_COLUMNS = [
  ['id', 'uuid'], ['version', 'int'], ['status', 'varchar'], ['snapshot', 'jsonb'], ['machine_version', 'int'],
  ['from_status', 'varchar'], ['event', 'varchar'], ['detail', 'jsonb'],
  ['transaction_id', 'text'], ['gateway', 'text'], ['failure_code', 'text'], ['failure_reason', 'text'],
] as const;
const RESPONSE_COLUMNS = [['gateway_response', 'jsonb']] as const;

/**
 * The version-checked commit: the payment row, its history row and, for a
 * terminal state, its outbox event, in one statement. A row whose version
 * moved on is not updated and gets no history row and no event: its caller
 * lost the race. One text per shape ([gateway answer given][event written])
 * for one payment (`many: false`: scalar parameters, the row found by $1 and
 * $2, sent as a named prepared statement) or for many (the same columns as
 * arrays, planned per call: see sql.ts).
 */
function commitStatement(o: { many: boolean; response: boolean; outbox: boolean }): string {
  const columns = [...COMMIT_COLUMNS, ...(o.response ? RESPONSE_COLUMNS : []), ...(o.outbox ? OUTBOX_COLUMNS : [])];
  const match = o.many ? 'p.id = i.id AND p.version = i.version' : 'p.id = $1::uuid AND p.version = $2::int';
  return `WITH input AS (${inputRows(columns, o.many)}),
  upd AS (
    UPDATE payments p SET status = i.status, snapshot = i.snapshot, machine_version = i.machine_version, version = p.version + 1, updated_at = now(),
      completed_at = CASE WHEN i.status = 'Success' THEN now() ELSE p.completed_at END,
      failed_at = CASE WHEN i.status = 'Failed' THEN now() ELSE p.failed_at END,
      transaction_id = i.transaction_id, gateway = i.gateway, failure_code = i.failure_code, failure_reason = i.failure_reason${o.response ? ', gateway_response = i.gateway_response' : ''}
    FROM input i WHERE ${match}
    RETURNING p.id, p.order_id, p.status, p.version, p.updated_at, p.completed_at, p.failed_at),
  hist AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
    SELECT u.id, u.order_id, i.from_status, u.status, i.event, i.detail FROM upd u JOIN input i ON i.id = u.id)${o.outbox ? outboxCte('upd') : ''}
  SELECT u.id, u.version, u.updated_at, u.completed_at, u.failed_at FROM upd u`;
}

/** A commit's parameter values for one payment, in COMMIT_COLUMNS order (then the answer and the event, by shape). */
function commitValues(payment: Payment, w: TransitionWrite): unknown[] {
  const values: unknown[] = [
    payment.id, payment.version, w.snapshot.value, JSON.stringify(w.snapshot), w.snapshot.version,
    payment.status, w.event, json(w.detail), w.transactionId, w.gateway, w.failureCode, fitReason(w.failureReason),
  ];
  if (w.gatewayResponse !== undefined) values.push(json(w.gatewayResponse));
  if (w.outbox?.length) values.push(outboxValue(w.outbox));
  return values;
}

type CommitResult = Pick<PaymentRow, 'version' | 'updated_at' | 'completed_at' | 'failed_at'>;

/** A batch's failure, handed to one caller as its own. */
const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
/** Batch rows in key order, so two batches touching the same rows lock them in the same order. */
const sortedBy = <T>(items: readonly T[], key: (item: T) => string): T[] => [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

const historyDetail = (p: NewPayment) => JSON.stringify({ sourceEventId: p.sourceEventId, ...p.detail });

const NOTE = `INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
  VALUES ($1, $2, $3, $3, $4, $5::jsonb)`;

export type PaymentsRepository = ReturnType<typeof createPaymentsRepository>;

export function createPaymentsRepository(knex: Knex, sqlOptions: SqlOptions = {}) {
  const Payments = PaymentModel.bindKnex(knex);
  const sql = createSql(knex, sqlOptions);
  /** Initiated or Processing, not updated for `olderThanMs`: what the recovery sweeper looks for. */
  const unfinishedFor = (olderThanMs: number) =>
    Payments.query().whereIn('status', ['Initiated', 'Processing']).where('updated_at', '<', new Date(Date.now() - olderThanMs));
  /**
   * Jobs that start in the same tick (BullMQ hands several slots their next
   * job in one socket read) load their payments in one statement. Nothing is
   * cached: every load reads the row as it is now.
   */
  const loads = batcher<string, PaymentRow | undefined>(
    async (orderIds) => {
      const loadOne = async (orderId: string) => (await sql.query<PaymentRow>('payments.load', LOAD, [orderId]))[0];
      if (orderIds.length === 1) return [await loadOne(orderIds[0]!)];
      let rows: PaymentRow[];
      try {
        rows = await sql.planned<PaymentRow>(LOAD_MANY, [orderIds]);
      } catch {
        // One id that is not a uuid fails the whole statement: each alone, so it fails only its own caller.
        return Promise.all(orderIds.map((id) => loadOne(id).catch(asError)));
      }
      const byOrder = new Map(rows.map((r) => [r.order_id.toLowerCase(), r]));
      return orderIds.map((id) => byOrder.get(id.toLowerCase()));
    },
    { maxBatchSize: INSERT_BATCH_MAX, gather: groupCommit() },
  );
  const findByOrderId = async (orderId: string): Promise<Payment | undefined> => {
    const row = await loads.load(orderId);
    return row ? toPayment(row) : undefined;
  };

  /** One payment (and, when born failed, its event): the inserted row, or undefined when the order already had one. */
  const insertOne = async (p: NewPayment): Promise<PaymentRow | undefined> => {
    const statement = p.failure ? INSERT_WITH_OUTBOX : INSERT;
    return (await sql.query<PaymentRow>(statement.name, statement.text, insertValues(p)))[0];
  };

  /**
   * The consumer inserts every delivery of a socket read in the same tick:
   * those share one statement (a batcher collects them). Rows go in order_id
   * order, so two batches holding the same orders cannot deadlock. When a
   * batch fails, each row is tried alone, so one bad row fails only its own
   * delivery.
   */
  const batched = batcher<NewPayment, PaymentRow | undefined>(
    async (batch) => {
      if (batch.length === 1) return [await insertOne(batch[0]!)];
      const rows = sortedBy(batch, (p) => p.orderId).map(insertValues);
      let inserted: PaymentRow[];
      try {
        inserted = await sql.query<PaymentRow>(INSERT_MANY.name, INSERT_MANY.text, asColumns(rows));
      } catch {
        return Promise.all(batch.map((p) => insertOne(p).catch(asError)));
      }
      const byId = new Map(inserted.map((r) => [r.id, r]));
      return batch.map((p) => byId.get(p.id));
    },
    { maxBatchSize: INSERT_BATCH_MAX, gather: groupCommit() },
  );

  /** By shape ([gateway answer given][event written]): the one-payment statement's name and text, and the many-payment text. */
  const shapes = [false, true].map((response) =>
    [false, true].map((outbox) => ({
      name: `payments.commit.${response ? 'r' : '-'}${outbox ? 'o' : '-'}`,
      one: commitStatement({ many: false, response, outbox }),
      many: commitStatement({ many: true, response, outbox }),
    })),
  );
  const shapeOf = (w: TransitionWrite) => shapes[w.gatewayResponse === undefined ? 0 : 1]![w.outbox?.length ? 1 : 0]!;

  /** One commit in its own statement: the database's answer, or undefined when the version had moved on. */
  const commitOne = async ({ payment, w }: Commit): Promise<CommitResult | undefined> => {
    const shape = shapeOf(w);
    return (await sql.query<CommitResult>(shape.name, shape.one, commitValues(payment, w)))[0];
  };

  /**
   * Commits of the same shape share one statement when they meet in a batch
   * (see groupCommit in batching.ts): jobs that loaded together start together, and
   * gateway answers read in one poll settle together. Rows go in id order,
   * as the inserts do. A batch that names a payment twice, or fails
   * (a deadlock included), is committed one by one, so each caller still
   * gets exactly its own answer.
   */
  type Commit = { payment: Payment; w: TransitionWrite };
  const commitLoader = (text: string) =>
    batcher<Commit, CommitResult | undefined>(
      async (batch) => {
        const one = (c: Commit) => commitOne(c).catch(asError);
        if (batch.length === 1) return [await commitOne(batch[0]!)];
        if (new Set(batch.map((c) => c.payment.id)).size < batch.length) {
          const results = [];
          for (const c of batch) results.push(await one(c));
          return results;
        }
        const rows = sortedBy(batch, (c) => c.payment.id).map((c) => commitValues(c.payment, c.w));
        let updated: Array<CommitResult & { id: string }>;
        try {
          updated = await sql.planned<CommitResult & { id: string }>(text, asColumns(rows));
        } catch {
          return Promise.all(batch.map(one));
        }
        const byId = new Map(updated.map((r) => [r.id, r]));
        return batch.map((c) => byId.get(c.payment.id));
      },
      { maxBatchSize: INSERT_BATCH_MAX, gather: groupCommit() },
    );
  const commitLoaders = new Map(shapes.flat().map((shape) => [shape, commitLoader(shape.many)]));

  /** A payment with its history, oldest first (the payment page): read through the models' relation, never batched. */
  const findWithHistory = async (orderId: string): Promise<PaymentRecord | undefined> => {
    const row = await Payments.query()
      .findOne({ order_id: orderId })
      .withGraphFetched('[transitions, refunds, cancellation]')
      .modifyGraph('transitions', (q) => q.orderBy('id'))
      .modifyGraph('refunds', (q) => q.orderBy([{ column: 'created_at' }, { column: 'id' }]));
    if (!row) return undefined;
    return {
      payment: toPayment(row),
      history: (row.transitions ?? []).map(toTransition),
      refunds: (row.refunds ?? []).map(toRefund),
      cancellation: row.cancellation ? toCancellation(row.cancellation) : null,
    };
  };

  return {
    /**
     * Inserts the payment unless its order already has one (the unique
     * order_id decides races) and hands back the order's payment: `created`
     * tells a new payment from one that was there first (a duplicate or a
     * conflict). Concurrent calls in the same tick share one statement.
     */
    async insert(p: NewPayment): Promise<{ created: boolean; payment: Payment }> {
      const inserted = p.failure ? await insertOne(p) : await batched.load(p);
      if (inserted) return { created: true, payment: toPayment(inserted) };
      // The order already has its payment (the unique order_id decided): hand it back.
      const existing = await findByOrderId(p.orderId);
      if (!existing) throw new Error(`payment for order ${p.orderId} conflicted on insert but cannot be read back; retry`);
      return { created: false, payment: existing };
    },

    findByOrderId,

    /**
     * Commits one transition, its history row and (for a terminal state) its
     * outbox event in one statement — only if nobody else wrote the payment
     * since `expectedVersion` was read. Returns null when that race was lost.
     */
    async commitTransition(payment: Payment, w: TransitionWrite): Promise<Payment | null> {
      // Only what the database decided comes back; the rest is what was just written (no large JSON read back).
      const row = await commitLoaders.get(shapeOf(w))!.load({ payment, w });
      if (!row) return null;
      return {
        ...payment,
        status: w.snapshot.value,
        snapshot: w.snapshot,
        version: row.version,
        transactionId: w.transactionId,
        gateway: w.gateway,
        gatewayResponse: w.gatewayResponse ?? payment.gatewayResponse,
        failureCode: w.failureCode,
        failureReason: fitReason(w.failureReason),
        updatedAt: row.updated_at,
        completedAt: row.completed_at,
        failedAt: row.failed_at,
      };
    },

    /** Adds a history row without changing state (a gateway call, a look-up, a retry scheduled). */
    async note(payment: Payment, event: string, detail: Record<string, unknown>): Promise<void> {
      await sql.query('payments.note', NOTE, [payment.id, payment.orderId, payment.status, event, json(detail)]);
    },

    findWithHistory,

    /** The order a charge belongs to, by the gateway's transaction id (a webhook names the payment intent, not the order). */
    async orderIdOfTransaction(transactionId: string): Promise<string | undefined> {
      const row = await Payments.query().select('order_id').findOne({ transaction_id: transactionId });
      return row?.order_id;
    },

    /** An order's history, oldest first (empty when it has no payment). */
    async history(orderId: string): Promise<Transition[]> {
      return (await findWithHistory(orderId))?.history ?? [];
    },

    /** Unfinished payments not touched for `olderThanMs`: the sweeper's candidates. */
    async findUnfinished(olderThanMs: number, limit: number): Promise<Payment[]> {
      const rows = await unfinishedFor(olderThanMs).orderBy('updated_at').limit(limit);
      return rows.map(toPayment);
    },

    /** How many findUnfinished would list without a limit: payments_unsettled_stale on each scrape. */
    async countUnfinished(olderThanMs: number): Promise<number> {
      return unfinishedFor(olderThanMs).resultSize();
    },

    async countByStatus(): Promise<Record<PaymentStatus, number>> {
      const counts = Object.fromEntries(PAYMENT_STATUSES.map((s) => [s, 0])) as Record<PaymentStatus, number>;
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
