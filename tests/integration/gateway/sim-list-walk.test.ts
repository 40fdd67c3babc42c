import Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../../src/gateway/simulator/simulator.js';
import { seedCharges, type SeededCharge } from '../../../scripts/lib/sim-seed.js';

const started: Simulator[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

/** A simulator whose clock stands still unless the test advances it, so every `created` is known. */
async function stillSimulator(): Promise<{ simulator: Simulator; stripe: Stripe; startS: number }> {
  const startMs = 1_800_000_000_000;
  const simulator = createSimulator({ seed: 1, clock: () => startMs });
  started.push(simulator);
  await simulator.start();
  const stripe = new Stripe('sk_test_walk', { host: '127.0.0.1', port: simulator.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
  return { simulator, stripe, startS: startMs / 1000 };
}

async function seeded(options: Parameters<typeof seedCharges>[0]): Promise<{ charges: SeededCharge[]; batches: number[] }> {
  const charges: SeededCharge[] = [];
  const batches: number[] = [];
  for await (const batch of seedCharges(options)) {
    batches.push(batch.length);
    charges.push(...batch);
  }
  return { charges, batches };
}

async function collect<T>(list: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of list) all.push(item);
  return all;
}

interface Created {
  id: string;
  created: number;
}

/** What Stripe lists: newest first (the ledger is oldest first, ties in creation order), within the bounds. */
function newestFirstWithin(made: Created[], { gt = -Infinity, gte = -Infinity, lt = Infinity, lte = Infinity }: Stripe.RangeQueryParam): string[] {
  return made
    .filter(({ created }) => created > gt && created >= gte && created < lt && created <= lte)
    .map(({ id }) => id)
    .reverse();
}

describe('gateway simulator list walks', () => {
  it('when a few thousand intents and refunds span many seconds, then auto-pagination returns each once, newest first, within the created bounds', async () => {
    const { simulator, stripe, startS } = await stillSimulator();
    // Ten minutes of 300 charges each, so every page boundary falls inside a run of equal `created`.
    for (let minute = 0; minute < 10; minute += 1) {
      const { charges } = await seeded({ url: simulator.url, count: 300, concurrency: 16 });
      for (const charge of charges.slice(0, 20)) await stripe.refunds.create({ payment_intent: charge.id, amount: 1 });
      simulator.advanceClock(60);
    }
    const windows: Stripe.RangeQueryParam[] = [{}, { gte: startS + 120, lt: startS + 480 }, { gt: startS + 120, lte: startS + 480 }];

    // 100 as reconciliation asks; 7 so that some last page holds a single object.
    for (const [created, limit] of windows.flatMap((window) => [[window, 100], [window, 7]] as const)) {
      const intents = await collect(stripe.paymentIntents.list({ created, limit }));
      const refunds = await collect(stripe.refunds.list({ created, limit }));

      expect(intents.map((intent) => intent.id)).toEqual(newestFirstWithin(simulator.ledger(), created));
      expect(refunds.map((refund) => refund.id)).toEqual(newestFirstWithin(simulator.refunds(), created));
    }
    expect(newestFirstWithin(simulator.ledger(), windows[1]!)).toHaveLength(6 * 300);
    expect(newestFirstWithin(simulator.refunds(), windows[2]!)).toHaveLength(6 * 20);
  });

  it('when charges are seeded with given order ids and amounts, then each is a succeeded intent carrying them, handed back in order a batch at a time', async () => {
    const { simulator, stripe } = await stillSimulator();
    const options = {
      url: simulator.url,
      count: 250,
      currency: 'EUR',
      orderIdOf: (i: number) => `order-${i}`,
      amountOf: (i: number) => String(100 + i),
      concurrency: 8,
      batchSize: 100,
    };

    const { charges, batches } = await seeded(options);
    const again = await seeded(options);

    expect(batches).toEqual([100, 100, 50]);
    expect(charges.map(({ orderId, amount, currency }) => ({ orderId, amount, currency }))).toEqual(
      Array.from({ length: 250 }, (_, i) => ({ orderId: `order-${i}`, amount: String(100 + i), currency: 'EUR' })),
    );
    const ledger = simulator.ledger();
    expect(ledger).toHaveLength(250);
    expect(new Map(ledger.map((entry) => [entry.id, entry]))).toEqual(
      new Map(charges.map(({ id, orderId, amount, created }) => [id, { id, orderId, amount, currency: 'EUR', status: 'succeeded', created }])),
    );
    // Seeding the same orders again charges nothing: each create replays under its order's key.
    expect(again.charges.map((charge) => charge.id)).toEqual(charges.map((charge) => charge.id));
    expect(await stripe.paymentIntents.retrieve(charges[0]!.id)).toMatchObject({ status: 'succeeded', amount: 100, currency: 'eur', metadata: { orderId: 'order-0' } });
  });

  it('when order ids and amounts are left out, then each charge gets its own UUID order id and the default amount', async () => {
    const { simulator } = await stillSimulator();

    const { charges } = await seeded({ url: simulator.url, count: 5 });

    expect(new Set(charges.map((charge) => charge.orderId)).size).toBe(5);
    for (const charge of charges) expect(charge).toMatchObject({ orderId: expect.stringMatching(/^[0-9a-f-]{36}$/), amount: '1000', currency: 'USD' });
  });
});
