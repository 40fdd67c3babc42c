import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryReserved } from '../../scripts/lib/saga-client.js';
import { createKnex } from '../../src/persistence/db.js';
import { containsCardNumber } from '../../src/queues/card-data.js';
import { deploy, type Deployment } from '../support/e2e-harness.js';

/**
 * Card numbers written the ways that used to get past the detector, and
 * message shapes that used to make the scan or the validators fall over
 * (stack overflows before the handler's `try`: a nack, twenty redeliveries,
 * every process demoted in turn), thrown at two real worker processes between
 * good orders. Each hostile message must be dead-lettered exactly once, on
 * its first delivery, with `x-error`, and the number must be nowhere: not in
 * the dead letters, the logs, the database or the published events, in any
 * digit form. The workers stay up and every good order completes.
 */

const CARD = '4111111111111111';
const fullwidth = (s: string) => s.replace(/\d/g, (d) => String.fromCodePoint(0xff10 + Number(d)));
const arabicIndic = (s: string) => s.replace(/\d/g, (d) => String.fromCodePoint(0x660 + Number(d)));
const grouped = (separator: string) => CARD.match(/.{4}/g)!.join(separator);

type Publish = (d: Deployment, headers: Record<string, unknown>) => Promise<void>;
const order = () => ({ orderId: randomUUID(), amount: '10.00', currency: 'USD', paymentMethod: 'pm_card_visa' });
const event = (data: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) => {
  const e = inventoryReserved(order());
  return { ...e, ...envelope, data: { ...e.data, ...data } };
};
const raw = (body: Buffer | object, props: Record<string, unknown> = {}): Publish => (d, headers) =>
  d.client.publishRaw(body, { ...props, headers: { ...headers, ...(props.headers as object) } });

/** Each case: how it is sent, and the x-error its one dead letter must carry. */
const CASES: Record<string, { publish: Publish; error: RegExp }> = {
  hexGlued: { publish: raw(event({ customerId: `cus_ab${CARD}` })), error: /^card data not accepted$/ },
  dots: { publish: raw(event({ customerId: grouped('.') })), error: /^card data not accepted$/ },
  underscores: { publish: raw(event({ paymentMethod: `pm_${grouped('_')}` })), error: /^card data not accepted$/ },
  noBreakSpaces: { publish: raw(event({}, { source: `pos ${grouped('\u00a0')}` })), error: /^card data not accepted$/ },
  doubleSpaces: { publish: raw(event({}, { note: grouped('  ') })), error: /^card data not accepted$/ },
  fullwidth: { publish: raw(event({ customerId: fullwidth(CARD) })), error: /^card data not accepted$/ },
  arabicIndic: { publish: raw(event({ note: arabicIndic(grouped(' ')) })), error: /^card data not accepted$/ },
  exponent: {
    publish: raw(Buffer.from(JSON.stringify(event()).replace('"amount":"10.00"', '"amount":"10.00","n":4.111111111111111e15'))),
    error: /^card data not accepted$/,
  },
  headerKey: { publish: raw(event(), { headers: { [`x-${grouped('-')}`]: 'k' } }), error: /^card data not accepted$/ },
  numericHeader: { publish: raw(event(), { headers: { 'x-number': Number(CARD) } }), error: /^card data not accepted$/ },
  fullwidthHeader: { publish: raw(event(), { headers: { 'x-note': fullwidth(grouped(' ')) } }), error: /^card data not accepted$/ },
  contentType: { publish: raw(event(), { contentType: `application/json; card=${grouped('.')}` }), error: /^card data not accepted$/ },
  // About 64 KiB of single digits, the card's among them: the scan used to overflow the stack.
  singleDigits: {
    publish: raw(Buffer.from(Array.from({ length: 32_000 }, (_, i) => CARD[i % 16]).join(' '))),
    error: /^card data not accepted$/,
  },
  deepArrays: {
    publish: raw(Buffer.from(`{"specversion":"1.0","data":${'['.repeat(5000)}"x"${']'.repeat(5000)}}`)),
    error: /nested more than 32 levels deep/,
  },
  deepArraysWithCard: {
    publish: raw(Buffer.from(`{"specversion":"1.0","data":${'['.repeat(5000)}"${CARD}"${']'.repeat(5000)}}`)),
    error: /^card data not accepted$/,
  },
  multiMiB: {
    publish: raw(Buffer.from(`{"card":"${CARD}","pad":"${'p'.repeat(3 * 1024 * 1024)}"}`)),
    error: /bytes: at most 65536 \(64 KiB\) are accepted/,
  },
};

/** Text with every Unicode digit and compatibility form folded to ASCII, as the scanner sees it. */
function folded(text: string): string {
  return [...text.normalize('NFKC')]
    .map((c) => {
      if (!/\p{Nd}/u.test(c)) return c;
      let zero = c.codePointAt(0)!;
      while (/\p{Nd}/u.test(String.fromCodePoint(zero - 1))) zero--;
      return String((c.codePointAt(0)! - zero) % 10);
    })
    .join('');
}

/** The number, whole, in any digit form and with any separators, is not in the text. */
function expectNoCard(what: string, text: string): void {
  const plain = folded(text);
  expect(containsCardNumber(text), `${what} holds a card number`).toBe(false);
  expect(plain.replace(/[^0-9*A-Za-z]+/g, ''), `${what} holds the card's digits`).not.toContain(CARD.slice(0, 12));
}

describe('hostile input: card numbers in every form and poison shapes, between good orders, on two workers', () => {
  let d: Deployment;
  const good: string[] = [];
  const deadLetters: Array<{ content: Buffer; headers: Record<string, unknown> }> = [];

  beforeAll(async () => {
    d = await deploy({ workers: 2 });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  it('when each hostile message is sent between good orders, then each is dead-lettered once with x-error and every good order completes', async () => {
    const started = Date.now();
    for (const [name, { publish }] of Object.entries(CASES)) {
      const o = order();
      good.push(o.orderId);
      await d.client.publish(inventoryReserved(o));
      await publish(d, { 'x-case': name });
    }
    await d.client.waitFor('a terminal event for every good order', () => good.every((id) => d.client.byOrder().has(id)), 60_000);
    const deadline = Date.now() + 30_000;
    while (deadLetters.length < Object.keys(CASES).length && Date.now() < deadline) {
      deadLetters.push(...(await d.client.deadLetters()));
      if (deadLetters.length < Object.keys(CASES).length) await new Promise((r) => setTimeout(r, 200));
    }
    // Settled on the first delivery: a nack loop would have taken minutes, and the copy would carry x-delivery-count.
    expect(Date.now() - started).toBeLessThan(60_000);
    const byCase = new Map<string, Array<Record<string, unknown>>>();
    for (const m of deadLetters) byCase.set(String(m.headers['x-case']), [...(byCase.get(String(m.headers['x-case'])) ?? []), m.headers]);
    for (const [name, { error }] of Object.entries(CASES)) {
      const copies = byCase.get(name) ?? [];
      expect(copies.length, `dead letters for ${name}`).toBe(1);
      expect(String(copies[0]!['x-error']), `x-error for ${name}`).toMatch(error);
      expect(Number(copies[0]!['x-delivery-count'] ?? 0), `earlier deliveries of ${name}`).toBe(0);
    }
    expect(deadLetters).toHaveLength(Object.keys(CASES).length);
    for (const id of good) expect(d.client.byOrder().get(id)?.[0]?.type, `good order ${id}`).toBe('PaymentCompleted');
    expect(d.workers.every((w) => w.child.exitCode === null && w.child.signalCode === null), 'workers alive').toBe(true);
  }, 150_000);

  it('then the number is in no dead letter, in any digit form', () => {
    for (const m of deadLetters) {
      const headers = JSON.stringify(m.headers, (_, v: unknown) => {
        const bytes = v as { type?: unknown; data?: number[] } | null;
        return bytes?.type === 'Buffer' && Array.isArray(bytes.data) ? Buffer.from(bytes.data).toString('utf8') : v;
      });
      expectNoCard(`dead letter ${String(m.headers['x-case'])}`, m.content.toString('utf8') + headers);
    }
  });

  it('then the number is in no published event and no table', async () => {
    expectNoCard('published events', JSON.stringify(d.client.received.map((e) => e.body)));
    const knex = createKnex(d.iso.databaseUrl);
    try {
      for (const table of ['payments', 'payment_transitions', 'outbox']) {
        const rows = await knex(table).select('*');
        for (const row of rows) expectNoCard(`a row of ${table}`, JSON.stringify(row));
      }
    } finally {
      await knex.destroy();
    }
  });

  it('then the number is in no log line, and no handler failure or nack was logged', () => {
    const lines = d.workers.flatMap((w) => w.lines);
    expect(lines.filter((l) => /could not handle the event|inventory handler threw|could not parse or validate/.test(l))).toEqual([]);
    for (const line of lines) expectNoCard('a worker log line', line);
  });
});
