import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { LedgerCharge, LedgerRefund } from '../gateway/gateway.port.js';

/**
 * Reconciliation's tables (migration 20261208000001): the passes, their
 * discrepancies, and the gateway's side of a pass staged page by page. The
 * comparison is SQL over the staged rows and the payments, one statement per
 * class of CONTRACT.md §9, so memory stays flat however long the window.
 */

export const DISCREPANCY_CLASSES = [
  'charged_but_unsettled',
  'charged_but_failed',
  'charge_without_payment',
  'duplicate_charge',
  'success_without_charge',
  'amount_mismatch',
  'refund_mismatch',
] as const;
export type DiscrepancyClass = (typeof DISCREPANCY_CLASSES)[number];
export type ClassCounts = Record<DiscrepancyClass, number>;

export const zeroCounts = (): ClassCounts => Object.fromEntries(DISCREPANCY_CLASSES.map((c) => [c, 0])) as ClassCounts;

export type RepairOutcome = 'none' | 'report_only' | 'repaired' | 'refused' | 'failed';

export interface Discrepancy {
  id: string;
  passId: string;
  class: DiscrepancyClass;
  orderId: string | null;
  paymentId: string | null;
  paymentStatus: string | null;
  gateway: string | null;
  intentId: string | null;
  gatewayRefundId: string | null;
  refundId: string | null;
  amountMinor: string | null;
  currency: string | null;
  detail: string;
  facts: Record<string, string | null>;
  repair: RepairOutcome;
  repairDetail: string | null;
}

export interface PassRow {
  id: string;
  since: Date;
  until: Date;
  repair: boolean;
  status: 'running' | 'completed' | 'failed';
  startedBy: string | null;
  payments: number | null;
  charges: number | null;
  refunds: number | null;
  discrepancies: ClassCounts | null;
  repaired: ClassCounts | null;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface ClassifyWindow {
  passId: string;
  since: Date;
  until: Date;
  /** Payments and charges changed after this are in flight, not discrepancies (yet). */
  settledBefore: Date;
}

const CLASSIFY_TIMEOUT = '10min';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CHARGED = `('Success','PartiallyRefunded','Refunded','Disputed')`;
const seconds = (unix: number) => new Date(unix * 1000);

/**
 * The gateway's charges that still hold money: succeeded, less what is refunded
 * or being refunded, created in the window and not in flight.
 */
const LIVE_CHARGES = `
  WITH refunded AS (
    SELECT intent_id, sum(amount_minor) AS minor FROM reconciliation_gateway_refunds
    WHERE pass_id = :passId AND status IN ('succeeded','pending') GROUP BY intent_id
  ), live AS (
    SELECT c.gateway, c.intent_id, c.order_id, c.order_ref, c.amount_minor, c.currency, c.created,
           c.amount_minor - coalesce(r.minor, 0) AS live_minor
    FROM reconciliation_gateway_charges c LEFT JOIN refunded r ON r.intent_id = c.intent_id
    WHERE c.pass_id = :passId AND c.status = 'succeeded' AND c.created BETWEEN :since AND :until
      AND c.created < :settledBefore AND c.amount_minor - coalesce(r.minor, 0) > 0
  )`;

/** Payments of the window whose charge is over (so the gateway must hold it), not in flight. */
const CHARGED_PAYMENTS = `p.created_at BETWEEN :since AND :until AND p.status IN ${CHARGED} AND p.updated_at < :settledBefore`;

const INSERT = `INSERT INTO reconciliation_discrepancies
  (pass_id, class, order_id, payment_id, payment_status, gateway, intent_id, gateway_refund_id, refund_id, amount_minor, currency, detail, facts, repair)`;

/** One statement per class: each inserts that class's discrepancies of the pass. */
const CLASSIFY: Record<DiscrepancyClass, string> = {
  charge_without_payment: `${INSERT}
    ${LIVE_CHARGES}
    SELECT CAST(:passId AS uuid), 'charge_without_payment', NULL, NULL, NULL, l.gateway, l.intent_id, NULL, NULL, l.live_minor, l.currency,
      'the gateway charged ' || l.live_minor || ' ' || l.currency || ' for ' ||
        CASE WHEN l.order_ref IS NULL THEN 'no order (no orderId in its metadata)' ELSE 'order ' || l.order_ref || ', which is not known here' END,
      jsonb_build_object('orderRef', l.order_ref), 'report_only'
    FROM live l LEFT JOIN payments p ON p.order_id = l.order_id
    WHERE p.id IS NULL`,

  charged_but_unsettled: `${INSERT}
    ${LIVE_CHARGES}
    SELECT DISTINCT ON (p.id) CAST(:passId AS uuid), 'charged_but_unsettled', p.order_id, p.id, p.status, l.gateway, l.intent_id, NULL, NULL, l.amount_minor, l.currency,
      'the gateway charged ' || l.intent_id || '; the payment is still ' || p.status,
      '{}'::jsonb, 'none'
    FROM live l JOIN payments p ON p.order_id = l.order_id
    WHERE p.status IN ('Initiated','Processing') AND p.updated_at < :settledBefore
    ORDER BY p.id, l.created`,

  charged_but_failed: `${INSERT}
    ${LIVE_CHARGES}
    SELECT CAST(:passId AS uuid), 'charged_but_failed', p.order_id, p.id, p.status, l.gateway, l.intent_id, NULL, NULL, l.live_minor, l.currency,
      'the gateway charged ' || l.intent_id || ' (' || l.live_minor || ' ' || l.currency || ' held); the payment is Failed and the saga was told so',
      '{}'::jsonb, 'none'
    FROM live l JOIN payments p ON p.order_id = l.order_id
    WHERE p.status = 'Failed'`,

  duplicate_charge: `${INSERT}
    ${LIVE_CHARGES}
    SELECT CAST(:passId AS uuid), 'duplicate_charge', p.order_id, p.id, p.status, l.gateway, l.intent_id, NULL, NULL, l.live_minor, l.currency,
      'a second charge ' || l.intent_id || ' (' || l.live_minor || ' ' || l.currency || ' held) besides the recorded ' || coalesce(p.transaction_id, '(none)'),
      '{}'::jsonb, 'none'
    FROM live l JOIN payments p ON p.order_id = l.order_id
    WHERE p.status IN ${CHARGED} AND l.intent_id IS DISTINCT FROM p.transaction_id`,

  success_without_charge: `${INSERT}
    SELECT CAST(:passId AS uuid), 'success_without_charge', p.order_id, p.id, p.status, p.gateway, p.transaction_id, NULL, NULL, p.amount_minor, p.currency,
      'the payment is ' || p.status || ' with charge ' || coalesce(p.transaction_id, '(none)') || ', which the gateway has not charged',
      '{}'::jsonb, 'report_only'
    FROM payments p
    WHERE ${CHARGED_PAYMENTS} AND NOT EXISTS (
      SELECT 1 FROM reconciliation_gateway_charges c
      WHERE c.pass_id = :passId AND c.intent_id = p.transaction_id AND c.status = 'succeeded')`,

  amount_mismatch: `${INSERT}
    SELECT CAST(:passId AS uuid), 'amount_mismatch', p.order_id, p.id, p.status, c.gateway, c.intent_id, NULL, NULL, c.amount_minor, c.currency,
      'the gateway charged ' || c.amount_minor || ' ' || c.currency || '; the payment is for ' || p.amount_minor || ' ' || p.currency,
      jsonb_build_object('paymentAmountMinor', p.amount_minor::text, 'paymentCurrency', p.currency), 'report_only'
    FROM payments p JOIN reconciliation_gateway_charges c ON c.pass_id = :passId AND c.intent_id = p.transaction_id AND c.status = 'succeeded'
    WHERE ${CHARGED_PAYMENTS} AND (c.amount_minor <> p.amount_minor OR c.currency <> p.currency)`,

  // Two sides: a refund of the payment's own charge at the gateway that differs here (or is missing here),
  // and one recorded here as moving money that the gateway does not have.
  refund_mismatch: `${INSERT}
    SELECT CAST(:passId AS uuid), 'refund_mismatch', p.order_id, p.id, p.status, c.gateway, c.intent_id, g.gateway_refund_id, l.id, g.amount_minor, g.currency,
      CASE WHEN l.id IS NULL THEN 'the gateway has refund ' || g.gateway_refund_id || ' (' || g.amount_minor || ' ' || g.currency || ', ' || g.status || ') that is not recorded here'
           ELSE 'refund ' || l.id || ' is ' || l.status || ' of ' || coalesce(l.amount_minor::text, 'no amount') || ' here, ' || g.status || ' of ' || g.amount_minor || ' at the gateway (' || g.gateway_refund_id || ')' END,
      jsonb_build_object('gatewayStatus', g.status, 'localStatus', l.status, 'localAmountMinor', l.amount_minor::text, 'refundRef', g.refund_ref), 'none'
    FROM payments p
    JOIN reconciliation_gateway_charges c ON c.pass_id = :passId AND c.intent_id = p.transaction_id AND c.status = 'succeeded'
    JOIN reconciliation_gateway_refunds g ON g.pass_id = :passId AND g.intent_id = c.intent_id
    LEFT JOIN LATERAL (
      SELECT r.id, r.status, r.amount_minor FROM refunds r
      WHERE r.order_id = p.order_id AND r.payment_intent IS NULL
        AND (r.gateway_refund_id = g.gateway_refund_id OR (r.gateway_refund_id IS NULL AND r.id::text = g.refund_ref))
      ORDER BY (r.gateway_refund_id = g.gateway_refund_id) DESC NULLS LAST LIMIT 1
    ) l ON true
    WHERE ${CHARGED_PAYMENTS} AND g.created < :settledBefore AND (
      (l.id IS NULL AND g.status IN ('succeeded','pending'))
      OR l.amount_minor IS DISTINCT FROM g.amount_minor AND l.id IS NOT NULL
      OR (g.status = 'succeeded' AND l.status <> 'succeeded')
      OR (g.status IN ('failed','canceled') AND l.status IN ('succeeded','pending'))
      OR (g.status = 'pending' AND l.status = 'succeeded'))
    UNION ALL
    SELECT CAST(:passId AS uuid), 'refund_mismatch', p.order_id, p.id, p.status, p.gateway, p.transaction_id, r.gateway_refund_id, r.id, r.amount_minor, r.currency,
      'refund ' || r.id || ' is ' || r.status || ' here as ' || r.gateway_refund_id || ', which the gateway does not have',
      jsonb_build_object('localStatus', r.status), 'report_only'
    FROM payments p JOIN refunds r ON r.order_id = p.order_id AND r.payment_intent IS NULL
    WHERE ${CHARGED_PAYMENTS} AND r.status IN ('succeeded','pending') AND r.gateway_refund_id IS NOT NULL
      AND r.updated_at < :settledBefore
      AND NOT EXISTS (SELECT 1 FROM reconciliation_gateway_refunds g WHERE g.pass_id = :passId AND g.gateway_refund_id = r.gateway_refund_id)`,
};

function toDiscrepancy(row: Record<string, unknown>): Discrepancy {
  return {
    id: String(row.id),
    passId: row.pass_id as string,
    class: row.class as DiscrepancyClass,
    orderId: row.order_id as string | null,
    paymentId: row.payment_id as string | null,
    paymentStatus: row.payment_status as string | null,
    gateway: row.gateway as string | null,
    intentId: row.intent_id as string | null,
    gatewayRefundId: row.gateway_refund_id as string | null,
    refundId: row.refund_id as string | null,
    amountMinor: row.amount_minor === null ? null : String(row.amount_minor),
    currency: row.currency as string | null,
    detail: row.detail as string,
    facts: (row.facts ?? {}) as Record<string, string | null>,
    repair: row.repair as RepairOutcome,
    repairDetail: row.repair_detail as string | null,
  };
}

function toPass(row: Record<string, unknown>): PassRow {
  return {
    id: row.id as string,
    since: row.since as Date,
    until: row.until as Date,
    repair: row.repair as boolean,
    status: row.status as PassRow['status'],
    startedBy: row.started_by as string | null,
    payments: row.payments as number | null,
    charges: row.charges as number | null,
    refunds: row.refunds as number | null,
    discrepancies: row.discrepancies as ClassCounts | null,
    repaired: row.repaired as ClassCounts | null,
    error: row.error as string | null,
    startedAt: row.started_at as Date,
    finishedAt: row.finished_at as Date | null,
  };
}

export function createReconciliationRepository(knex: Knex) {
  return {
    async startPass(p: { since: Date; until: Date; repair: boolean; startedBy: string }): Promise<string> {
      const id = randomUUID();
      await knex('reconciliation_passes').insert({ id, since: p.since, until: p.until, repair: p.repair, started_by: p.startedBy });
      return id;
    },

    /** Passes left `running` by a process that died mid-pass (its lock expired long ago): marked failed, staging dropped. */
    async abandonStale(olderThan: Date): Promise<number> {
      const stale = await knex('reconciliation_passes').where('status', 'running').andWhere('started_at', '<', olderThan).pluck('id');
      if (!stale.length) return 0;
      await knex('reconciliation_passes').whereIn('id', stale).update({ status: 'failed', finished_at: knex.fn.now(), error: 'the process running it stopped mid-pass' });
      await this.dropStaging(stale);
      return stale.length;
    },

    async stageCharges(passId: string, gateway: string, charges: LedgerCharge[]): Promise<void> {
      if (!charges.length) return;
      await knex('reconciliation_gateway_charges')
        .insert(charges.map((c) => ({
          pass_id: passId, gateway, intent_id: c.intentId, order_ref: c.orderRef, order_id: c.orderRef && UUID.test(c.orderRef) ? c.orderRef : null,
          amount_minor: c.amountMinor.toString(), currency: c.currency, status: c.status, created: seconds(c.created),
        })))
        .onConflict(['pass_id', 'intent_id'])
        .ignore();
    },

    async stageRefunds(passId: string, gateway: string, refunds: LedgerRefund[]): Promise<void> {
      if (!refunds.length) return;
      await knex('reconciliation_gateway_refunds')
        .insert(refunds.map((r) => ({
          pass_id: passId, gateway, gateway_refund_id: r.gatewayRefundId, intent_id: r.intentId, refund_ref: r.refundRef,
          amount_minor: r.amountMinor.toString(), currency: r.currency, status: r.status, created: seconds(r.created),
        })))
        .onConflict(['pass_id', 'gateway_refund_id'])
        .ignore();
    },

    /** Writes every class's discrepancies for the pass; returns the count of each. */
    async classify(w: ClassifyWindow): Promise<ClassCounts> {
      const counts = zeroCounts();
      // The staged rows arrived seconds ago, too soon for autovacuum: without statistics the planner
      // takes a window's charges for a single row and joins them one index look-up at a time.
      await knex.raw('ANALYZE reconciliation_gateway_charges, reconciliation_gateway_refunds');
      for (const cls of DISCREPANCY_CLASSES) {
        // A window's comparison may take longer than the per-payment statements' timeout (db.ts): this one gets minutes.
        counts[cls] = await knex.transaction(async (trx) => {
          await trx.raw(`SET LOCAL statement_timeout = '${CLASSIFY_TIMEOUT}'`);
          return ((await trx.raw(CLASSIFY[cls], { ...w })) as { rowCount: number }).rowCount;
        });
      }
      return counts;
    },

    /** The gateway's charges the pass listed inside its window (any status). */
    async chargesInWindow(w: Pick<ClassifyWindow, 'passId' | 'since' | 'until'>): Promise<number> {
      const row = await knex('reconciliation_gateway_charges').where('pass_id', w.passId).whereBetween('created', [w.since, w.until]).count<{ n: string }[]>({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },

    async paymentsInWindow(since: Date, until: Date): Promise<number> {
      const row = await knex('payments').whereBetween('created_at', [since, until]).count<{ n: string }[]>({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },

    /** The pass's discrepancies after `afterId`, in order: repairs and reports walk them in bounded batches. */
    async discrepancies(passId: string, afterId = '0', limit = 200): Promise<Discrepancy[]> {
      const rows = await knex('reconciliation_discrepancies').where('pass_id', passId).andWhere('id', '>', afterId).orderBy('id').limit(limit);
      return rows.map(toDiscrepancy);
    },

    async recordRepair(id: string, repair: RepairOutcome, detail: string | null): Promise<void> {
      await knex('reconciliation_discrepancies').where({ id }).update({ repair, repair_detail: detail });
    },

    async finishPass(id: string, f: { payments: number; charges: number; refunds: number; discrepancies: ClassCounts; repaired: ClassCounts }): Promise<void> {
      await knex('reconciliation_passes').where({ id }).update({
        status: 'completed', finished_at: knex.fn.now(), payments: f.payments, charges: f.charges, refunds: f.refunds,
        discrepancies: JSON.stringify(f.discrepancies), repaired: JSON.stringify(f.repaired),
      });
    },

    async failPass(id: string, error: string): Promise<void> {
      await knex('reconciliation_passes').where({ id }).update({ status: 'failed', finished_at: knex.fn.now(), error: error.slice(0, 2000) });
    },

    async dropStaging(passIds: string[]): Promise<void> {
      await knex('reconciliation_gateway_charges').whereIn('pass_id', passIds).delete();
      await knex('reconciliation_gateway_refunds').whereIn('pass_id', passIds).delete();
    },

    async latestPasses(limit = 10): Promise<PassRow[]> {
      return (await knex('reconciliation_passes').orderBy('started_at', 'desc').limit(limit)).map(toPass);
    },

    /** When the last completed pass started: the periodic pass runs when the interval has passed since. */
    async lastCompletedStart(): Promise<Date | undefined> {
      const row = await knex('reconciliation_passes').where('status', 'completed').max<{ at: Date | null }[]>({ at: 'started_at' }).first();
      return row?.at ?? undefined;
    },

    /** The latest completed pass's discrepancies that no repair mended: what an operator still has to look at. */
    async openDiscrepancies(passId: string, limit = 500): Promise<Discrepancy[]> {
      const rows = await knex('reconciliation_discrepancies').where('pass_id', passId).whereNot('repair', 'repaired').orderBy('id').limit(limit);
      return rows.map(toDiscrepancy);
    },
  };
}

export type ReconciliationRepository = ReturnType<typeof createReconciliationRepository>;
