import { randomBytes, randomUUID } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryReserved } from '../../scripts/lib/saga-client.js';
import type { Proc } from '../../scripts/lib/processes.js';
import { findCardNumbers } from '../../src/queues/card-data.js';
import { deploy, type Deployment } from '../support/e2e-harness.js';

/**
 * A full run at LOG_LEVEL=debug with card numbers thrown at every field the
 * service reads, plus transient gateway faults so the retry and look-up paths
 * log too. Afterwards every line the worker and the simulator wrote is
 * scanned: no card number, no API key, no admin token; every job line names
 * its order.
 */

const STRIPE_API_KEY = `sk_test_loghygiene${randomBytes(12).toString('hex')}`;
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

/** Test card numbers (Luhn-valid), written the ways people write them. */
const CARDS = ['4242424242424242', '4111 1111 1111 1111', '5555-5555-5555-4444', '378282246310005', '6011111111111117', '4000056655665556'];

describe('log hygiene: a full run at debug level never logs card data or secrets', () => {
  let d: Deployment;
  let worker: Proc;
  const valid = {
    completed: randomUUID(),
    declined: randomUUID(),
    insufficient: randomUUID(),
    invalid: randomUUID(),
    faulty: Array.from({ length: 10 }, () => randomUUID()),
  };
  let cardMessages = 0;
  const deadLettered: Array<{ headers: Record<string, unknown> }> = [];

  beforeAll(async () => {
    d = await deploy({
      workers: 1,
      // Errors before and after charging: the retry, look-up and unknown-outcome paths all log.
      simEnv: { LOG_LEVEL: 'debug', SIM_ERROR_RATE: '0.4', SIM_LOST_RESPONSE_RATE: '0.3', SIM_SEED: '7' },
      workerEnv: { LOG_LEVEL: 'debug', STRIPE_API_KEY, ADMIN_TOKEN, JOB_ATTEMPTS: '10' },
    });
    worker = d.workers[0]!;
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  async function publishCardData() {
    const order = () => ({ orderId: randomUUID(), amount: '10.00', currency: 'USD' });
    const attempts: Array<() => Promise<void>> = [
      () => d.client.publish(inventoryReserved({ ...order(), paymentMethod: CARDS[0]! })),
      () => d.client.publish(inventoryReserved({ ...order(), customerId: `cus_${CARDS[1]!.replaceAll(' ', '')}` })),
      () => d.client.publish(inventoryReserved({ ...order(), customerId: CARDS[1]! })),
      () => d.client.publishRaw(inventoryReserved(order()), { headers: { 'x-card': CARDS[2]!, traceparent: `00-${CARDS[3]}` } }),
      () => d.client.publishRaw({ ...inventoryReserved(order()), source: `pos/${CARDS[3]}` }),
      () => d.client.publishRaw({ ...inventoryReserved(order()), id: CARDS[4]! }),
      () => d.client.publishRaw(Buffer.from(`card ${CARDS[5]} exp 12/30`)),
      // Only visible once the JSON escapes are decoded.
      () => d.client.publishRaw(Buffer.from(JSON.stringify(inventoryReserved(order())).replace('"pm_card_visa"', `"${[...CARDS[0]!].map((c) => `\\u00${c.charCodeAt(0).toString(16)}`).join('')}"`))),
      () => d.client.publish(inventoryReserved({ ...order(), paymentMethod: `pm_${CARDS[4]}` })),
    ];
    for (const publish of attempts) await publish();
    cardMessages = attempts.length;
  }

  it('when valid, invalid and card-carrying events are processed, then no card number, key or token appears in any log line', async () => {
    await publishCardData();
    const completed = inventoryReserved({ orderId: valid.completed, amount: '49.99', currency: 'USD', paymentMethod: 'pm_card_visa' });
    await d.client.publish(completed);
    await d.client.publish(completed); // a redelivery: absorbed
    await d.client.publish(inventoryReserved({ orderId: valid.declined, amount: '12.00', currency: 'EUR', paymentMethod: 'pm_card_chargeDeclined' }));
    await d.client.publish(inventoryReserved({ orderId: valid.insufficient, amount: '5000', currency: 'JPY', paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' }));
    await d.client.publish(inventoryReserved({ orderId: valid.invalid, amount: '1.5', currency: 'USD', paymentMethod: 'pm_card_visa' }));
    for (const orderId of valid.faulty) await d.client.publish(inventoryReserved({ orderId, amount: '3.00', currency: 'GBP', customerId: 'cus_faulty' }));

    const orders = [valid.completed, valid.declined, valid.insufficient, valid.invalid, ...valid.faulty];
    await d.client.waitFor('a terminal event for every valid order', () => orders.every((o) => d.client.byOrder().has(o)), 90_000);
    // The same order with another amount, once the first has its payment: a conflict, dead-lettered with a logged reason.
    await d.client.publish(inventoryReserved({ orderId: valid.completed, amount: '50.00', currency: 'USD', paymentMethod: 'pm_card_visa' }));

    // The ops server, asked with the admin token and with a card number as a bearer token.
    const http = d.httpUrlOf(worker);
    expect((await fetch(`${http}/payments/${valid.completed}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
    await fetch(`${http}/admin/queues`, { headers: { authorization: `Bearer ${CARDS[0]}` } });
    await waitUntil(async () => {
      deadLettered.push(...(await d.client.deadLetters()));
      return deadLettered.length >= cardMessages + 1;
    }, 'every card message and the conflict dead-lettered');
    expect(deadLettered.filter((m) => m.headers['x-error'] === 'card data not accepted')).toHaveLength(cardMessages);

    // Stop the worker so everything it wrote is read to the end.
    await worker.stop('SIGTERM');
    await finished(worker.child.stdout!).catch(() => undefined);
    await finished(worker.child.stderr!).catch(() => undefined);

    const lines = [...worker.lines, ...d.simulator.lines];
    expect(worker.lines.some((l) => l.includes('"level":20')), 'debug lines were written').toBe(true);
    expect(worker.lines.some((l) => l.includes('refused a message carrying card data'))).toBe(true);
    const leaks = lines.filter((l) => findCardNumbers(withoutMadeHere(l)).length > 0);
    expect(leaks, 'lines with a card number').toEqual([]);
    expect(lines.filter((l) => l.includes(STRIPE_API_KEY)), 'lines with the Stripe API key').toEqual([]);
    expect(lines.filter((l) => l.includes(ADMIN_TOKEN)), 'lines with the admin token').toEqual([]);
  }, 180_000);

  it('then every worker line about a job names its order and payment', () => {
    const jobLines = worker.lines.map(parse).filter((l): l is Record<string, unknown> => l !== undefined && 'jobId' in l);
    expect(jobLines.length, 'job lines were written (retries, settlements)').toBeGreaterThan(0);
    expect(jobLines.filter((l) => typeof l.orderId !== 'string' || typeof l.paymentId !== 'string')).toEqual([]);
    expect(jobLines.filter((l) => l.jobId !== l.orderId), 'job id = order id').toEqual([]);
    // The retry path was logged too, so the check covers more than the happy path.
    expect(jobLines.some((l) => l.level === 40)).toBe(true);
  });

  it('then no payment method token is written in a log line', () => {
    const tokens = ['pm_card_visa', 'pm_card_chargeDeclined'];
    expect(worker.lines.filter((l) => tokens.some((t) => l.includes(t)))).toEqual([]);
  });
});

/**
 * Blanks what this system made itself and a card-number scan would misread,
 * as card-data.ts blanks UUIDs: JSON numbers with a fraction (the simulator's
 * random rolls, `0.8333689128048718`: 16 digits after the point pass Luhn one
 * time in ten) and the simulator's hex object ids (`pi_sim<24 hex>`: about
 * one in a thousand holds a Luhn-valid run of 13+ digits). Text from a
 * message is always a JSON string of another shape, and is scanned whole.
 */
function withoutMadeHere(line: string): string {
  return line
    .replace(/([:,[]\s*)-?\d+\.\d+(?:[eE][+-]?\d+)?(?=\s*[,}\]])/g, '$1 0')
    .replace(/\b([a-z]{2,4})_sim[0-9a-f]{12,32}\b/g, '$1_sim');
}

function parse(line: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(line) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
