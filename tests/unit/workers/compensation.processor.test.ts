import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.js';
import type { OutboxEvent, Payment } from '../../../src/persistence/payments.repository.js';
import { CANCEL_ORDER_JOB, REFUND_PAYMENT_JOB, type CompensationJob } from '../../../src/queues/compensations.queue.js';
import { cancellationRefundId, checkRefundAmount } from '../../../src/queues/order-refund-request.js';
import { createCompensationProcessor } from '../../../src/workers/compensation.processor.js';
import { ConcurrentUpdateError } from '../../../src/workers/payment-transitions.js';
import { createPaymentProcessor, RetryLaterError } from '../../../src/workers/payment.processor.js';
import { createInMemoryCompensations, type InMemoryCompensations } from '../../support/fakes/in-memory-compensations.repository.js';
import { asPaymentsRepository, createInMemoryPaymentsRepository, type InMemoryPaymentsRepository } from '../../support/fakes/in-memory-payments.repository.js';
import { fakeJob, newPayment } from '../../support/fakes/payment-records.js';
import { asPaymentGateway, createScriptedGateway, type ChargeStep, type ScriptedGateway } from '../../support/fakes/scripted.gateway.js';
import type { RefundScriptStep } from '../../support/fakes/scripted-refunds.js';

/**
 * The compensation worker's paths on in-memory fakes (CONTRACT.md §8): each
 * cancellation and refund request answered exactly once, refunds never adding
 * up to more than was charged, unknown outcomes settled by asking under the
 * same key. Payments get to their state through the charge processor on the
 * same scripted gateway, so the gateway knows what each intent charged.
 */
const logger = pino({ level: 'silent' });
const metrics = createMetrics();

let journal: string[];
let repo: InMemoryPaymentsRepository;
let compensations: InMemoryCompensations;

beforeEach(() => {
  journal = [];
  repo = createInMemoryPaymentsRepository({ journal });
  compensations = createInMemoryCompensations({ outbox: repo.outbox, hasPayment: (orderId) => repo.all().some((p) => p.orderId === orderId), journal });
});

function workerOn(o: { charges?: ChargeStep[]; refunds?: RefundScriptStep[] } = {}) {
  const gw = createScriptedGateway(o.charges ?? [], { refunds: o.refunds ?? [], journal });
  const gateways = [{ gateway: asPaymentGateway(gw.gateway) }];
  const written: OutboxEvent[] = [];
  const chargeOwed: string[] = [];
  const refundOutcomes: string[] = [];
  const charges = createPaymentProcessor({ payments: asPaymentsRepository(repo), gateways, logger, metrics });
  const worker = createCompensationProcessor({
    payments: asPaymentsRepository(repo),
    compensations,
    gateways,
    logger,
    metrics,
    onOutboxWritten: (_orderId, event) => void written.push(event),
    onChargeOwed: (orderId) => void chargeOwed.push(orderId),
    onRefundOutcome: (outcome) => void refundOutcomes.push(outcome),
  });
  const process = worker.processorFor(async () => {
    throw new Error('no ApplyWebhook jobs in these tests');
  });
  return { gw, process, apply: worker.apply, charge: (orderId: string) => charges(fakeJob(orderId)), written, chargeOwed, refundOutcomes };
}

type Worker = ReturnType<typeof workerOn>;

const job = (name: string, data: CompensationJob, attemptsMade = 0) => ({ id: `${name}-${randomUUID()}`, name, data, attemptsMade, opts: { attempts: 40 } }) as unknown as Job<CompensationJob>;
const refundJob = (refundId: string, orderId: string, attemptsMade = 0) => job(REFUND_PAYMENT_JOB, { refundId, orderId }, attemptsMade);
const cancelJob = (orderId: string, attemptsMade = 0) => job(CANCEL_ORDER_JOB, { orderId }, attemptsMade);

const stored = async (orderId: string) => (await repo.findByOrderId(orderId))!;
const answers = (orderId: string) => repo.outbox.eventsOf(orderId).map((e) => e.type);
/** For events written in one commit, whose order among themselves is not part of the contract. */
const answersInAnyOrder = (orderId: string) => answers(orderId).sort();
const dataOf = (orderId: string, type: string) => repo.outbox.eventsOf(orderId).filter((e) => e.type === type).map((e) => (e.payload as { data: Record<string, unknown> }).data);

/** A new payment, Initiated ($49.99). */
async function placed(): Promise<Payment> {
  return (await repo.insert(newPayment())).payment;
}

/** A payment through its charge job on the worker's gateway: Success unless the charge steps say otherwise. */
async function charged(w: Worker): Promise<Payment> {
  const p = await placed();
  await w.charge(p.orderId).catch((err: unknown) => {
    if (!(err instanceof RetryLaterError)) throw err;
  });
  return stored(p.orderId);
}

/** A RefundRequested as the consumer records it (amount checked in the payment's currency, or left null with no payment). */
async function refundRequested(orderId: string, amount: string): Promise<string> {
  const payment = await repo.findByOrderId(orderId);
  const checked = payment && checkRefundAmount(amount, payment.currency);
  const id = randomUUID();
  await compensations.insertRefund({
    id,
    orderId,
    paymentId: payment?.id ?? null,
    amount,
    amountMinor: checked?.ok ? checked.amountMinor : null,
    currency: payment?.currency ?? null,
    reason: 'customer asked',
    sourceEventId: randomUUID(),
  });
  return id;
}

async function cancelled(orderId: string): Promise<void> {
  await compensations.recordCancellation({ orderId, sourceEventId: randomUUID(), reason: 'customer changed their mind' });
}

/** Runs a job as BullMQ would: again after each RetryLaterError, up to `attempts` times; the last result. */
async function runUntilSettled<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof RetryLaterError) || i >= attempts) throw err;
    }
  }
}

/** Fails unless every entry appears in the journal, in this order. */
function expectInOrder(entries: string[]) {
  const at = entries.map((e) => journal.indexOf(e));
  expect(at.every((i) => i >= 0), `${entries.join(', ')} in ${journal.join(', ')}`).toBe(true);
  expect([...at].sort((a, b) => a - b), `order in ${journal.join(', ')}`).toEqual(at);
}

describe('RefundPayment jobs', () => {
  it('when a refund is asked of a Success payment, then the gateway makes one refund under <paymentId>-refund-<refundId>-1, recorded first, and PaymentRefunded answers it once', async () => {
    const w = workerOn({ refunds: ['succeeded'] });
    const p = await charged(w);
    const refundId = await refundRequested(p.orderId, '20.00');
    const key = `${p.id}-refund-${refundId}-1`;

    await expect(w.process(refundJob(refundId, p.orderId))).resolves.toEqual({ refundId, status: 'succeeded', code: null });

    expect(w.gw.refundCalls.refund).toHaveLength(1);
    expect(w.gw.refundCalls.refund[0]).toMatchObject({ refundId, idempotencyKey: key, amountMinor: 2000n, currency: 'USD', intentId: p.transactionId });
    expect(w.gw.refunds.map((r) => r.amountMinor)).toEqual([2000n]);
    expectInOrder([`syncRefunds:${refundId}=requested/${key}`, 'scripted.refund', 'commit:REFUND_SUCCEEDED']);
    expect(await stored(p.orderId)).toMatchObject({ status: 'PartiallyRefunded', snapshot: { context: { amountRefundedMinor: '2000' } } });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
    expect(dataOf(p.orderId, 'PaymentRefunded')[0]).toMatchObject({
      orderId: p.orderId, paymentId: p.id, refundId, amount: '20.00', amountRefunded: '20.00', currency: 'USD', gatewayRefundId: w.gw.refunds[0]!.gatewayRefundId,
    });
    expect(w.written.map((e) => e.type)).toEqual(['PaymentRefunded']);
    expect(await compensations.findRefund(refundId)).toMatchObject({ status: 'succeeded', idempotencyKey: key, gatewayRefundId: w.gw.refunds[0]!.gatewayRefundId });

    const version = (await stored(p.orderId)).version;
    await expect(w.process(refundJob(refundId, p.orderId, 1))).resolves.toEqual({ refundId, status: 'succeeded', code: null });
    expect(w.gw.refundCalls.refund).toHaveLength(1);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
    expect((await stored(p.orderId)).version).toBe(version);
  });

  it('when two refunds together exceed the charge, then the second is answered RefundFailed(exceeds_refundable) and never reaches the gateway', async () => {
    const w = workerOn();
    const p = await charged(w);
    const first = await refundRequested(p.orderId, '30.00');
    const second = await refundRequested(p.orderId, '30.00');

    await expect(w.process(refundJob(first, p.orderId))).resolves.toMatchObject({ status: 'succeeded' });
    await expect(w.process(refundJob(second, p.orderId))).resolves.toEqual({ refundId: second, status: 'failed', code: 'exceeds_refundable' });

    expect(w.gw.refundCalls.refund.map((r) => r.refundId)).toEqual([first]);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded', 'RefundFailed']);
    expect(dataOf(p.orderId, 'RefundFailed')[0]).toMatchObject({ orderId: p.orderId, refundId: second, code: 'exceeds_refundable' });
    expect(await stored(p.orderId)).toMatchObject({ status: 'PartiallyRefunded', snapshot: { context: { amountRefundedMinor: '3000' } } });
    expect(await compensations.findRefund(second)).toMatchObject({ status: 'failed', failureCode: 'exceeds_refundable' });

    await expect(w.process(refundJob(second, p.orderId, 1))).resolves.toMatchObject({ status: 'failed', code: 'exceeds_refundable' });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded', 'RefundFailed']);
  });

  it('when two refunds that together exceed the charge run at once, then one loses the race, retries, and is refused: the gateway refunds no more than was charged', async () => {
    const w = workerOn();
    const p = await charged(w);
    const ids = [await refundRequested(p.orderId, '30.00'), await refundRequested(p.orderId, '30.00')];

    const results = await Promise.all(ids.map((id) => runUntilSettled(() => w.process(refundJob(id, p.orderId)), 3).catch((err: unknown) => err)));
    // The loser of the version race throws ConcurrentUpdateError (BullMQ retries it): run it once more.
    expect(results.filter((r) => r instanceof ConcurrentUpdateError)).toHaveLength(1);
    const settled = await Promise.all(results.map((r, i) => (r instanceof Error ? w.process(refundJob(ids[i]!, p.orderId, 1)) : r)));

    expect(settled.map((r) => (r as { status: string }).status).sort()).toEqual(['failed', 'succeeded']);
    expect(w.gw.refunds.map((r) => r.amountMinor)).toEqual([3000n]);
    expect(answers(p.orderId).sort()).toEqual(['PaymentCompleted', 'PaymentRefunded', 'RefundFailed']);
    expect(dataOf(p.orderId, 'RefundFailed')[0]).toMatchObject({ code: 'exceeds_refundable' });
  });

  it('when the refund was made and its response lost, then the look-up finds it and it is answered once, never sent again', async () => {
    const w = workerOn({ refunds: ['lost'] });
    const p = await charged(w);
    const refundId = await refundRequested(p.orderId, '49.99');

    await expect(w.process(refundJob(refundId, p.orderId))).resolves.toMatchObject({ status: 'succeeded' });

    expect(w.gw.refunds).toHaveLength(1);
    expect(w.gw.refundCalls.refund).toHaveLength(1);
    expect(w.gw.refundCalls.lookupRefund).toEqual([expect.objectContaining({ refundId, intentId: p.transactionId })]);
    expect(await stored(p.orderId)).toMatchObject({ status: 'Refunded' });
    expect(dataOf(p.orderId, 'PaymentRefunded')).toEqual([expect.objectContaining({ refundId, amount: '49.99', amountRefunded: '49.99', gatewayRefundId: w.gw.refunds[0]!.gatewayRefundId })]);

    await w.process(refundJob(refundId, p.orderId, 1));
    expect(w.gw.refundCalls.refund).toHaveLength(1);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
  });

  it.each([
    ['was not sent', 'not_sent', 0],
    ['timed out without being made', 'timeout', 1],
  ] as const)('when the refund %s, then the job retries with the refund still owed, and the re-run sends it under the same key: one refund', async (_case, step, lookUps) => {
    const w = workerOn({ refunds: [step, 'succeeded'] });
    const p = await charged(w);
    const refundId = await refundRequested(p.orderId, '10.00');

    await expect(w.process(refundJob(refundId, p.orderId))).rejects.toBeInstanceOf(RetryLaterError);
    expect(w.gw.refunds).toHaveLength(0);
    expect(w.gw.refundCalls.lookupRefund).toHaveLength(lookUps);
    expect((await stored(p.orderId)).snapshot.context.refunds[refundId]).toMatchObject({ status: 'requested', attempt: 1 });
    expect(await compensations.findRefund(refundId)).toMatchObject({ status: 'requested', idempotencyKey: `${p.id}-refund-${refundId}-1` });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted']);

    await expect(w.process(refundJob(refundId, p.orderId, 1))).resolves.toMatchObject({ status: 'succeeded' });
    expect(w.gw.refundCalls.refund.map((r) => r.idempotencyKey)).toEqual([`${p.id}-refund-${refundId}-1`, `${p.id}-refund-${refundId}-1`]);
    expect(w.gw.refunds).toHaveLength(1);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
  });

  it('when the gateway answers pending, then nothing is answered until it settles, and the re-run looks it up by its id and answers PaymentRefunded', async () => {
    const w = workerOn({ refunds: ['pending'] });
    const p = await charged(w);
    const refundId = await refundRequested(p.orderId, '5.00');

    await expect(w.process(refundJob(refundId, p.orderId))).rejects.toBeInstanceOf(RetryLaterError);
    const gatewayRefundId = w.gw.refunds[0]!.gatewayRefundId;
    expect((await stored(p.orderId)).snapshot.context.refunds[refundId]).toMatchObject({ status: 'pending', gatewayRefundId });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted']);

    // Still pending: asked, not answered.
    await expect(w.process(refundJob(refundId, p.orderId, 1))).rejects.toBeInstanceOf(RetryLaterError);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted']);

    w.gw.settleRefund(gatewayRefundId, 'succeeded');
    await expect(w.process(refundJob(refundId, p.orderId, 2))).resolves.toMatchObject({ status: 'succeeded' });

    expect(w.gw.refundCalls.refund).toHaveLength(1);
    expect(w.gw.refundCalls.lookupRefund.at(-1)).toMatchObject({ refundId, gatewayRefundId });
    expect(dataOf(p.orderId, 'PaymentRefunded')).toEqual([expect.objectContaining({ refundId, amount: '5.00', amountRefunded: '5.00', gatewayRefundId })]);
    expect(await stored(p.orderId)).toMatchObject({ status: 'PartiallyRefunded' });
  });

  it('when a pending refund fails at the gateway, then RefundFailed carries the gateway code and the money can be refunded again', async () => {
    const w = workerOn({ refunds: ['pending', 'succeeded'] });
    const p = await charged(w);
    const refundId = await refundRequested(p.orderId, '49.99');

    await expect(w.process(refundJob(refundId, p.orderId))).rejects.toBeInstanceOf(RetryLaterError);
    w.gw.settleRefund(w.gw.refunds[0]!.gatewayRefundId, 'failed');
    await expect(w.process(refundJob(refundId, p.orderId, 1))).resolves.toEqual({ refundId, status: 'failed', code: 'declined' });
    expect(dataOf(p.orderId, 'RefundFailed')).toEqual([expect.objectContaining({ refundId, code: 'declined' })]);
    // Counted (refunds_total) though the failure came from a look-up, not the refund call: RefundFailed alerts on it.
    expect(w.refundOutcomes).toEqual(['REFUND_PENDING', 'REFUND_FAILED']);
    expect(await stored(p.orderId)).toMatchObject({ status: 'Success' });

    const again = await refundRequested(p.orderId, '49.99');
    await expect(w.process(refundJob(again, p.orderId))).resolves.toMatchObject({ status: 'succeeded' });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'RefundFailed', 'PaymentRefunded']);
  });

  it('when the order has no payment, then RefundFailed(not_charged) answers it once and no gateway is asked', async () => {
    const w = workerOn();
    const orderId = randomUUID();
    const refundId = await refundRequested(orderId, '10.00');

    await expect(w.process(refundJob(refundId, orderId))).resolves.toEqual({ refundId, status: 'failed', code: 'not_charged' });
    await expect(w.process(refundJob(refundId, orderId, 1))).resolves.toEqual({ refundId, status: 'failed', code: 'not_charged' });

    expect(answers(orderId)).toEqual(['RefundFailed']);
    expect(dataOf(orderId, 'RefundFailed')[0]).toMatchObject({ orderId, refundId, code: 'not_charged' });
    expect(await compensations.findRefund(refundId)).toMatchObject({ status: 'failed', failureCode: 'not_charged' });
    expect(w.gw.refundCalls.refund).toHaveLength(0);
  });

  it('RefundFailed(not_charged) is handed to the relay at once, as every other answer is (onOutboxWritten)', async () => {
    const w = workerOn();
    const orderId = randomUUID();
    const refundId = await refundRequested(orderId, '10.00');

    await w.process(refundJob(refundId, orderId));

    expect(w.written.map((e) => e.id)).toEqual(repo.outbox.eventsOf(orderId).map((e) => e.id));
  });

  it('when the payment Failed, then RefundFailed(not_charged) answers the refund once', async () => {
    const w = workerOn({ charges: ['decline'] });
    const p = await charged(w);
    expect(p.status).toBe('Failed');
    const refundId = await refundRequested(p.orderId, '10.00');

    await expect(w.process(refundJob(refundId, p.orderId))).resolves.toEqual({ refundId, status: 'failed', code: 'not_charged' });
    await expect(w.process(refundJob(refundId, p.orderId, 1))).resolves.toMatchObject({ code: 'not_charged' });

    expect(answers(p.orderId)).toEqual(['PaymentFailed', 'RefundFailed']);
    expect(dataOf(p.orderId, 'RefundFailed')[0]).toMatchObject({ refundId, code: 'not_charged' });
    expect(w.gw.refundCalls.refund).toHaveLength(0);
  });

  it('when the amount is not valid in the payment currency, then RefundFailed(invalid_request) answers it once, with no gateway call', async () => {
    const w = workerOn();
    const p = await charged(w);
    const refundId = await refundRequested(p.orderId, '10.001');

    await expect(w.process(refundJob(refundId, p.orderId))).resolves.toEqual({ refundId, status: 'failed', code: 'invalid_request' });
    await expect(w.process(refundJob(refundId, p.orderId, 1))).resolves.toMatchObject({ code: 'invalid_request' });

    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'RefundFailed']);
    expect(w.gw.refundCalls.refund).toHaveLength(0);
  });

  it('when the payment is disputed, then a new refund is refused and never sent', async () => {
    const w = workerOn();
    const p = await charged(w);
    await w.apply({ orderId: p.orderId }, { type: 'DISPUTE_OPENED', disputeId: 'dp_1', amountMinor: '4999', reason: 'fraudulent' }, {});
    const refundId = await refundRequested(p.orderId, '10.00');

    await expect(w.process(refundJob(refundId, p.orderId))).resolves.toMatchObject({ refundId, status: 'failed' });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentDisputed', 'RefundFailed']);
    expect(w.gw.refundCalls.refund).toHaveLength(0);
  });

  it('when the charge is still Processing, then the refund job retries later and nothing is sent or answered', async () => {
    const w = workerOn({ charges: ['down'] });
    const p = await charged(w);
    expect(p.status).toBe('Processing');
    const refundId = await refundRequested(p.orderId, '10.00');

    await expect(w.process(refundJob(refundId, p.orderId))).rejects.toBeInstanceOf(RetryLaterError);

    expect(w.gw.refundCalls.refund).toHaveLength(0);
    expect(answers(p.orderId)).toEqual([]);
    expect(await compensations.findRefund(refundId)).toMatchObject({ status: 'requested' });
    expect((await stored(p.orderId)).snapshot.context.refunds).toEqual({});
  });
});

describe('CancelOrder jobs', () => {
  it('when the order has no payment, then PaymentCancelled with paymentId null answers it, once', async () => {
    const w = workerOn();
    const orderId = randomUUID();
    await cancelled(orderId);

    await expect(w.process(cancelJob(orderId))).resolves.toEqual({ answered: true, payment: null });
    await expect(w.process(cancelJob(orderId, 1))).resolves.toEqual({ answered: true, alreadyDone: true });

    expect(answers(orderId)).toEqual(['PaymentCancelled']);
    expect(dataOf(orderId, 'PaymentCancelled')[0]).toMatchObject({ orderId, paymentId: null });
    expect(repo.outbox.eventsOf(orderId)[0]?.paymentId).toBeNull();
    expect(w.written.map((e) => e.type)).toEqual(['PaymentCancelled']);
    expect((await compensations.findCancellation(orderId))?.answeredAt).toBeInstanceOf(Date);
  });

  it('when the payment is Initiated, then it fails with order_cancelled (PaymentFailed + PaymentCancelled) and is never charged', async () => {
    const w = workerOn();
    const p = await placed();
    await cancelled(p.orderId);

    await expect(w.process(cancelJob(p.orderId))).resolves.toEqual({ answered: true, status: 'Failed' });

    expect(await stored(p.orderId)).toMatchObject({ status: 'Failed', failureCode: 'order_cancelled' });
    expect(answersInAnyOrder(p.orderId)).toEqual(['PaymentCancelled', 'PaymentFailed']);
    expect(dataOf(p.orderId, 'PaymentFailed')[0]).toMatchObject({ code: 'order_cancelled' });
    expect(dataOf(p.orderId, 'PaymentCancelled')[0]).toMatchObject({ paymentId: p.id });
    expect((await compensations.findCancellation(p.orderId))?.answeredAt).toBeInstanceOf(Date);

    await w.charge(p.orderId);
    await expect(w.process(cancelJob(p.orderId, 1))).resolves.toMatchObject({ alreadyDone: true });
    expect(w.gw.calls.prepare).toHaveLength(0);
    expect(w.gw.calls.charge).toHaveLength(0);
    expect(answersInAnyOrder(p.orderId)).toEqual(['PaymentCancelled', 'PaymentFailed']);
  });

  it('when the payment is Success, then all of it is refunded under the cancellation refund id and PaymentRefunded is its one answer', async () => {
    const w = workerOn();
    const p = await charged(w);
    await cancelled(p.orderId);
    const refundId = cancellationRefundId(p.orderId);

    await expect(w.process(cancelJob(p.orderId))).resolves.toEqual({ answered: true, status: 'Refunded' });

    expect(w.gw.refundCalls.refund).toEqual([expect.objectContaining({ refundId, amountMinor: 4999n, idempotencyKey: `${p.id}-refund-${refundId}-1` })]);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
    expect(dataOf(p.orderId, 'PaymentRefunded')[0]).toMatchObject({ refundId, amount: '49.99', amountRefunded: '49.99', gatewayRefundId: w.gw.refunds[0]!.gatewayRefundId });
    expect(await stored(p.orderId)).toMatchObject({ status: 'Refunded', snapshot: { context: { cancellation: { answered: true } } } });
    expect((await compensations.findCancellation(p.orderId))?.answeredAt).toBeInstanceOf(Date);
    expect(await compensations.findRefund(refundId)).toMatchObject({ status: 'succeeded', cancel: true });

    await expect(w.process(cancelJob(p.orderId, 1))).resolves.toEqual({ answered: true, alreadyDone: true });
    expect(w.gw.refundCalls.refund).toHaveLength(1);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
  });

  it('when part was refunded already, then the cancellation refunds only the rest', async () => {
    const w = workerOn();
    const p = await charged(w);
    const partial = await refundRequested(p.orderId, '20.00');
    await w.process(refundJob(partial, p.orderId));
    await cancelled(p.orderId);

    await expect(w.process(cancelJob(p.orderId))).resolves.toEqual({ answered: true, status: 'Refunded' });

    expect(w.gw.refunds.map((r) => r.amountMinor)).toEqual([2000n, 2999n]);
    expect(dataOf(p.orderId, 'PaymentRefunded').at(-1)).toMatchObject({ refundId: cancellationRefundId(p.orderId), amount: '29.99', amountRefunded: '49.99' });
  });

  it('when the charge is Processing, then the charge job is asked to settle first and the cancellation retries, unanswered', async () => {
    const w = workerOn({ charges: ['down'] });
    const p = await charged(w);
    await cancelled(p.orderId);

    await expect(w.process(cancelJob(p.orderId))).rejects.toBeInstanceOf(RetryLaterError);

    expect(w.chargeOwed).toEqual([p.orderId]);
    expect((await stored(p.orderId)).snapshot.context.cancellation).toMatchObject({ refundId: cancellationRefundId(p.orderId), answered: false });
    expect(answers(p.orderId)).toEqual([]);
    expect(w.gw.refundCalls.refund).toHaveLength(0);
    expect((await compensations.findCancellation(p.orderId))?.answeredAt).toBeNull();

    // The charge job voids the handle instead of charging: PaymentFailed(order_cancelled) and PaymentCancelled, then the cancellation is done.
    await w.charge(p.orderId);
    await expect(w.process(cancelJob(p.orderId, 1))).resolves.toEqual({ answered: true, status: 'Failed' });
    expect(answersInAnyOrder(p.orderId)).toEqual(['PaymentCancelled', 'PaymentFailed']);
    expect(w.gw.charged.size).toBe(0);
    expect((await compensations.findCancellation(p.orderId))?.answeredAt).toBeInstanceOf(Date);
  });

  it('when the payment Failed, then PaymentCancelled answers it, once', async () => {
    const w = workerOn({ charges: ['decline'] });
    const p = await charged(w);
    await cancelled(p.orderId);

    await expect(w.process(cancelJob(p.orderId))).resolves.toEqual({ answered: true, status: 'Failed' });
    await expect(w.process(cancelJob(p.orderId, 1))).resolves.toEqual({ answered: true, alreadyDone: true });

    expect(answersInAnyOrder(p.orderId)).toEqual(['PaymentCancelled', 'PaymentFailed']);
    expect(dataOf(p.orderId, 'PaymentFailed')[0]).toMatchObject({ code: 'card_declined' });
    expect(w.gw.refundCalls.refund).toHaveLength(0);
  });

  it('when the cancellation refund fails at the gateway, then it is sent again under a new attempt key (a repeated key would answer the same failure) and PaymentRefunded answers the cancellation once', async () => {
    const w = workerOn({ refunds: ['failed', 'succeeded'] });
    const p = await charged(w);
    await cancelled(p.orderId);
    const refundId = cancellationRefundId(p.orderId);

    await runUntilSettled(() => w.process(cancelJob(p.orderId)));

    expect(w.gw.refundCalls.refund.map((r) => r.idempotencyKey)).toEqual([`${p.id}-refund-${refundId}-1`, `${p.id}-refund-${refundId}-2`]);
    expect(w.gw.refunds.map((r) => r.status)).toEqual(['failed', 'succeeded']);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
    expect(dataOf(p.orderId, 'PaymentRefunded')[0]).toMatchObject({ refundId, amount: '49.99', gatewayRefundId: w.gw.refunds[1]!.gatewayRefundId });
    expect((await compensations.findCancellation(p.orderId))?.answeredAt).toBeInstanceOf(Date);
  });

  // The look-up (by refund id: the re-armed attempt has no gateway id yet) finds attempt 1's failed refund, and the machine takes it
  // as attempt 2's outcome: attempt 2 is abandoned while it may still land, and attempt 3 goes out under a new key.
  it('when the second attempt of a cancellation refund times out unmade, then it is sent again under its own key, not taken as failed from the first attempt', async () => {
    const w = workerOn({ refunds: ['failed', 'timeout', 'succeeded'] });
    const p = await charged(w);
    await cancelled(p.orderId);
    const refundId = cancellationRefundId(p.orderId);

    await runUntilSettled(() => w.process(cancelJob(p.orderId)));

    expect(w.gw.refundCalls.refund.map((r) => r.idempotencyKey)).toEqual([`${p.id}-refund-${refundId}-1`, `${p.id}-refund-${refundId}-2`, `${p.id}-refund-${refundId}-2`]);
    expect(w.gw.refunds.map((r) => r.status)).toEqual(['failed', 'succeeded']);
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
  });

  it('when a refund is pending as the order is cancelled, then the cancellation waits for it and then refunds only what is left', async () => {
    const w = workerOn({ refunds: ['pending', 'succeeded'] });
    const p = await charged(w);
    const partial = await refundRequested(p.orderId, '10.00');
    await expect(w.process(refundJob(partial, p.orderId))).rejects.toBeInstanceOf(RetryLaterError);
    await cancelled(p.orderId);

    await expect(w.process(cancelJob(p.orderId))).rejects.toBeInstanceOf(RetryLaterError);
    expect(w.gw.refundCalls.refund).toHaveLength(1);

    w.gw.settleRefund(w.gw.refunds[0]!.gatewayRefundId, 'succeeded');
    await expect(runUntilSettled(() => w.process(cancelJob(p.orderId, 1)))).resolves.toEqual({ answered: true, status: 'Refunded' });
    expect(w.gw.refunds.map((r) => r.amountMinor)).toEqual([1000n, 3999n]);
    expect(dataOf(p.orderId, 'PaymentRefunded').map((d) => [d.refundId, d.amount, d.amountRefunded])).toEqual([
      [partial, '10.00', '10.00'],
      [cancellationRefundId(p.orderId), '39.99', '49.99'],
    ]);
  });

  it('when the payment is disputed, then the cancellation is answered PaymentCancelled and nothing is refunded', async () => {
    const w = workerOn();
    const p = await charged(w);
    await w.apply({ orderId: p.orderId }, { type: 'DISPUTE_OPENED', disputeId: 'dp_1', amountMinor: '4999', reason: 'fraudulent' }, {});
    await cancelled(p.orderId);

    await expect(w.process(cancelJob(p.orderId))).resolves.toEqual({ answered: true, status: 'Disputed' });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentDisputed', 'PaymentCancelled']);
    expect(w.gw.refundCalls.refund).toHaveLength(0);
  });

  it('when no cancellation was recorded, then the job fails for good', async () => {
    const w = workerOn();
    await expect(w.process(cancelJob(randomUUID()))).rejects.toBeInstanceOf(UnrecoverableError);
  });
});

describe('apply (webhooks)', () => {
  it('when REFUND_SUCCEEDED arrives for a pending refund, then it is applied once, and the same event again is refused and noted', async () => {
    const w = workerOn({ refunds: ['pending'] });
    const p = await charged(w);
    const refundId = await refundRequested(p.orderId, '15.00');
    await expect(w.process(refundJob(refundId, p.orderId))).rejects.toBeInstanceOf(RetryLaterError);
    const gatewayRefundId = w.gw.refunds[0]!.gatewayRefundId;
    w.gw.settleRefund(gatewayRefundId, 'succeeded');
    const event = { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId } as const;

    await expect(w.apply({ transactionId: p.transactionId! }, event, { eventId: 'evt_1' })).resolves.toBe('applied');
    expect(await stored(p.orderId)).toMatchObject({ status: 'PartiallyRefunded' });
    expect(dataOf(p.orderId, 'PaymentRefunded')).toEqual([expect.objectContaining({ refundId, amount: '15.00', gatewayRefundId })]);

    await expect(w.apply({ transactionId: p.transactionId! }, event, { eventId: 'evt_1' })).resolves.toBe('refused');
    // Each outcome the payment took is counted once: the webhook's, not its refused repeat.
    expect(w.refundOutcomes).toEqual(['REFUND_PENDING', 'REFUND_SUCCEEDED']);
    const notes = (await repo.history(p.orderId)).filter((h) => h.event === 'WEBHOOK_REFUSED');
    expect(notes).toEqual([expect.objectContaining({ detail: expect.objectContaining({ eventId: 'evt_1', event: 'REFUND_SUCCEEDED', status: 'PartiallyRefunded' }) })]);

    await expect(w.process(refundJob(refundId, p.orderId, 1))).resolves.toMatchObject({ status: 'succeeded' });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentRefunded']);
  });

  it('when the webhook names a charge no payment has, then it is no_payment and nothing is written', async () => {
    const w = workerOn();
    const before = repo.outbox.rows().length;
    await expect(w.apply({ transactionId: 'pi_nobody' }, { type: 'REFUND_SUCCEEDED', refundId: randomUUID(), gatewayRefundId: 're_x' }, {})).resolves.toBe('no_payment');
    expect(repo.outbox.rows()).toHaveLength(before);
  });

  it('when a dispute opens on a Success payment, then the payment is Disputed and PaymentDisputed carries the amount', async () => {
    const w = workerOn();
    const p = await charged(w);

    await expect(w.apply({ orderId: p.orderId }, { type: 'DISPUTE_OPENED', disputeId: 'dp_1', amountMinor: '4999', reason: 'fraudulent' }, { eventId: 'evt_2' })).resolves.toBe('applied');

    expect(await stored(p.orderId)).toMatchObject({ status: 'Disputed' });
    expect(answers(p.orderId)).toEqual(['PaymentCompleted', 'PaymentDisputed']);
    expect(dataOf(p.orderId, 'PaymentDisputed')[0]).toMatchObject({ orderId: p.orderId, paymentId: p.id, disputeId: 'dp_1', amount: '49.99', currency: 'USD', reason: 'fraudulent' });
  });
});
