import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCompensationsRepository, type CompensationsRepository, type NewRefund } from '../../../src/persistence/compensations.repository.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { cancellationRefundId } from '../../../src/queues/order-refund-request.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { seedSucceeded } from '../../support/payments.seed.js';

let iso: Isolated;
let knex: Knex;
let repo: CompensationsRepository;

beforeAll(async () => {
  iso = await isolate();
  knex = createKnex(iso.databaseUrl);
  repo = createCompensationsRepository(knex);
});

afterAll(async () => {
  await knex?.destroy();
  await iso?.cleanup();
});

const newRefund = (over: Partial<NewRefund> = {}): NewRefund => ({
  id: randomUUID(),
  orderId: randomUUID(),
  paymentId: null,
  amountMinor: 1999n,
  amount: '19.99',
  currency: 'USD',
  reason: 'damaged',
  sourceEventId: randomUUID(),
  ...over,
});

describe('the compensations repository (real PostgreSQL)', () => {
  it('when one order is cancelled by several deliveries at once, then one record is created and every caller gets it', async () => {
    const orderId = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => repo.recordCancellation({ orderId, sourceEventId: `evt-${i}`, reason: `note ${i}` })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const first = results.find((r) => r.created)!.cancellation;
    for (const r of results) expect(r.cancellation).toEqual(first);
    expect(first).toMatchObject({ orderId, answeredAt: null, receivedAt: expect.any(Date) });
  });

  it('when one refundId is recorded by several deliveries at once, then one row is created and every caller gets the first', async () => {
    const wanted = newRefund();
    const results = await Promise.all([0, 1, 2, 3].map((i) => repo.insertRefund({ ...wanted, amount: `${19 + i}.99`, amountMinor: BigInt(1999 + i * 100) })));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const first = results.find((r) => r.created)!.refund;
    for (const r of results) expect(r.refund).toEqual(first);
    expect(await knex('refunds').where({ id: wanted.id })).toHaveLength(1);
  });

  it('then an amount comes back as the exact bigint, a missing one as null, and the row starts requested', async () => {
    const big = newRefund({ amountMinor: 99_999_999n, amount: '999999.99' });
    expect((await repo.insertRefund(big)).refund).toMatchObject({ amountMinor: 99_999_999n, status: 'requested', cancel: false, failureCode: null });
    const unknown = newRefund({ amountMinor: null, currency: null, amount: '19.9', failureCode: 'invalid_request', failureReason: 'amount must have…' });
    expect((await repo.insertRefund(unknown)).refund).toMatchObject({ amountMinor: null, currency: null, amount: '19.9', failureCode: 'invalid_request' });
  });

  it('then a refund of no money cannot be stored', async () => {
    await expect(repo.insertRefund(newRefund({ amountMinor: 0n }))).rejects.toThrow(/refunds_amount_positive/);
  });

  it('then an order has at most one refund made by its cancellation', async () => {
    const orderId = randomUUID();
    await repo.insertRefund(newRefund({ id: cancellationRefundId(orderId), orderId, cancel: true }));
    await expect(repo.insertRefund(newRefund({ orderId, cancel: true }))).rejects.toThrow(/refunds_one_cancel_per_order/);
  });

  it('then an order\'s refunds are listed oldest first, and its payment is found with its currency', async () => {
    const { orderId, paymentId } = await seedSucceeded(createPaymentsRepository(knex));
    const a = await repo.insertRefund(newRefund({ orderId, paymentId }));
    const b = await repo.insertRefund(newRefund({ orderId, paymentId, amount: '1.00', amountMinor: 100n }));
    expect((await repo.refundsOf(orderId)).map((r) => r.id)).toEqual([a.refund.id, b.refund.id]);
    expect(await repo.paymentOf(orderId)).toEqual({ id: paymentId, currency: 'USD' });
    expect(await repo.paymentOf(randomUUID())).toBeUndefined();
  });

  it('then a sweeper finds the cancellations not answered and the refunds not settled, and not the others', async () => {
    const waiting = randomUUID();
    const answered = randomUUID();
    await repo.recordCancellation({ orderId: waiting, sourceEventId: 'evt-w', reason: null });
    await repo.recordCancellation({ orderId: answered, sourceEventId: 'evt-a', reason: null });
    await knex('order_cancellations').where({ order_id: answered }).update({ answered_at: knex.fn.now() });
    const open = (await repo.insertRefund(newRefund())).refund;
    const settled = (await repo.insertRefund(newRefund())).refund;
    await knex('refunds').where({ id: settled.id }).update({ status: 'succeeded' });

    const cancellations = (await repo.unansweredCancellations(-60_000, 1000)).map((c) => c.orderId);
    expect(cancellations).toContain(waiting);
    expect(cancellations).not.toContain(answered);
    const refunds = (await repo.openRefunds(-60_000, 1000)).map((r) => r.id);
    expect(refunds).toContain(open.id);
    expect(refunds).not.toContain(settled.id);
    // Nothing is a candidate before it has had time to be handled.
    expect((await repo.unansweredCancellations(60_000, 1000)).map((c) => c.orderId)).not.toContain(waiting);
  });
});
