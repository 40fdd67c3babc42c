import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { PAYMENT_MACHINE_VERSION } from '../../src/machines/payment.machine.js';
import { applyPaymentEvent, createPaymentSnapshot, type StoredSnapshot } from '../../src/machines/payment.snapshot.js';
import { formatAmount } from '../../src/money.js';
import { DISCREPANCY_CLASSES, zeroCounts, type ClassCounts } from '../../src/reconciliation/reconciliation.repository.js';
import { seedCharges, type SeededCharge } from '../lib/sim-seed.js';

/**
 * Both sides of a reconciliation window at scale: N succeeded charges at the
 * simulator, and for each the `payments` row a worker would have left after
 * charging it (Success, its intent as transaction id), written a batch at a
 * time so neither side is ever held whole. A few are made wrong on purpose.
 */

const CURRENCY = 'USD';
const GATEWAY = 'stripe';
/** Charges per batch, and payment rows per insert: 1,000 rows of 14 columns stay under PostgreSQL's 65,535 parameters. */
const BATCH = 1000;

/** Which charges are made wrong, by index: spread over the run, so a page or batch edge is no excuse. */
export interface Planted {
  /** Charged at the gateway, no payment row here: charge_without_payment. */
  withoutPayment: ReadonlySet<number>;
  /** The payment row's amount is one minor unit more than the charge: amount_mismatch. */
  amountChanged: ReadonlySet<number>;
}

export function plant(count: number): Planted {
  const at = (fractions: number[]) => new Set(fractions.map((f) => Math.min(count - 1, Math.floor(count * f))));
  return { withoutPayment: at([0.1, 0.5, 0.9]), amountChanged: at([0.3, 0.7]) };
}

/** What a pass over the whole window must find, class by class. */
export function expectedCounts(p: Planted): ClassCounts {
  return { ...zeroCounts(), charge_without_payment: p.withoutPayment.size, amount_mismatch: p.amountChanged.size };
}

export const sameCounts = (a: ClassCounts, b: ClassCounts) => DISCREPANCY_CLASSES.every((c) => a[c] === b[c]);

/** Amounts vary (1.00 to 999.99) so a payment matched to the wrong charge would show as a mismatch. */
const amountOf = (i: number) => String(100 + ((i * 7919) % 99_900));

/**
 * The snapshot a charged payment holds, made by the machine once per batch
 * (START then CHARGE_SUCCEEDED, as seedSucceeded in tests does); each row gets
 * its own ids and amount. Running the machine per row would double the seeding time.
 */
function chargedTemplate(c: SeededCharge): StoredSnapshot {
  const initiated = createPaymentSnapshot({ orderId: c.orderId, paymentId: randomUUID(), amountMinor: c.amount, currency: c.currency, maxAttempts: 3 });
  const started = applyPaymentEvent(initiated, { type: 'START' });
  const charged = applyPaymentEvent(started.snapshot, { type: 'CHARGE_SUCCEEDED', transactionId: c.id, gateway: GATEWAY });
  if (charged.snapshot.value !== 'Success') throw new Error(`the machine left a charged payment ${charged.snapshot.value}, not Success`);
  return charged.snapshot;
}

function paymentRow(c: SeededCharge, index: number, template: StoredSnapshot, planted: Planted) {
  const id = randomUUID();
  const amountMinor = BigInt(c.amount) + (planted.amountChanged.has(index) ? 1n : 0n);
  // The snapshot keeps the charge's own amount: only the row's columns are made wrong, as in the e2e test.
  const snapshot = { ...template, context: { ...template.context, orderId: c.orderId, paymentId: id, amountMinor: c.amount, transactionId: c.id } };
  return {
    id, order_id: c.orderId, amount: formatAmount(amountMinor, c.currency), amount_minor: amountMinor.toString(), currency: c.currency,
    customer_id: 'cus_scale', payment_method: 'pm_card_visa', status: 'Success', transaction_id: c.id, gateway: GATEWAY,
    snapshot: JSON.stringify(snapshot), machine_version: PAYMENT_MACHINE_VERSION, version: 2, completed_at: new Date(),
  };
}

/** Seeds `count` charges and their payments; `onBatch` hears how far it got. Holds one batch at a time. */
export async function seedLedgerAndPayments(
  o: { knex: Knex; gatewayUrl: string; count: number; planted: Planted; onBatch?: (seeded: number) => void },
): Promise<void> {
  let index = 0;
  for await (const batch of seedCharges({ url: o.gatewayUrl, count: o.count, currency: CURRENCY, amountOf, batchSize: BATCH })) {
    const template = chargedTemplate(batch[0]!);
    const rows = [];
    for (const charge of batch) {
      if (!o.planted.withoutPayment.has(index)) rows.push(paymentRow(charge, index, template, o.planted));
      index += 1;
    }
    if (rows.length) await o.knex('payments').insert(rows);
    o.onBatch?.(index);
  }
}
