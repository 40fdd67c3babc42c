import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { connectionOf } from '../../src/gateway/stripe.gateway.js';

/**
 * Fills a running gateway simulator with succeeded charges, for scale runs
 * and reconciliation tests. Each one is a payment intent created and
 * confirmed in one call through the official `stripe` package, as a real
 * charge is made, so the simulator holds exactly what it holds after real
 * traffic (intent, charge, ledger entry, event) and needs no route of its own.
 *
 * Charges come back a batch at a time, in index order, and the next batch is
 * only made once the caller asks for it: a caller that stores or counts each
 * batch and lets it go never holds all N, nor does this module.
 */
export interface SeedChargesOptions {
  /** The simulator's base URL, e.g. `http://127.0.0.1:12111`. */
  url: string;
  count: number;
  /** ISO 4217, e.g. `USD` (the default); sent lower case, as Stripe spells it. */
  currency?: string;
  /** The i-th charge's amount: minor units as a decimal string ("4999"). Default "1000". */
  amountOf?: (index: number) => string;
  /** The i-th charge's order id (its metadata.orderId). Default a random UUID. */
  orderIdOf?: (index: number) => string;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Charges per batch handed back. */
  batchSize?: number;
}

export interface SeededCharge {
  /** The payment intent's id. */
  id: string;
  orderId: string;
  /** Minor units as a decimal string. */
  amount: string;
  /** ISO 4217, upper case, as the simulator's ledger. */
  currency: string;
  /** Unix seconds, on the simulator's clock. */
  created: number;
}

// Enough to keep a two-core simulator busy; past that, requests in flight mostly wait in its queue.
const DEFAULT_CONCURRENCY = 32;
const DEFAULT_BATCH_SIZE = 1000;

export async function* seedCharges(options: SeedChargesOptions): AsyncGenerator<SeededCharge[]> {
  const { url, count, batchSize = DEFAULT_BATCH_SIZE } = options;
  // The key below makes a retried create charge once, so the package may retry a dropped connection.
  const stripe = new Stripe('sk_test_sim_seed', { ...connectionOf(url), maxNetworkRetries: 2, telemetry: false });
  for (let from = 0; from < count; from += batchSize) {
    yield await seedBatch(stripe, options, from, Math.min(count, from + batchSize));
  }
}

/** Charges [from, to) with `concurrency` requests in flight; the first failure stops every lane and is thrown. */
async function seedBatch(stripe: Stripe, options: SeedChargesOptions, from: number, to: number): Promise<SeededCharge[]> {
  const batch: SeededCharge[] = new Array(to - from);
  let next = from;
  let failed = false;
  async function lane(): Promise<void> {
    while (next < to && !failed) {
      const index = next++;
      try {
        batch[index - from] = await seedOne(stripe, options, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  }
  const lanes = Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, to - from);
  await Promise.all(Array.from({ length: lanes }, lane));
  return batch;
}

async function seedOne(stripe: Stripe, options: SeedChargesOptions, index: number): Promise<SeededCharge> {
  const { currency = 'USD', amountOf = () => '1000', orderIdOf = () => randomUUID() } = options;
  const orderId = orderIdOf(index);
  const amount = amountOf(index);
  if (!/^[1-9]\d{0,7}$/.test(amount)) throw new RangeError(`charge ${index}: amount must be minor units as a decimal string, not ${amount}`);
  const intent = await stripe.paymentIntents.create(
    // Stripe's API takes a number: at most eight digits, so exact.
    { amount: Number(amount), currency: currency.toLowerCase(), payment_method: 'pm_card_visa', confirm: true, metadata: { orderId } },
    { idempotencyKey: `${orderId}-seed-charge` },
  );
  if (intent.status !== 'succeeded') throw new Error(`charge ${index} for order ${orderId} ended ${intent.status}, not succeeded`);
  return { id: intent.id, orderId, amount, currency: currency.toUpperCase(), created: intent.created };
}
