import type { Knex } from 'knex';
import { PAYMENT_STATUSES, type PaymentStatus } from '../machines/payment.machine.js';
import type { StoredSnapshot } from '../machines/payment.snapshot.js';
import type { Model } from 'objection';
import { PaymentModel, type PaymentTransitionModel } from './models.js';
import { groupCommitLoader } from './group-commit.js';
import { createSql } from './sql.js';

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

/** A `payments` row as PostgreSQL returns it (int8 and numeric as strings). */
type PaymentRow = Pick<PaymentModel, Exclude<keyof PaymentModel, keyof Model>>;

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

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

// The per-payment statements, each one round trip and atomic (data-modifying
// CTEs: the history row and the outbox event are written only if the payment
// row was), sent as named prepared statements (see sql.ts).

const LOAD = 'SELECT * FROM payments WHERE order_id = $1';
/** Many payments by order id in one statement: one prepared statement for any batch size. */
const LOAD_MANY = 'SELECT * FROM payments WHERE order_id = ANY($1::uuid[])';

/** The terminal event, inserted only if the payment row in `source` was written; its values start at `$first` (see outboxValues). */
const outboxCte = (source: 'ins' | 'upd', first: number) => `, ob AS (INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload, headers)
    SELECT $${first}, id, order_id, $${first + 1}, $${first + 2}, $${first + 3}::jsonb, $${first + 4}::jsonb FROM ${source})`;
const outboxValues = (o: OutboxEvent) => [o.id, o.type, o.routingKey, JSON.stringify(o.payload), json(o.headers)];

/** failure_reason holds 500 characters. */
const fitReason = (reason: string | null | undefined) => reason?.slice(0, 500) ?? null;

/** $1-$14 the payment, $15-$16 its first history row; with `outbox`, $17-$21 the born-failed payment's event. */
function insertStatement(outbox: boolean): { name: string; text: string } {
  const ob = outbox ? outboxCte('ins', 17) : '';
  return {
    name: outbox ? 'payments.insert+outbox' : 'payments.insert',
    text: `WITH ins AS (
        INSERT INTO payments (id, order_id, amount, amount_minor, currency, customer_id, payment_method, status, snapshot,
                              machine_version, source_event_id, failure_code, failure_reason, failed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, CASE WHEN $14::boolean THEN now() END)
        ON CONFLICT (order_id) DO NOTHING RETURNING *),
      hist AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
        SELECT id, order_id, NULL, status, $15, $16::jsonb FROM ins)${ob}
      SELECT * FROM ins`,
  };
}
const INSERT = insertStatement(false);
const INSERT_WITH_OUTBOX = insertStatement(true);

/**
 * Many new payments in one statement: the rows come as arrays, so one
 * prepared statement serves any batch size. Rows whose order already has a
 * payment are skipped, as in the single insert.
 */
const INSERT_MANY = `WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::numeric[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::jsonb[], $10::int[], $11::text[], $12::jsonb[])
      AS t(id, order_id, amount, amount_minor, currency, customer_id, payment_method, status, snapshot, machine_version, source_event_id, detail)),
  ins AS (
    INSERT INTO payments (id, order_id, amount, amount_minor, currency, customer_id, payment_method, status, snapshot, machine_version, source_event_id)
    SELECT id, order_id, amount, amount_minor, currency, customer_id, payment_method, status, snapshot, machine_version, source_event_id FROM input
    ON CONFLICT (order_id) DO NOTHING RETURNING *),
  hist AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
    SELECT ins.id, ins.order_id, NULL, ins.status, 'CREATED', input.detail FROM ins JOIN input ON input.id = ins.id)
  SELECT * FROM ins`;

/** Most payments one multi-row insert carries. */
const INSERT_BATCH_MAX = 100;

/** Columns a transition may set besides state and snapshot; an `undefined` field leaves its column as it is. */
const OPTIONAL = [
  ['transactionId', 'transaction_id', ''],
  ['gateway', 'gateway', ''],
  ['gatewayResponse', 'gateway_response', '::jsonb'],
  ['failureCode', 'failure_code', ''],
  ['failureReason', 'failure_reason', ''],
] as const;

const commitStatements = new Map<string, string>();

/**
 * The version-checked update, its history row and (with an outbox event) the
 * event: one statement per combination of columns set, prepared once each.
 * $1 id, $2 expected version, $3 status, $4 snapshot, $5 machine version,
 * $6-$8 history (from, event, detail), then the optional columns, then the event.
 */
function commitStatement(w: TransitionWrite): { name: string; text: string; optional: unknown[] } {
  const set: string[] = [];
  const optional: unknown[] = [];
  let key = '';
  for (const [field, column, cast] of OPTIONAL) {
    const value = w[field];
    key += value === undefined ? '0' : '1';
    if (value === undefined) continue;
    optional.push(field === 'gatewayResponse' ? json(value) : field === 'failureReason' ? fitReason(value as string | null) : value);
    set.push(`${column} = $${8 + optional.length}${cast}`);
  }
  key += w.outbox ? '1' : '0';
  const name = `payments.commit.${key}`;
  let text = commitStatements.get(key);
  if (!text) {
    const n = 8 + optional.length;
    const ob = w.outbox ? outboxCte('upd', n + 1) : '';
    text = `WITH upd AS (
        UPDATE payments SET status = $3::varchar, snapshot = $4::jsonb, machine_version = $5, version = version + 1, updated_at = now(),
          completed_at = CASE WHEN $3::varchar = 'Success' THEN now() ELSE completed_at END,
          failed_at = CASE WHEN $3::varchar = 'Failed' THEN now() ELSE failed_at END${set.map((s) => `,\n          ${s}`).join('')}
        WHERE id = $1 AND version = $2 RETURNING id, order_id, status, version, updated_at, completed_at, failed_at),
      hist AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
        SELECT id, order_id, $6::varchar, status, $7::varchar, $8::jsonb FROM upd)${ob}
      SELECT version, updated_at, completed_at, failed_at FROM upd`;
    commitStatements.set(key, text);
  }
  return { name, text, optional };
}

/**
 * Many version-checked commits of one shape in one statement, each with its
 * history row and, for a terminal state, its outbox event: the same writes as
 * commitStatement's, row for row. A row whose version moved on is simply not
 * updated (and gets no history row and no event): its caller lost the race.
 * $1-$12 always; with `response`, the gateway responses; with `outbox`, the events.
 */
function commitManyStatement(response: boolean, outbox: boolean): string {
  const extra: string[] = [];
  if (response) extra.push('gateway_response jsonb');
  if (outbox) extra.push('ob_id uuid', 'ob_type text', 'ob_key text', 'ob_payload jsonb', 'ob_headers jsonb');
  const params = extra.map((col, i) => `$${13 + i}::${col.split(' ')[1]}[]`);
  return `WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::varchar[], $4::jsonb[], $5::int[], $6::varchar[], $7::varchar[], $8::jsonb[],
                         $9::text[], $10::text[], $11::text[], $12::text[]${params.map((p) => `, ${p}`).join('')})
      AS t(id, version, status, snapshot, machine_version, from_status, event, detail, transaction_id, gateway, failure_code, failure_reason${extra.map((c) => `, ${c.split(' ')[0]}`).join('')})),
  upd AS (
    UPDATE payments p SET status = i.status, snapshot = i.snapshot, machine_version = i.machine_version, version = p.version + 1, updated_at = now(),
      completed_at = CASE WHEN i.status = 'Success' THEN now() ELSE p.completed_at END,
      failed_at = CASE WHEN i.status = 'Failed' THEN now() ELSE p.failed_at END,
      transaction_id = i.transaction_id, gateway = i.gateway, failure_code = i.failure_code, failure_reason = i.failure_reason${response ? ', gateway_response = i.gateway_response' : ''}
    FROM input i WHERE p.id = i.id AND p.version = i.version
    RETURNING p.id, p.order_id, p.status, p.version, p.updated_at, p.completed_at, p.failed_at),
  hist AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
    SELECT u.id, u.order_id, i.from_status, u.status, i.event, i.detail FROM upd u JOIN input i ON i.id = u.id)${outbox ? `,
  ob AS (INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload, headers)
    SELECT i.ob_id, u.id, u.order_id, i.ob_type, i.ob_key, i.ob_payload, i.ob_headers FROM upd u JOIN input i ON i.id = u.id)` : ''}
  SELECT id, version, updated_at, completed_at, failed_at FROM upd`;
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

export function createPaymentsRepository(knex: Knex) {
  const Payments = PaymentModel.bindKnex(knex);
  const sql = createSql(knex);
  /**
   * Jobs that start in the same tick (BullMQ hands several slots their next
   * job in one socket read) load their payments in one statement. Nothing is
   * cached: every load reads the row as it is now.
   */
  const loads = groupCommitLoader<string, PaymentRow | undefined>(
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
    { maxBatchSize: INSERT_BATCH_MAX },
  );
  const findByOrderId = async (orderId: string): Promise<Payment | undefined> => {
    const row = await loads.load(orderId);
    return row ? toPayment(row) : undefined;
  };

  /** One payment (and, when born failed, its event): the inserted row, or undefined when the order already had one. */
  const insertOne = async (p: NewPayment): Promise<PaymentRow | undefined> => {
    const values: unknown[] = [
      p.id, p.orderId, p.amount, p.amountMinor.toString(), p.currency, p.customerId, p.paymentMethod,
      p.snapshot.value, JSON.stringify(p.snapshot), p.snapshot.version, p.sourceEventId,
      p.failure?.code ?? null, fitReason(p.failure?.reason), p.failure !== undefined,
      p.failure ? 'REJECT' : 'CREATED', historyDetail(p),
    ];
    const o = p.failure?.outbox;
    if (o) values.push(...outboxValues(o));
    const statement = o ? INSERT_WITH_OUTBOX : INSERT;
    return (await sql.query<PaymentRow>(statement.name, statement.text, values))[0];
  };

  /**
   * The consumer inserts every delivery of a socket read in the same tick:
   * those share one statement (DataLoader collects them). Rows go in order_id
   * order, so two batches holding the same orders cannot deadlock. When a
   * batch fails, each row is tried alone, so one bad row fails only its own
   * delivery.
   */
  const batched = groupCommitLoader<NewPayment, PaymentRow | undefined>(
    async (batch) => {
      if (batch.length === 1) return [await insertOne(batch[0]!)];
      const rows = sortedBy(batch, (p) => p.orderId);
      const column = <T>(f: (p: NewPayment) => T) => rows.map(f);
      let inserted: PaymentRow[];
      try {
        inserted = await sql.query<PaymentRow>('payments.insert-many', INSERT_MANY, [
          column((p) => p.id), column((p) => p.orderId), column((p) => p.amount), column((p) => p.amountMinor.toString()),
          column((p) => p.currency), column((p) => p.customerId), column((p) => p.paymentMethod), column((p) => p.snapshot.value),
          column((p) => JSON.stringify(p.snapshot)), column((p) => p.snapshot.version), column((p) => p.sourceEventId),
          column(historyDetail),
        ]);
      } catch {
        return Promise.all(batch.map((p) => insertOne(p).catch(asError)));
      }
      const byId = new Map(inserted.map((r) => [r.id, r]));
      return batch.map((p) => byId.get(p.id));
    },
    { maxBatchSize: INSERT_BATCH_MAX },
  );

  /** One commit in its own statement: the database's answer, or undefined when the version had moved on. */
  const commitOne = async (payment: Payment, w: TransitionWrite): Promise<CommitResult | undefined> => {
    const { name, text, optional } = commitStatement(w);
    const values: unknown[] = [
      payment.id, payment.version, w.snapshot.value, JSON.stringify(w.snapshot), w.snapshot.version,
      payment.status, w.event, json(w.detail), ...optional,
    ];
    const o = w.outbox;
    if (o) values.push(...outboxValues(o));
    return (await sql.query<CommitResult>(name, text, values))[0];
  };

  /**
   * Commits of the same shape share one statement when they meet in a batch
   * (see groupCommitLoader): jobs that loaded together start together, and
   * gateway answers read in one poll settle together. Rows go in id order,
   * as the inserts do. A batch that names a payment twice, or fails
   * (a deadlock included), is committed one by one, so each caller still
   * gets exactly its own answer.
   */
  type Commit = { payment: Payment; w: TransitionWrite };
  const commitLoader = (response: boolean, outbox: boolean) => {
    const statement = commitManyStatement(response, outbox);
    return groupCommitLoader<Commit, CommitResult | undefined>(
      async (batch) => {
        const one = ({ payment, w }: Commit) => commitOne(payment, w).catch(asError);
        if (batch.length === 1) return [await commitOne(batch[0]!.payment, batch[0]!.w)];
        if (new Set(batch.map((c) => c.payment.id)).size < batch.length) {
          const results = [];
          for (const c of batch) results.push(await one(c));
          return results;
        }
        const rows = sortedBy(batch, (c) => c.payment.id);
        const column = <T>(f: (c: Commit) => T) => rows.map(f);
        const values: unknown[][] = [
          column((c) => c.payment.id), column((c) => c.payment.version), column((c) => c.w.snapshot.value),
          column((c) => JSON.stringify(c.w.snapshot)), column((c) => c.w.snapshot.version), column((c) => c.payment.status),
          column((c) => c.w.event), column((c) => json(c.w.detail)), column((c) => c.w.transactionId), column((c) => c.w.gateway),
          column((c) => c.w.failureCode), column((c) => fitReason(c.w.failureReason)),
        ];
        if (response) values.push(column((c) => json(c.w.gatewayResponse)));
        if (outbox) {
          const events = rows.map((c) => outboxValues(c.w.outbox!));
          for (let k = 0; k < 5; k++) values.push(events.map((e) => e[k]));
        }
        let updated: Array<CommitResult & { id: string }>;
        try {
          updated = await sql.planned<CommitResult & { id: string }>(statement, values);
        } catch {
          return Promise.all(batch.map(one));
        }
        const byId = new Map(updated.map((r) => [r.id, r]));
        return batch.map((c) => byId.get(c.payment.id));
      },
      { maxBatchSize: INSERT_BATCH_MAX },
    );
  };
  /** By shape: [gateway response given][event written]. */
  const commitLoaders = [
    [commitLoader(false, false), commitLoader(false, true)],
    [commitLoader(true, false), commitLoader(true, true)],
  ] as const;
  /** The four columns every batched commit sets must be given (advance always gives them); otherwise the commit goes alone. */
  const batchable = (w: TransitionWrite) =>
    w.transactionId !== undefined && w.gateway !== undefined && w.failureCode !== undefined && w.failureReason !== undefined;

  /** A payment with its history, oldest first (the payment page): read through the models' relation, never batched. */
  const findWithHistory = async (orderId: string): Promise<{ payment: Payment; history: Transition[] } | undefined> => {
    const row = await Payments.query()
      .findOne({ order_id: orderId })
      .withGraphFetched('transitions')
      .modifyGraph('transitions', (q) => q.orderBy('id'));
    return row ? { payment: toPayment(row), history: (row.transitions ?? []).map(toTransition) } : undefined;
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
      const row = batchable(w)
        ? await commitLoaders[w.gatewayResponse === undefined ? 0 : 1][w.outbox ? 1 : 0].load({ payment, w })
        : await commitOne(payment, w);
      if (!row) return null;
      const changed = <K extends keyof TransitionWrite>(k: K, before: NonNullable<TransitionWrite[K]> | null) =>
        w[k] === undefined ? before : (w[k] as NonNullable<TransitionWrite[K]> | null);
      return {
        ...payment,
        status: w.snapshot.value,
        snapshot: w.snapshot,
        version: row.version,
        transactionId: changed('transactionId', payment.transactionId),
        gateway: changed('gateway', payment.gateway),
        gatewayResponse: changed('gatewayResponse', payment.gatewayResponse),
        failureCode: changed('failureCode', payment.failureCode),
        failureReason: w.failureReason === undefined ? payment.failureReason : fitReason(w.failureReason),
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

    /** An order's history, oldest first (empty when it has no payment). */
    async history(orderId: string): Promise<Transition[]> {
      return (await findWithHistory(orderId))?.history ?? [];
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
