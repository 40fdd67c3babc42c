import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPaymentSnapshot } from '../../../src/machines/payment.snapshot.js';
import { advance } from '../../../src/workers/payment-transitions.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository, type NewPayment, type Payment, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { createChargeEnqueuer, createPaymentQueues, type ChargePaymentJob, type PaymentQueues } from '../../../src/queues/payments.queue.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';

function newPayment(over: Partial<NewPayment> = {}): NewPayment {
  const id = over.id ?? randomUUID();
  const orderId = over.orderId ?? randomUUID();
  const amountMinor = over.amountMinor ?? 4999n;
  return {
    id,
    orderId,
    amount: '49.99',
    amountMinor,
    currency: 'USD',
    customerId: 'cus_1',
    paymentMethod: 'pm_card_visa',
    sourceEventId: randomUUID(),
    snapshot: createPaymentSnapshot({ orderId, paymentId: id, amountMinor: amountMinor.toString(), currency: 'USD', maxAttempts: 3 }),
    detail: { batch: 'test' },
    ...over,
  };
}

/**
 * The consumer's writes are batched per tick (one multi-row statement, one
 * addBulk); each delivery must still get exactly its own outcome.
 */
describe('payments repository: batched and prepared writes (real PostgreSQL and Redis)', () => {
  let iso: Isolated;
  let knex: Knex;
  let payments: PaymentsRepository;
  let redis: Redis;
  let queues: PaymentQueues;
  let queue: Queue<ChargePaymentJob>;

  beforeAll(async () => {
    iso = await isolate();
    knex = createKnex(iso.databaseUrl, { max: 4 });
    payments = createPaymentsRepository(knex);
    redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
    queues = createPaymentQueues({ connection: redis, prefix: iso.queuePrefix, shards: 1, attempts: 1, backoffMs: 10, retentionS: 3600 });
    queue = queues.shards[0]!;
  });
  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    await knex.destroy();
    await iso.cleanup();
  });

  it('when 20 payments are inserted in the same tick, then one statement writes them all, each with its CREATED history row', async () => {
    const wanted = Array.from({ length: 20 }, () => newPayment());
    const borrow = vi.spyOn(knex.client, 'acquireConnection');
    const results = await Promise.all(wanted.map((p) => payments.insert(p)));
    expect(borrow).toHaveBeenCalledTimes(1);
    borrow.mockRestore();

    results.forEach((r, i) => {
      expect(r.created).toBe(true);
      expect(r.payment).toMatchObject({ id: wanted[i]!.id, orderId: wanted[i]!.orderId, status: 'Initiated', amountMinor: 4999n });
    });
    const history = await knex('payment_transitions').whereIn('order_id', wanted.map((p) => p.orderId)).select('order_id', 'event', 'detail');
    expect(history).toHaveLength(20);
    for (const h of history) {
      const p = wanted.find((w) => w.orderId === h.order_id)!;
      expect(h).toMatchObject({ event: 'CREATED', detail: { sourceEventId: p.sourceEventId, batch: 'test' } });
    }
  });

  it('when a batch holds an order twice and an order that already has its payment, then each order keeps exactly one payment and the others are handed it back', async () => {
    const earlier = newPayment();
    await payments.insert(earlier);
    const twin = randomUUID();
    const batch = [newPayment({ orderId: twin }), newPayment({ orderId: twin }), newPayment({ orderId: earlier.orderId }), newPayment()];
    const results = await Promise.all(batch.map((p) => payments.insert(p)));

    expect(results.filter((r, i) => i < 2 && r.created)).toHaveLength(1);
    expect(results[0]!.payment.id).toBe(results[1]!.payment.id);
    expect(results[2]).toMatchObject({ created: false, payment: { id: earlier.id } });
    expect(results[3]!.created).toBe(true);
    const rows = await knex('payments').whereIn('order_id', [twin, earlier.orderId]).count('* as n').first();
    expect(Number(rows?.n)).toBe(2);
  });

  it('when one row of a batch is refused by the database, then only its own insert fails and the rest are written', async () => {
    const good = Array.from({ length: 4 }, () => newPayment());
    const bad = newPayment({ customerId: 'c'.repeat(300) }); // the column holds 255
    const settled = await Promise.allSettled([good[0]!, good[1]!, bad, good[2]!, good[3]!].map((p) => payments.insert(p)));

    expect(settled[2]).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/too long/) } });
    for (const i of [0, 1, 3, 4]) expect(settled[i]).toMatchObject({ status: 'fulfilled', value: { created: true } });
    expect(await payments.findByOrderId(bad.orderId)).toBeUndefined();
  });

  it('when payments are loaded in the same tick, then one statement reads them all and each caller gets its own, or nothing', async () => {
    const stored = Array.from({ length: 5 }, () => newPayment());
    await Promise.all(stored.map((p) => payments.insert(p)));
    const missing = randomUUID();
    const borrow = vi.spyOn(knex.client, 'acquireConnection');
    const loaded = await Promise.all([...stored.map((p) => p.orderId), missing, stored[2]!.orderId.toUpperCase()].map((id) => payments.findByOrderId(id)));
    expect(borrow).toHaveBeenCalledTimes(1);
    borrow.mockRestore();

    stored.forEach((p, i) => expect(loaded[i]).toMatchObject({ id: p.id, orderId: p.orderId, status: 'Initiated' }));
    expect(loaded[5]).toBeUndefined();
    expect(loaded[6]).toMatchObject({ id: stored[2]!.id });
  });

  it('when one id in a batch of loads is not a uuid, then only its own load fails', async () => {
    const p = newPayment();
    await payments.insert(p);
    const [bad, good] = await Promise.allSettled([payments.findByOrderId('not-a-uuid'), payments.findByOrderId(p.orderId)]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/invalid input syntax for type uuid/) } });
    expect(good).toMatchObject({ status: 'fulfilled', value: { id: p.id } });
  });

  it('when transitions are committed, then the payment each commit hands back is exactly the row read back', async () => {
    const { payment: created } = await payments.insert(newPayment());
    let p = (await advance(payments, created, { type: 'START' }, { jobId: 'j1' })).payment;
    expect(p).toEqual(await payments.findByOrderId(p.orderId));
    p = (await advance(payments, p, { type: 'CHARGE_FAILED_TRANSIENTLY', code: 'gateway_timeout', reason: 'no answer', cleared: [] })).payment;
    expect(p).toEqual(await payments.findByOrderId(p.orderId));
    p = (await advance(payments, p, { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_1', gateway: 'primary' }, {}, { id: 'pi_1', amount: '4999' })).payment;
    expect(p).toMatchObject({ status: 'Success', transactionId: 'pi_1', gateway: 'primary', gatewayResponse: { id: 'pi_1', amount: '4999' }, version: 3 });
    expect(p.completedAt).toBeInstanceOf(Date);
    expect(p).toEqual(await payments.findByOrderId(p.orderId));

    const { payment: other } = await payments.insert(newPayment());
    const started = (await advance(payments, other, { type: 'START' })).payment;
    const declined = (await advance(payments, started, { type: 'CHARGE_DECLINED', code: 'card_declined', reason: 'r'.repeat(600), gateway: 'primary' })).payment;
    expect(declined).toMatchObject({ status: 'Failed', failureCode: 'card_declined', failureReason: 'r'.repeat(500) });
    expect(declined).toEqual(await payments.findByOrderId(other.orderId));
  });

  it('when payments start in the same tick, then one statement commits them, each version-checked, and the one whose version moved on loses', async () => {
    const created = await Promise.all(Array.from({ length: 6 }, () => newPayment()).map(async (p) => (await payments.insert(p)).payment));
    // The last one is moved on by someone else first: its START below carries a stale version.
    await advance(payments, created[5]!, { type: 'START' });
    const borrow = vi.spyOn(knex.client, 'acquireConnection');
    const results = await Promise.allSettled(created.map((p) => advance(payments, p, { type: 'START' }, { jobId: p.orderId })));
    expect(borrow).toHaveBeenCalledTimes(1);
    borrow.mockRestore();

    for (const [i, p] of created.slice(0, 5).entries()) {
      expect(results[i]).toMatchObject({ status: 'fulfilled', value: { payment: { status: 'Processing', version: 1 } } });
      const started = (results[i] as PromiseFulfilledResult<{ payment: Payment }>).value.payment;
      expect(started).toEqual(await payments.findByOrderId(p.orderId));
      expect((await payments.history(p.orderId)).map((h) => [h.fromStatus, h.toStatus, h.event, h.detail?.jobId])).toEqual([
        [null, 'Initiated', 'CREATED', undefined],
        ['Initiated', 'Processing', 'START', p.orderId],
      ]);
    }
    expect(results[5]!.status).toBe('rejected'); // advance reports the lost race
    expect(await payments.findByOrderId(created[5]!.orderId)).toMatchObject({ version: 1 });
    expect(await payments.history(created[5]!.orderId)).toHaveLength(2);
  });

  it('when the payment page reads an order, then it gets the payment as the hot path loads it, with only its own history, oldest first', async () => {
    const [mine, other] = await Promise.all([newPayment(), newPayment()].map(async (p) => (await payments.insert(p)).payment));
    const { payment: started } = await advance(payments, mine!, { type: 'START' }, { jobId: 'job-1' });
    await payments.note(started, 'GATEWAY_LOOKUP', { found: false });
    await advance(payments, other!, { type: 'START' });

    const found = await payments.findWithHistory(mine!.orderId.toUpperCase());
    expect(found?.payment).toEqual(await payments.findByOrderId(mine!.orderId));
    expect(found?.history.map((h) => [h.fromStatus, h.toStatus, h.event, h.detail])).toEqual([
      [null, 'Initiated', 'CREATED', { sourceEventId: expect.any(String), batch: 'test' }],
      ['Initiated', 'Processing', 'START', expect.objectContaining({ jobId: 'job-1' })],
      ['Processing', 'Processing', 'GATEWAY_LOOKUP', { found: false }],
    ]);
    expect(found?.history).toEqual(await payments.history(mine!.orderId));
    expect(await payments.findWithHistory(randomUUID())).toBeUndefined();
    expect(await payments.history(randomUUID())).toEqual([]);
  });

  it('when payments settle in the same tick, then one statement writes each terminal state with its event, and a lost race writes neither', async () => {
    const created = await Promise.all(Array.from({ length: 5 }, () => newPayment()).map(async (p) => (await payments.insert(p)).payment));
    const started = await Promise.all(created.map(async (p) => (await advance(payments, p, { type: 'START' })).payment));
    await advance(payments, started[4]!, { type: 'CHARGE_DECLINED', code: 'card_declined', reason: 'declined first', gateway: 'primary' });
    const borrow = vi.spyOn(knex.client, 'acquireConnection');
    const results = await Promise.allSettled(
      started.map((p, i) =>
        i % 2 === 0
          ? advance(payments, p, { type: 'CHARGE_SUCCEEDED', transactionId: `pi_${i}`, gateway: 'primary' }, {}, { id: `pi_${i}`, amount: '4999' })
          : advance(payments, p, { type: 'CHARGE_DECLINED', code: 'card_declined', reason: `declined ${i}`, gateway: 'primary' }, {}, { code: 'card_declined' }),
      ),
    );
    expect(borrow).toHaveBeenCalledTimes(1);
    borrow.mockRestore();

    for (const [i, p] of started.slice(0, 4).entries()) {
      const settled = (results[i] as PromiseFulfilledResult<{ payment: Payment; outbox: Array<{ id: string; type: string }> }>).value;
      expect(settled.payment).toEqual(await payments.findByOrderId(p.orderId));
      expect(settled.payment).toMatchObject(i % 2 === 0
        ? { status: 'Success', transactionId: `pi_${i}`, gatewayResponse: { id: `pi_${i}` } }
        : { status: 'Failed', failureCode: 'card_declined', failureReason: `declined ${i}`, gatewayResponse: { code: 'card_declined' } });
      const events = await knex('outbox').where({ order_id: p.orderId }).select('id', 'type');
      expect(events).toEqual([{ id: settled.outbox[0]!.id, type: i % 2 === 0 ? 'PaymentCompleted' : 'PaymentFailed' }]);
    }
    expect(results[4]!.status).toBe('rejected');
    expect(await payments.findByOrderId(started[4]!.orderId)).toMatchObject({ failureReason: 'declined first' });
    expect(await knex('outbox').where({ order_id: started[4]!.orderId }).count('* as n').first()).toEqual({ n: '1' });
  });

  it('when a commit waits on a row lock past the statement timeout, then PostgreSQL cancels it and a later commit of that payment goes through', async () => {
    const short = createKnex(iso.databaseUrl, { max: 2, statementTimeoutMs: 300 });
    try {
      const shortPayments = createPaymentsRepository(short);
      const { payment } = await shortPayments.insert(newPayment());
      const holder = await knex.transaction();
      try {
        await holder('payments').where({ order_id: payment.orderId }).forUpdate().first('id');
        await expect(advance(shortPayments, payment, { type: 'START' })).rejects.toMatchObject({ code: '57014' }); // query_canceled
      } finally {
        await holder.rollback();
      }
      expect((await advance(shortPayments, payment, { type: 'START' })).payment).toMatchObject({ status: 'Processing', version: 1 });
    } finally {
      await short.destroy();
    }
  });

  it('then every connection has a statement timeout: 30 s by default, the one DATABASE_URL names when it names one', async () => {
    const timeoutOf = async (k: Knex) => ((await k.raw('SHOW statement_timeout')).rows[0] as { statement_timeout: string }).statement_timeout;
    expect(await timeoutOf(knex)).toBe('30s');
    const url = new URL(iso.databaseUrl);
    url.searchParams.set('options', '-c statement_timeout=1234');
    const own = createKnex(url.toString(), { max: 1 });
    try {
      expect(await timeoutOf(own)).toBe('1234ms');
    } finally {
      await own.destroy();
    }
  });

  it('when prepared statements are off, then a payment inserted and started leaves no named statement on its connection (on: it does)', async () => {
    // One connection, so the count is the session the repository's statements ran in.
    const namedLeftBehind = async (preparedStatements: boolean) => {
      const one = createKnex(iso.databaseUrl, { max: 1 });
      try {
        const repo = createPaymentsRepository(one, { preparedStatements });
        const { payment } = await repo.insert(newPayment());
        await advance(repo, payment, { type: 'START' });
        return Number((await one.raw('SELECT count(*) AS n FROM pg_prepared_statements')).rows[0].n);
      } finally {
        await one.destroy();
      }
    };
    expect(await namedLeftBehind(true)).toBeGreaterThan(0);
    expect(await namedLeftBehind(false)).toBe(0);
  });

  it('when payments are unfinished past the stale age, then countUnfinished counts what findUnfinished lists: Initiated and Processing, not touched since', async () => {
    const hourMs = 3_600_000;
    const before = await payments.countUnfinished(hourMs);
    const backdate = (orderId: string, status: string) => knex('payments').where({ order_id: orderId }).update({ status, updated_at: new Date(Date.now() - 2 * hourMs) });
    const [initiated, processing, settled, fresh] = await Promise.all(Array.from({ length: 4 }, () => payments.insert(newPayment())));
    await backdate(initiated!.payment.orderId, 'Initiated');
    await backdate(processing!.payment.orderId, 'Processing');
    await backdate(settled!.payment.orderId, 'Success');
    expect(fresh!.payment.status).toBe('Initiated');

    expect(await payments.countUnfinished(hourMs)).toBe(before + 2);
    expect(await payments.countUnfinished(hourMs)).toBe((await payments.findUnfinished(hourMs, 10_000)).length);
  });

  it('when the same payment is committed twice in one tick, then exactly one commit wins', async () => {
    const { payment } = await payments.insert(newPayment());
    const write = { snapshot: { ...payment.snapshot, value: 'Processing' as const }, event: 'START', transactionId: null, gateway: null, failureCode: null, failureReason: null };
    const both = await Promise.all([payments.commitTransition(payment, write), payments.commitTransition(payment, write)]);
    expect(both.filter((p) => p !== null)).toHaveLength(1);
    expect(await payments.findByOrderId(payment.orderId)).toMatchObject({ version: 1, status: 'Processing' });
  });

  it('when 10 charges are enqueued in the same tick, then one addBulk stores one job per order, and enqueuing one again adds nothing', async () => {
    const enqueue = createChargeEnqueuer(queues, false);
    const orderIds = Array.from({ length: 10 }, () => randomUUID());
    const bulk = vi.spyOn(queue, 'addBulk');
    await Promise.all(orderIds.map((id) => enqueue(id)));
    expect(bulk).toHaveBeenCalledTimes(1);
    bulk.mockRestore();

    for (const id of orderIds) expect((await queue.getJob(id))?.data).toEqual({ orderId: id });
    const before = await queue.getJobCountByTypes('waiting');
    await Promise.all([enqueue(orderIds[0]!), enqueue(orderIds[0]!)]);
    expect(await queue.getJobCountByTypes('waiting')).toBe(before);
  });
});
