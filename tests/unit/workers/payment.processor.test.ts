import { RateLimitError, UnrecoverableError } from 'bullmq';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.js';
import type { OutboxEvent } from '../../../src/persistence/payments.repository.js';
import type { RoutedGateway } from '../../../src/workers/gateway-router.js';
import { ConcurrentUpdateError } from '../../../src/workers/payment-transitions.js';
import { createPaymentProcessor, RetryLaterError } from '../../../src/workers/payment.processor.js';
import { createInMemoryBreaker, type InMemoryBreaker } from '../../support/fakes/in-memory.breaker.js';
import { asPaymentsRepository, createInMemoryPaymentsRepository, type InMemoryPaymentsRepository } from '../../support/fakes/in-memory-payments.repository.js';
import { fakeJob, legacyV2Processing, newPayment, type SamplePayment } from '../../support/fakes/payment-records.js';
import { asPaymentGateway, createScriptedGateway, type ScriptedGateway } from '../../support/fakes/scripted.gateway.js';
import type { RiskDecision, RiskScreen, RiskSubject } from '../../../src/risk/risk.port.js';
import { createRuleFileScreen } from '../../../src/risk/rule-file.js';

/**
 * The processor's paths on in-memory fakes: the same story as
 * tests/integration/workers/payment.processor.test.ts, in milliseconds. What
 * only PostgreSQL can show (the statements, group commits) stays there.
 */
const logger = pino({ level: 'silent' });
const metrics = createMetrics();

let journal: string[];
let repo: InMemoryPaymentsRepository;

beforeEach(() => {
  journal = [];
  repo = createInMemoryPaymentsRepository({ journal });
});

// Every path, whatever it asserts itself: a settled payment has exactly one terminal event, an unsettled one none.
afterEach(() => {
  for (const p of repo.all()) {
    const expected = p.status === 'Success' ? ['PaymentCompleted'] : p.status === 'Failed' ? ['PaymentFailed'] : [];
    expect(repo.outbox.eventsOf(p.orderId).map((e) => e.type), `outbox of a ${p.status} payment`).toEqual(expected);
  }
});

async function given(sample?: SamplePayment): Promise<string> {
  const p = newPayment(sample);
  await repo.insert(p);
  return p.orderId;
}

const routed = (g: ScriptedGateway, breaker?: InMemoryBreaker): RoutedGateway => ({ gateway: asPaymentGateway(g.gateway), ...(breaker ? { breaker: breaker.breaker } : {}) });

function processorOn(gateways: ScriptedGateway | RoutedGateway[], risk?: RiskScreen) {
  const written: OutboxEvent[] = [];
  const pauses: number[] = [];
  const process = createPaymentProcessor({
    payments: asPaymentsRepository(repo),
    gateways: Array.isArray(gateways) ? gateways : [routed(gateways)],
    pauseQueue: async (ms) => void pauses.push(ms),
    logger,
    metrics,
    onOutboxWritten: (_orderId, event) => void written.push(event),
    ...(risk ? { risk } : {}),
  });
  return { process, written, pauses };
}

const stored = async (orderId: string) => (await repo.findByOrderId(orderId))!;
/** gateway_call_seconds_count for the scripted gateway's `operation` with `outcome`, so far. */
async function callsCounted(operation: string, outcome: string): Promise<number> {
  const { values } = await metrics.gatewayCall.get();
  const count = values.find((v) => v.metricName === 'gateway_call_seconds_count' && v.labels.gateway === 'scripted' && v.labels.operation === operation && v.labels.outcome === outcome);
  return count?.value ?? 0;
}
const events = async (orderId: string) => (await repo.history(orderId)).map((h) => h.event);
/** Fails unless every entry appears in the journal, in this order. */
function expectInOrder(entries: string[]) {
  const at = entries.map((e) => journal.indexOf(e));
  expect(at.every((i) => i >= 0), `${entries.join(', ')} in ${journal.join(', ')}`).toBe(true);
  expect([...at].sort((a, b) => a - b), `order in ${journal.join(', ')}`).toEqual(at);
}

describe('payment processor on fakes', () => {
  it('when the gateway charges, then the payment is Success, its handle was committed before the confirm, and one PaymentCompleted is written and handed over', async () => {
    const orderId = await given();
    const gw = createScriptedGateway(['ok'], { journal });
    const { process, written } = processorOn(gw);

    const result = await process(fakeJob(orderId));

    const p = await stored(orderId);
    expect(result).toEqual({ status: 'Success', transactionId: p.transactionId, code: null });
    expect(p).toMatchObject({ status: 'Success', gateway: 'scripted', transactionId: gw.calls.charge[0]!.intentId });
    expect(gw.calls.prepare[0]).toMatchObject({ idempotencyKey: `${p.id}-intent-0`, amountMinor: 4999n, currency: 'USD' });
    expect(journal).toEqual(['scripted.prepare', 'commit:START', 'scripted.charge', 'commit:CHARGE_SUCCEEDED']);
    expect(await events(orderId)).toEqual(['CREATED', 'START', 'CHARGE_SUCCEEDED']);
    const [row] = repo.outbox.eventsOf(orderId);
    expect(row?.payload).toMatchObject({ type: 'PaymentCompleted', data: { orderId, amount: '49.99', currency: 'USD', transactionId: p.transactionId } });
    expect(written.map((e) => e.id)).toEqual([row?.id]);
  });

  it.each([
    ['decline', 'card_declined'],
    ['insufficient', 'insufficient_funds'],
  ] as const)('when the gateway answers %s, then the job completes with Failed and %s, charged once, never retried', async (step, code) => {
    const orderId = await given();
    const gw = createScriptedGateway([step]);
    const { process, written } = processorOn(gw);

    await expect(process(fakeJob(orderId))).resolves.toEqual({ status: 'Failed', transactionId: null, code });

    expect(await stored(orderId)).toMatchObject({ status: 'Failed', failureCode: code });
    expect(gw.calls.charge).toHaveLength(1);
    expect(repo.outbox.eventsOf(orderId)[0]?.payload).toMatchObject({ data: { code } });
    expect(written).toHaveLength(1);
  });

  it('when the gateway refuses the connection, then the job is retried and the next attempt confirms the same handle', async () => {
    const orderId = await given();
    const gw = createScriptedGateway(['down', 'ok']);
    const { process, written } = processorOn(gw);

    await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
    expect(await stored(orderId)).toMatchObject({ status: 'Processing', snapshot: { context: { failures: 1 } } });
    expect(written).toHaveLength(0);

    await expect(process(fakeJob(orderId, 1))).resolves.toMatchObject({ status: 'Success' });
    expect(gw.calls.prepare).toHaveLength(1);
    expect(new Set(gw.calls.charge.map((c) => c.intentId)).size).toBe(1);
    expect(await events(orderId)).toEqual(['CREATED', 'START', 'CHARGE_FAILED_TRANSIENTLY', 'CHARGE_SUCCEEDED']);
  });

  describe('an unknown outcome is settled by reading the handle', () => {
    it('when the confirm charged and its response was lost, then the look-up finds the charge and the payment completes at once', async () => {
      const orderId = await given();
      const gw = createScriptedGateway(['lost']);

      await expect(processorOn(gw).process(fakeJob(orderId))).resolves.toMatchObject({ status: 'Success' });

      expect(gw.calls.lookup).toEqual([gw.calls.charge[0]!.intentId]);
      expect(gw.charged.size).toBe(1);
      expect((await stored(orderId)).transactionId).toBe([...gw.charged.keys()][0]);
    });

    it('when the confirm timed out without charging, then the look-up says so and the job is retried, not failed', async () => {
      const orderId = await given();
      const gw = createScriptedGateway(['timeout', 'ok']);
      const { process } = processorOn(gw);
      const timeouts = await callsCounted('charge', 'timeout');

      await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
      expect(gw.calls.lookup).toHaveLength(1);
      expect((await stored(orderId)).status).toBe('Processing');
      // Told apart from other unknown outcomes in gateway_call_seconds: GatewayTimeoutsHigh alerts on it.
      expect(await callsCounted('charge', 'timeout')).toBe(timeouts + 1);

      await expect(process(fakeJob(orderId, 1))).resolves.toMatchObject({ status: 'Success' });
      expect(gw.charged.size).toBe(1);
    });

    it('when the look-up cannot tell either, then the payment stays Processing with its attempt unspent, and the note says why', async () => {
      const orderId = await given({ maxAttempts: 1 });
      const gw = createScriptedGateway(['timeout'], { lookupFails: true });

      await expect(processorOn(gw).process(fakeJob(orderId))).rejects.toBeInstanceOf(RetryLaterError);

      expect(await stored(orderId)).toMatchObject({ status: 'Processing', snapshot: { context: { failures: 0 } } });
      expect(await events(orderId)).toEqual(['CREATED', 'START', 'CHARGE_UNSETTLED']);
    });
  });

  describe('giving up', () => {
    it('when attempts run out, then the handle is cancelled before GIVE_UP is committed and the payment fails as gateway_unavailable', async () => {
      const orderId = await given({ currency: 'JPY', amount: '5000', amountMinor: 5000n, maxAttempts: 3 });
      const gw = createScriptedGateway(['down', 'down', 'down'], { journal });
      const { process } = processorOn(gw);

      await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
      await expect(process(fakeJob(orderId, 1))).rejects.toBeInstanceOf(RetryLaterError);
      await expect(process(fakeJob(orderId, 2))).resolves.toEqual({ status: 'Failed', transactionId: null, code: 'gateway_unavailable' });

      const p = await stored(orderId);
      expect(p).toMatchObject({ status: 'Failed', failureCode: 'gateway_unavailable' });
      expect(p.failureReason).toMatch(/after 3 attempts/);
      expect(gw.calls.void).toEqual([gw.calls.charge[0]!.intentId]);
      expect([...gw.canceled]).toEqual(gw.calls.void);
      expectInOrder(['scripted.void', 'commit:GIVE_UP']);
      expect(repo.outbox.eventsOf(orderId)[0]?.payload).toMatchObject({ data: { code: 'gateway_unavailable' } });
    });

    it('when the cancel loses the race to a confirm still in flight, then the payment completes with that charge instead of failing', async () => {
      const orderId = await given({ maxAttempts: 1 });
      const gw = createScriptedGateway(['late']);

      await expect(processorOn(gw).process(fakeJob(orderId))).resolves.toMatchObject({ status: 'Success' });

      expect(gw.calls.void).toHaveLength(1);
      expect(await stored(orderId)).toMatchObject({ status: 'Success', transactionId: gw.calls.void[0] });
      expect(await events(orderId)).not.toContain('GIVE_UP');
    });

    it('when the cancel itself fails, then the payment stays Processing: never Failed while its handle could still charge', async () => {
      const orderId = await given({ maxAttempts: 1 });
      const gw = createScriptedGateway(['down'], { voidFails: true });

      await expect(processorOn(gw).process(fakeJob(orderId))).rejects.toBeInstanceOf(RetryLaterError);

      expect((await stored(orderId)).status).toBe('Processing');
      expect(gw.calls.void).toHaveLength(1);
    });
  });

  describe('failover', () => {
    it('when the primary refuses the connection, then its handle is cancelled before the secondary prepares, and the secondary charges', async () => {
      const orderId = await given();
      const primary = createScriptedGateway(['down'], { name: 'primary', journal });
      const secondary = createScriptedGateway(['ok'], { name: 'secondary', journal });

      await processorOn([routed(primary), routed(secondary)]).process(fakeJob(orderId));

      const p = await stored(orderId);
      expect(p).toMatchObject({ status: 'Success', gateway: 'secondary', snapshot: { context: { intents: { secondary: p.transactionId } } } });
      expect(primary.canceled.size).toBe(1);
      expectInOrder(['primary.charge', 'primary.void', 'secondary.prepare', 'commit:ROUTE', 'secondary.charge', 'commit:CHARGE_SUCCEEDED']);
      expect(primary.charged.size + secondary.charged.size).toBe(1);
    });

    it('when the primary may have charged and nobody can tell, then the secondary is never asked', async () => {
      const orderId = await given();
      const primary = createScriptedGateway(['timeout'], { name: 'primary', lookupFails: true });
      const secondary = createScriptedGateway(['ok'], { name: 'secondary' });

      await expect(processorOn([routed(primary), routed(secondary)]).process(fakeJob(orderId))).rejects.toBeInstanceOf(RetryLaterError);

      expect(secondary.calls.prepare).toHaveLength(0);
      expect((await stored(orderId)).status).toBe('Processing');
    });

    it('when the primary breaker is open, then a new payment goes to the secondary without a call to the primary', async () => {
      const orderId = await given();
      const primary = createScriptedGateway([], { name: 'primary' });
      const secondary = createScriptedGateway(['ok'], { name: 'secondary' });

      await processorOn([routed(primary, createInMemoryBreaker({ state: 'open' })), routed(secondary)]).process(fakeJob(orderId));

      expect(primary.calls).toEqual({ prepare: [], charge: [], lookup: [], void: [] });
      expect(await stored(orderId)).toMatchObject({ status: 'Success', gateway: 'secondary' });
    });
  });

  describe('the circuit breaker', () => {
    it('when every breaker is open, then nothing is sent, the queue pauses for the open time and no attempt is spent', async () => {
      const orderId = await given();
      const only = createScriptedGateway([], { name: 'primary' });
      const { process, pauses } = processorOn([routed(only, createInMemoryBreaker({ state: 'open', openMs: 750 }))]);

      await expect(process(fakeJob(orderId))).rejects.toBeInstanceOf(RateLimitError);

      expect(only.calls.prepare).toHaveLength(0);
      expect(pauses).toEqual([750]);
      expect((await stored(orderId)).snapshot.context.failures).toBe(0);
    });

    it('when this failure opens the breaker, then the job waits and the payment keeps its attempt', async () => {
      const orderId = await given();
      const only = createScriptedGateway(['down'], { name: 'primary' });
      const breaker = createInMemoryBreaker({ failureThreshold: 1, openMs: 900 });
      const { process, pauses } = processorOn([routed(only, breaker)]);

      await expect(process(fakeJob(orderId))).rejects.toBeInstanceOf(RateLimitError);

      expect(breaker.state()).toBe('open');
      expect(pauses).toEqual([900]);
      expect((await stored(orderId)).snapshot.context.failures).toBe(0);
    });

    it('when a payment is the half-open probe and its call times out, then it spends its attempt, so a payment whose every call hangs still gets an answer', async () => {
      const orderId = await given({ maxAttempts: 2 });
      const only = createScriptedGateway(['timeout', 'timeout'], { name: 'primary' });
      const breaker = createInMemoryBreaker({ state: 'half_open' });
      const { process } = processorOn([routed(only, breaker)]);

      await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
      expect((await stored(orderId)).snapshot.context.failures).toBe(1);
      breaker.set('half_open');
      await expect(process(fakeJob(orderId, 1))).resolves.toMatchObject({ status: 'Failed', code: 'gateway_unavailable' });
    });

    it('when a payment is the half-open probe and the gateway refuses the connection, then it keeps its attempt: a refusal is the outage, not the payment', async () => {
      const orderId = await given({ maxAttempts: 1 });
      const only = createScriptedGateway(['down'], { name: 'primary' });
      const breaker = createInMemoryBreaker({ state: 'half_open', openMs: 900, halfOpenProbes: 3 });
      const { process, pauses } = processorOn([routed(only, breaker)]);

      await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RateLimitError);

      expect(only.calls.charge.length + only.calls.prepare.length, 'the probe did call').toBeGreaterThan(0);
      expect(pauses).toEqual([900]);
      expect((await stored(orderId)).snapshot.context.failures).toBe(0);
    });
  });

  describe('duplicates and races', () => {
    it('when the payment is already settled, then a repeated job calls no gateway and writes nothing', async () => {
      const orderId = await given();
      const gw = createScriptedGateway(['ok']);
      const { process, written } = processorOn(gw);
      await process(fakeJob(orderId));
      const before = await events(orderId);

      await expect(process(fakeJob(orderId))).resolves.toMatchObject({ status: 'Success', alreadyDone: true });

      expect(gw.calls.prepare).toHaveLength(1);
      expect(gw.calls.charge).toHaveLength(1);
      expect(await events(orderId)).toEqual(before);
      expect(written).toHaveLength(1);
    });

    it('when two workers pick up the same new payment at once, then one charges and the other stops on ConcurrentUpdateError', async () => {
      const orderId = await given();
      const gw = createScriptedGateway(['ok', 'ok']);

      const results = await Promise.allSettled([processorOn(gw).process(fakeJob(orderId)), processorOn(gw).process(fakeJob(orderId))]);

      expect(results.filter((r) => r.status === 'fulfilled')).toEqual([expect.objectContaining({ value: expect.objectContaining({ status: 'Success' }) })]);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual([expect.any(ConcurrentUpdateError)]);
      expect(gw.charged.size).toBe(1);
      expect((await repo.history(orderId)).filter((h) => h.toStatus === 'Success')).toHaveLength(1);
    });

    it('when a second worker confirms the same handle while the first is still waiting on the gateway, then exactly one commits the outcome', async () => {
      const orderId = await given();
      const gw = createScriptedGateway(['hang']);
      const first = processorOn(gw).process(fakeJob(orderId, 0));
      await gw.whenHung(1);

      const second = processorOn(gw).process(fakeJob(orderId, 1));
      await gw.until(() => gw.calls.charge.length === 2);
      gw.release('ok');
      const results = await Promise.allSettled([first, second]);

      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.any(ConcurrentUpdateError) });
      expect(new Set(gw.calls.charge.map((c) => c.intentId)).size).toBe(1);
      expect(gw.charged.size).toBe(1);
    });
  });

  describe('payments from machine version 2, charged before handles were recorded', () => {
    async function legacy(): Promise<string> {
      const p = newPayment();
      await repo.insert({ ...p, snapshot: legacyV2Processing(p.snapshot) });
      return p.orderId;
    }

    it('when search finds nothing (it lags writes), then nothing is prepared or charged and the payment stays Processing', async () => {
      const orderId = await legacy();
      const gw = createScriptedGateway(['ok']);

      await expect(processorOn(gw).process(fakeJob(orderId))).rejects.toBeInstanceOf(RetryLaterError);

      expect(gw.calls.prepare).toHaveLength(0);
      expect(gw.calls.lookup).toEqual([undefined]);
      expect((await stored(orderId)).status).toBe('Processing');
    });

    it('when search finds the old charge, then the payment completes with it', async () => {
      const orderId = await legacy();
      const gw = createScriptedGateway([], { searchFinds: { status: 'succeeded', transactionId: 'pi_legacy', response: { id: 'pi_legacy' } } });

      await expect(processorOn(gw).process(fakeJob(orderId))).resolves.toMatchObject({ status: 'Success', transactionId: 'pi_legacy' });
      expect(gw.calls.prepare).toHaveLength(0);
    });
  });

  it('when the order has no payment row, then the job fails for good and says where to look', async () => {
    const failure = await processorOn(createScriptedGateway()).process(fakeJob('5f1e1e0c-0000-4000-8000-000000000000')).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UnrecoverableError);
    expect((failure as Error).message).toMatch(/no payment row .* check the database/);
  });
});

describe('risk screening before the first charge', () => {
  const gatewayCalls = (gw: ScriptedGateway) => gw.calls.prepare.length + gw.calls.charge.length + gw.calls.lookup.length;
  /** A screen that answers `decision` and records what it was asked. */
  function screenAnswering(decision: RiskDecision) {
    const asked: RiskSubject[] = [];
    return { asked, screen: { screen: async (p: RiskSubject) => (asked.push(p), decision) } satisfies RiskScreen };
  }

  it('when a rule blocks the payment, then it ends Failed risk_blocked with one PaymentFailed naming the rule, and the gateway is never called', async () => {
    const orderId = await given({ paymentMethod: 'pm_card_stolen' });
    const gw = createScriptedGateway(['ok'], { journal });
    const risk = createRuleFileScreen({ rules: { blockedPaymentMethods: ['pm_card_stolen'] }, prefix: '{t}' });
    const { process, written } = processorOn(gw, risk);

    await expect(process(fakeJob(orderId))).resolves.toEqual({ status: 'Failed', transactionId: null, code: 'risk_blocked' });

    expect(gatewayCalls(gw)).toBe(0);
    expect(await stored(orderId)).toMatchObject({ status: 'Failed', failureCode: 'risk_blocked', failureReason: 'blocked by rule blockedPaymentMethods' });
    const [row] = repo.outbox.eventsOf(orderId);
    expect(row?.payload).toMatchObject({ type: 'PaymentFailed', data: { orderId, code: 'risk_blocked', reason: 'blocked by rule blockedPaymentMethods' } });
    expect(written.map((e) => e.id)).toEqual([row?.id]);
    const history = await repo.history(orderId);
    expect(history.map((h) => h.event)).toEqual(['CREATED', 'REJECT']);
    expect(history[1]?.detail).toMatchObject({ risk: { decision: 'block', rule: 'blockedPaymentMethods' } });
  });

  it('when the blocked payment is redelivered, then it is absorbed without screening or charging again', async () => {
    const orderId = await given();
    const gw = createScriptedGateway(['ok']);
    const block = screenAnswering({ decision: 'block', rule: 'maxAmount', reason: 'amount over maxAmount for USD' });
    const { process } = processorOn(gw, block.screen);

    await process(fakeJob(orderId));
    await expect(process(fakeJob(orderId, 1))).resolves.toMatchObject({ status: 'Failed', code: 'risk_blocked', alreadyDone: true });
    expect(block.asked).toHaveLength(1);
    expect(gatewayCalls(gw)).toBe(0);
  });

  it('when the screen allows, then the decision is noted and the payment is charged as without screening', async () => {
    const orderId = await given();
    const gw = createScriptedGateway(['ok'], { journal });
    const allow = screenAnswering({ decision: 'allow' });
    const { process } = processorOn(gw, allow.screen);

    await expect(process(fakeJob(orderId))).resolves.toMatchObject({ status: 'Success' });

    const p = await stored(orderId);
    expect(allow.asked).toEqual([{ orderId, paymentId: p.id, customerId: 'cus_123', paymentMethod: 'pm_card_visa', amountMinor: 4999n, currency: 'USD' }]);
    expect(journal).toEqual(['note:RISK_SCREENED', 'scripted.prepare', 'commit:START', 'scripted.charge', 'commit:CHARGE_SUCCEEDED']);
    const history = await repo.history(orderId);
    expect(history.find((h) => h.event === 'RISK_SCREENED')?.detail).toMatchObject({ decision: 'allow', rule: null });
  });

  it('when a payment is already Processing (a retried attempt), then it is not screened again', async () => {
    const orderId = await given();
    const gw = createScriptedGateway(['down', 'ok']);
    const allow = screenAnswering({ decision: 'allow' });
    const { process } = processorOn(gw, allow.screen);

    await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
    await expect(process(fakeJob(orderId, 1))).resolves.toMatchObject({ status: 'Success' });
    expect(allow.asked).toHaveLength(1);
  });

  it('when the screen cannot answer (Redis down), then the job fails to be retried and nothing is charged', async () => {
    const orderId = await given();
    const gw = createScriptedGateway(['ok']);
    const broken: RiskScreen = { screen: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:6379'); } };

    await expect(processorOn(gw, broken).process(fakeJob(orderId))).rejects.toThrow(/ECONNREFUSED/);
    expect(gatewayCalls(gw)).toBe(0);
    expect((await stored(orderId)).status).toBe('Initiated');
  });
});
