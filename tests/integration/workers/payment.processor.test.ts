import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeHandle, ChargeLookup, ChargeRequest, ChargeSucceeded, PaymentGateway } from '../../../src/gateway/gateway.port.js';
import { createPaymentSnapshot } from '../../../src/machines/payment.snapshot.js';
import { createSimulator, type Simulator } from '../../../src/gateway/simulator/simulator.js';
import { createStripeGateway } from '../../../src/gateway/stripe.gateway.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import type { ChargePaymentJob } from '../../../src/queues/payments.queue.js';
import { createPaymentProcessor, RetryLaterError } from '../../../src/workers/payment.processor.js';
import { RefusedTransitionError } from '../../../src/workers/payment-transitions.js';
import type { RoutedGateway } from '../../../src/workers/gateway-router.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';

type Step = 'ok' | 'decline' | 'insufficient' | 'down' | 'lost' | 'timeout';

/**
 * A scripted gateway: each confirm takes the next step. It keeps what it
 * prepared by key and what it charged by handle, as Stripe does; search (for
 * legacy payments) finds nothing, as Stripe's lagging search may.
 */
function scriptedGateway(steps: Step[], opts: { lookupFails?: boolean; delayMs?: number; name?: string; searchFinds?: ChargeLookup } = {}) {
  const prepared = new Map<string, string>();
  const charged = new Map<string, ChargeSucceeded>();
  const canceled = new Set<string>();
  const calls = { prepare: [] as ChargeRequest[], charge: [] as ChargeHandle[], lookup: 0, void: 0 };
  const stateOf = (intentId: string): ChargeLookup =>
    charged.get(intentId) ?? (canceled.has(intentId) ? { status: 'canceled', transactionId: intentId } : { status: 'not_charged', transactionId: intentId });
  const gateway: PaymentGateway = {
    name: opts.name ?? 'scripted',
    async prepare(req) {
      calls.prepare.push(req);
      const intentId = prepared.get(req.idempotencyKey) ?? `pi_${randomUUID()}`;
      prepared.set(req.idempotencyKey, intentId);
      return { orderId: req.orderId, paymentId: req.paymentId, intentId };
    },
    async charge(handle) {
      calls.charge.push(handle);
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      const prior = charged.get(handle.intentId);
      if (prior) return prior; // one intent charges once, as Stripe does
      if (canceled.has(handle.intentId)) throw new PermanentGatewayError('processing_error', 'canceled');
      const step = steps.shift() ?? 'ok';
      const success = (): ChargeSucceeded => {
        const ok = { status: 'succeeded' as const, transactionId: handle.intentId, response: { id: handle.intentId } };
        charged.set(handle.intentId, ok);
        return ok;
      };
      switch (step) {
        case 'ok':
          return success();
        case 'decline':
          throw new PermanentGatewayError('card_declined', 'Your card was declined.');
        case 'insufficient':
          throw new PermanentGatewayError('insufficient_funds', 'Your card has insufficient funds.');
        case 'down':
          throw new TransientGatewayError('gateway_unavailable', 'connect ECONNREFUSED', 'not_sent');
        case 'timeout':
          throw new TransientGatewayError('gateway_timeout', 'no answer in time', 'unknown');
        case 'lost':
          success();
          throw new TransientGatewayError('connection_lost', 'socket hang up', 'unknown');
      }
    },
    async lookup(req): Promise<ChargeLookup> {
      calls.lookup++;
      if (opts.lookupFails) throw new TransientGatewayError('gateway_unavailable', 'lookup refused', 'not_sent');
      return req.intentId ? stateOf(req.intentId) : (opts.searchFinds ?? { status: 'not_found' });
    },
    async void(handle): Promise<ChargeLookup> {
      calls.void++;
      if (opts.lookupFails) throw new TransientGatewayError('gateway_unavailable', 'cancel refused', 'not_sent');
      if (!charged.has(handle.intentId)) canceled.add(handle.intentId);
      return stateOf(handle.intentId);
    },
    // The charge processor never refunds: a call here is a bug the test should show.
    async refund() {
      throw new Error('the scripted gateway does not refund');
    },
    async lookupRefund() {
      throw new Error('the scripted gateway does not refund');
    },
  };
  return { gateway, calls, charged, canceled };
}

function fakeJob(orderId: string, attemptsMade: number, attempts = 3): Job<ChargePaymentJob> {
  return { id: orderId, data: { orderId }, attemptsMade, opts: { attempts } } as unknown as Job<ChargePaymentJob>;
}

describe('payment processor (real PostgreSQL)', () => {
  let iso: Isolated;
  let knex: Knex;
  let payments: PaymentsRepository;
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    iso = await isolate();
    knex = createKnex(iso.databaseUrl);
    payments = createPaymentsRepository(knex);
  });
  afterAll(async () => {
    await knex.destroy();
    await iso.cleanup();
  });

  async function newPayment(currency = 'USD', amount = '49.99', amountMinor = 4999n, maxAttempts = 3) {
    const orderId = randomUUID();
    const paymentId = randomUUID();
    await payments.insert({
      id: paymentId,
      orderId,
      amount,
      amountMinor,
      currency,
      customerId: 'cus_123',
      paymentMethod: 'pm_card_visa',
      sourceEventId: randomUUID(),
      snapshot: createPaymentSnapshot({ orderId, paymentId, amountMinor: amountMinor.toString(), currency, maxAttempts }),
    });
    return orderId;
  }

  function processorWith(gateway: PaymentGateway | RoutedGateway[], pauses: number[] = []) {
    let kicks = 0;
    const gateways = Array.isArray(gateway) ? gateway : [{ gateway }];
    const process = createPaymentProcessor({
      payments,
      gateways,
      pauseQueue: async (ms) => {
        pauses.push(ms);
      },
      logger,
      metrics: createMetrics(),
      onOutboxWritten: () => kicks++,
    });
    return { process, kicks: () => kicks };
  }

  async function outboxOf(orderId: string) {
    return knex('outbox').where({ order_id: orderId });
  }

  it('when the gateway charges, then the payment is Success with one PaymentCompleted in the outbox', async () => {
    const orderId = await newPayment();
    const { gateway, calls } = scriptedGateway(['ok']);
    const { process, kicks } = processorWith(gateway);

    const result = await process(fakeJob(orderId, 0));

    const p = await payments.findByOrderId(orderId);
    expect(result.status).toBe('Success');
    expect(p?.status).toBe('Success');
    expect(p?.transactionId).toMatch(/^pi_/);
    expect(calls.prepare[0]).toMatchObject({ idempotencyKey: `${p?.id}-intent-0`, amountMinor: 4999n });
    expect(calls.charge[0]?.intentId).toBe(p?.transactionId);
    expect(p?.snapshot.context.intents).toEqual({ scripted: p?.transactionId });
    const events = await outboxOf(orderId);
    expect(events).toHaveLength(1);
    expect(events[0].type).toBe('PaymentCompleted');
    expect(events[0].payload.data).toMatchObject({ orderId, amount: '49.99', currency: 'USD', transactionId: p?.transactionId });
    // Processing and the handle are committed together (START) before the confirm that can move money.
    expect((await payments.history(orderId)).map((h) => h.event)).toEqual(['CREATED', 'START', 'CHARGE_SUCCEEDED']);
    expect(kicks()).toBe(1);
  });

  it.each([
    ['decline', 'card_declined'],
    ['insufficient', 'insufficient_funds'],
  ] as const)('when the gateway answers %s, then the payment fails at once with %s, never retried, and its job completes (a decline is no broken job)', async (step, code) => {
    const orderId = await newPayment();
    const { gateway, calls } = scriptedGateway([step]);
    const { process } = processorWith(gateway);

    await expect(process(fakeJob(orderId, 0))).resolves.toMatchObject({ status: 'Failed' });

    const p = await payments.findByOrderId(orderId);
    expect(p).toMatchObject({ status: 'Failed', failureCode: code, transactionId: null });
    const events = await outboxOf(orderId);
    expect(events.map((e) => [e.type, e.payload.data.code])).toEqual([['PaymentFailed', code]]);
    expect(calls.charge).toHaveLength(1);
  });

  it('when the gateway is down once, then the attempt is retried later with the same key and completes', async () => {
    const orderId = await newPayment();
    const { gateway, calls } = scriptedGateway(['down', 'ok']);
    const { process } = processorWith(gateway);

    await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
    const between = await payments.findByOrderId(orderId);
    expect(between?.status).toBe('Processing');
    expect(between?.snapshot.context.failures).toBe(1);
    expect(await outboxOf(orderId)).toHaveLength(0);

    await process(fakeJob(orderId, 1));
    expect((await payments.findByOrderId(orderId))?.status).toBe('Success');
    expect(new Set(calls.charge.map((c) => c.intentId)).size).toBe(1);
    expect(calls.prepare).toHaveLength(1);
  });

  it('when the gateway charges and loses the response, then the look-up settles it and the payment completes once', async () => {
    const orderId = await newPayment();
    const { gateway, calls, charged } = scriptedGateway(['lost']);
    const { process } = processorWith(gateway);

    const result = await process(fakeJob(orderId, 0));

    expect(result.status).toBe('Success');
    expect(calls.charge).toHaveLength(1);
    expect(calls.lookup).toBe(1);
    expect(charged.size).toBe(1);
    expect((await payments.findByOrderId(orderId))?.transactionId).toBe([...charged.values()][0]?.transactionId);
    expect(await outboxOf(orderId)).toHaveLength(1);
  });

  it('when a timeout left no charge, then it is retried, not failed', async () => {
    const orderId = await newPayment();
    const { gateway, calls } = scriptedGateway(['timeout', 'ok']);
    const { process } = processorWith(gateway);

    await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
    expect(calls.lookup).toBe(1);
    await process(fakeJob(orderId, 1));
    expect((await payments.findByOrderId(orderId))?.status).toBe('Success');
  });

  it('when attempts run out and the gateway never charged, then the charge is cancelled first and the payment fails as gateway_unavailable', async () => {
    const orderId = await newPayment('JPY', '5000', 5000n, 3);
    const { gateway, calls, canceled } = scriptedGateway(['down', 'down', 'down']);
    const { process } = processorWith(gateway);

    await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
    await expect(process(fakeJob(orderId, 1))).rejects.toBeInstanceOf(RetryLaterError);
    await expect(process(fakeJob(orderId, 2))).resolves.toMatchObject({ status: 'Failed' });

    const p = await payments.findByOrderId(orderId);
    expect(p).toMatchObject({ status: 'Failed', failureCode: 'gateway_unavailable' });
    // The handle is cancelled before the payment is failed: no confirm still in flight can charge it later.
    expect(calls.void).toBe(1);
    expect([...canceled]).toEqual(calls.charge.slice(0, 1).map((c) => c.intentId));
    const events = await outboxOf(orderId);
    expect(events.map((e) => e.payload.data.code)).toEqual(['gateway_unavailable']);
  });

  it('when attempts run out but the look-up cannot tell, then the payment stays Processing, never Failed', async () => {
    const orderId = await newPayment('USD', '49.99', 4999n, 1);
    const { gateway } = scriptedGateway(['timeout'], { lookupFails: true });
    const { process } = processorWith(gateway);

    await expect(process(fakeJob(orderId, 0, 1))).rejects.toBeInstanceOf(RetryLaterError);

    expect((await payments.findByOrderId(orderId))?.status).toBe('Processing');
    expect(await outboxOf(orderId)).toHaveLength(0);
  });

  it('when the payment is already settled, then a repeated job does nothing', async () => {
    const orderId = await newPayment();
    const { gateway, calls } = scriptedGateway(['ok']);
    const { process } = processorWith(gateway);
    await process(fakeJob(orderId, 0));

    const again = await process(fakeJob(orderId, 0));

    expect(again).toMatchObject({ status: 'Success', alreadyDone: true });
    expect(calls.charge).toHaveLength(1);
    expect(await outboxOf(orderId)).toHaveLength(1);
  });

  it('when a worker died after committing Processing, then the next attempt rehydrates and confirms the same handle', async () => {
    const orderId = await newPayment('BHD', '1.250', 1250n);
    const first = scriptedGateway(['lost']);
    // Simulate the crash: the charge happened, but this worker never settled it.
    const crashed = await payments.findByOrderId(orderId);
    const { advance } = await import('../../../src/workers/payment-transitions.js');
    const started = (await advance(payments, crashed!, { type: 'START' })).payment;
    const handle = await first.gateway.prepare({ orderId, paymentId: crashed!.id, amountMinor: 1250n, currency: 'BHD', paymentMethod: 'pm_card_visa', idempotencyKey: `${crashed!.id}-intent-0` });
    await advance(payments, started, { type: 'ROUTE', gateway: 'scripted', intentId: handle.intentId });
    await first.gateway.charge(handle).catch(() => {});

    const { process } = processorWith(first.gateway);
    await process(fakeJob(orderId, 1));

    const p = await payments.findByOrderId(orderId);
    expect(p?.status).toBe('Success');
    expect(first.charged.size).toBe(1);
    const events = await outboxOf(orderId);
    expect(events[0].payload.data).toMatchObject({ amount: '1.250', currency: 'BHD' });
  });

  it('when two workers run the same payment at once, then one wins and exactly one terminal event is written', async () => {
    const orderId = await newPayment();
    const { gateway, charged } = scriptedGateway(['ok', 'ok'], { delayMs: 30 });
    const a = processorWith(gateway);
    const b = processorWith(gateway);

    const results = await Promise.allSettled([a.process(fakeJob(orderId, 0)), b.process(fakeJob(orderId, 0))]);

    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    expect(charged.size).toBe(1);
    expect(await outboxOf(orderId)).toHaveLength(1);
    const terminal = (await payments.history(orderId)).filter((h) => h.toStatus === 'Success');
    expect(terminal).toHaveLength(1);
  });

  describe('failover and the circuit breaker', () => {
    const openBreaker = { acquire: async () => ({ allowed: false as const, retryInMs: 750 }), recordFailure: async () => true, recordSuccess: async () => {}, openMs: 750 };
    /** Closed until a failure, which opens it (the threshold is reached). */
    const trippingBreaker = { acquire: async () => ({ allowed: true as const, probe: false }), recordFailure: async () => true, recordSuccess: async () => {}, openMs: 900 };
    /** Half-open: this call is the one probe, and its failure opens the breaker again. */
    const probingBreaker = { acquire: async () => ({ allowed: true as const, probe: true }), recordFailure: async () => true, recordSuccess: async () => {}, openMs: 900 };

    it('when the primary refuses the connection, then the secondary charges and the row records it', async () => {
      const orderId = await newPayment();
      const primary = scriptedGateway(['down'], { name: 'primary' });
      const secondary = scriptedGateway(['ok'], { name: 'secondary' });
      const { process } = processorWith([{ gateway: primary.gateway }, { gateway: secondary.gateway }]);

      await process(fakeJob(orderId, 0));

      const p = await payments.findByOrderId(orderId);
      expect(p).toMatchObject({ status: 'Success', gateway: 'secondary' });
      expect(primary.charged.size + secondary.charged.size).toBe(1);
      const events = (await payments.history(orderId)).map((h) => h.event);
      // The primary's handle is cancelled, and the secondary's committed, before the secondary is asked to charge.
      expect(events).toEqual(['CREATED', 'START', 'ROUTE', 'CHARGE_SUCCEEDED']);
      expect(primary.canceled.size).toBe(1);
      expect(p?.snapshot.context.intents).toEqual({ secondary: p?.transactionId });
    });

    it('when the primary may have charged and nobody can tell, then the payment does not fail over', async () => {
      const orderId = await newPayment();
      const primary = scriptedGateway(['timeout'], { name: 'primary', lookupFails: true });
      const secondary = scriptedGateway(['ok'], { name: 'secondary' });
      const { process } = processorWith([{ gateway: primary.gateway }, { gateway: secondary.gateway }]);

      await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);

      expect(secondary.calls.charge).toHaveLength(0);
      expect((await payments.findByOrderId(orderId))?.status).toBe('Processing');
    });

    it('when the primary lost a response and the look-up finds its charge, then the secondary is never called', async () => {
      const orderId = await newPayment();
      const primary = scriptedGateway(['lost'], { name: 'primary' });
      const secondary = scriptedGateway(['ok'], { name: 'secondary' });
      const { process } = processorWith([{ gateway: primary.gateway }, { gateway: secondary.gateway }]);

      await process(fakeJob(orderId, 0));

      expect(secondary.calls.charge).toHaveLength(0);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Success', gateway: 'primary' });
    });

    it('when a worker died after charging the secondary, then the next attempt finds that charge before calling the primary again', async () => {
      const orderId = await newPayment();
      const primary = scriptedGateway(['down', 'ok'], { name: 'primary' });
      const secondary = scriptedGateway(['ok'], { name: 'secondary' });
      // First attempt: primary refuses, route to secondary is committed, secondary charges... and the worker dies.
      const crashing: RoutedGateway[] = [
        { gateway: primary.gateway },
        { gateway: { ...secondary.gateway, charge: async (handle) => { await secondary.gateway.charge(handle); throw new Error('process killed'); } } },
      ];
      await expect(processorWith(crashing).process(fakeJob(orderId, 0))).rejects.toThrow('process killed');
      expect(secondary.charged.size).toBe(1);

      const { process } = processorWith([{ gateway: primary.gateway }, { gateway: secondary.gateway }]);
      await process(fakeJob(orderId, 1));

      expect(primary.charged.size).toBe(0);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Success', gateway: 'secondary' });
    });

    it('when a payment was already sent to the primary and its breaker is now open, then it waits for the primary rather than fail over blind', async () => {
      const orderId = await newPayment();
      const primary = scriptedGateway(['timeout'], { name: 'primary', lookupFails: true });
      const secondary = scriptedGateway(['ok'], { name: 'secondary' });
      await expect(processorWith([{ gateway: primary.gateway }, { gateway: secondary.gateway }]).process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);

      const { process } = processorWith([{ gateway: primary.gateway, breaker: openBreaker }, { gateway: secondary.gateway }]);
      await expect(process(fakeJob(orderId, 1))).rejects.toBeInstanceOf(RetryLaterError);

      expect(secondary.calls.charge).toHaveLength(0);
      expect((await payments.findByOrderId(orderId))?.status).toBe('Processing');
    });

    it('when every breaker is open, then nothing is sent, the queue pauses and no attempt is spent', async () => {
      const orderId = await newPayment();
      const only = scriptedGateway(['ok'], { name: 'primary' });
      const pauses: number[] = [];
      const { process } = processorWith([{ gateway: only.gateway, breaker: openBreaker }], pauses);

      await expect(process(fakeJob(orderId, 0))).rejects.toThrow();

      expect(only.calls.charge).toHaveLength(0);
      expect(pauses).toEqual([750]);
      expect((await payments.findByOrderId(orderId))?.snapshot.context.failures).toBe(0);
    });

    it('when a failure opens the breaker, then the job waits and its attempt is not spent', async () => {
      const orderId = await newPayment();
      const only = scriptedGateway(['down'], { name: 'primary' });
      const pauses: number[] = [];
      const { process } = processorWith([{ gateway: only.gateway, breaker: trippingBreaker }], pauses);

      await expect(process(fakeJob(orderId, 0))).rejects.toThrow();

      expect(only.calls.charge).toHaveLength(1);
      expect(pauses).toEqual([900]);
      expect((await payments.findByOrderId(orderId))?.snapshot.context.failures).toBe(0);
    });

    it('when a payment whose every call times out is the half-open probe, then each failed probe spends one of its attempts, so it gets an answer', async () => {
      const orderId = await newPayment('USD', '49.99', 4999n, 2);
      const only = scriptedGateway(['timeout', 'timeout'], { name: 'primary' });
      const { process } = processorWith([{ gateway: only.gateway, breaker: probingBreaker }]);

      await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
      expect((await payments.findByOrderId(orderId))?.snapshot.context.failures).toBe(1);
      await expect(process(fakeJob(orderId, 1))).resolves.toMatchObject({ status: 'Failed', code: 'gateway_unavailable' });
    });

    it('when the primary breaker is open, then the secondary takes the payment without waiting', async () => {
      const orderId = await newPayment();
      const primary = scriptedGateway(['ok'], { name: 'primary' });
      const secondary = scriptedGateway(['ok'], { name: 'secondary' });
      const { process } = processorWith([{ gateway: primary.gateway, breaker: openBreaker }, { gateway: secondary.gateway }]);

      // A payment this attempt started has never been sent anywhere: no look-up at the dead primary is needed.
      await process(fakeJob(orderId, 0));

      expect(primary.calls.prepare).toHaveLength(0);
      expect(primary.calls.lookup + primary.calls.void).toBe(0);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Success', gateway: 'secondary' });
    });
  });

  describe('the machine owns the attempts', () => {
    it('when an attempt ends unsettled and BullMQ reaches its last attempt first, then the payment is retried later, never a refused GIVE_UP', async () => {
      const orderId = await newPayment('USD', '49.99', 4999n, 2);
      const unsure = scriptedGateway(['timeout'], { lookupFails: true });
      await expect(processorWith(unsure.gateway).process(fakeJob(orderId, 0, 2))).rejects.toBeInstanceOf(RetryLaterError);
      expect((await payments.findByOrderId(orderId))?.snapshot.context.failures).toBe(0);

      // BullMQ's last attempt, but only the first failure the machine counts: not the time to give up.
      const { gateway } = scriptedGateway(['down', 'down']);
      const { process } = processorWith(gateway);
      const last = await process(fakeJob(orderId, 1, 2)).catch((e: unknown) => e);
      expect(last).not.toBeInstanceOf(RefusedTransitionError);
      expect(last).toBeInstanceOf(RetryLaterError);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Processing' });

      // Re-driven later (the sweeper): the second failure spends the machine's attempts, and it gives up cleanly.
      await expect(process(fakeJob(orderId, 0, 2))).resolves.toMatchObject({ status: 'Failed' });
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Failed', failureCode: 'gateway_unavailable' });
    });

    it('when a payment whose attempts are spent is re-driven, then it charges nothing more and settles by cancelling its handle', async () => {
      const orderId = await newPayment('USD', '49.99', 4999n, 1);
      const { gateway, calls } = scriptedGateway(['timeout']);
      const { process } = processorWith(gateway);
      await expect(process(fakeJob(orderId, 0))).resolves.toMatchObject({ status: 'Failed' });

      expect(calls.charge).toHaveLength(1);
      expect(calls.void).toBe(1);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Failed', failureCode: 'gateway_unavailable' });
    });
  });

  describe('payments from machine version 2, charged before handles were recorded', () => {
    /** A v2 payment left Processing: its one create-and-confirm call may have charged, and no handle was kept. */
    async function legacyProcessing() {
      const orderId = await newPayment();
      const p = (await payments.findByOrderId(orderId))!;
      const { intents: _i, intentSeq: _s, legacyCharge: _l, ...context } = p.snapshot.context;
      const v2 = { version: 2, value: 'Processing', context: { ...context, attempts: 1 } };
      await knex('payments').where({ order_id: orderId }).update({ status: 'Processing', snapshot: v2 });
      return orderId;
    }

    it('when search finds nothing (it lags writes), then the payment stays Processing: nothing is prepared or charged again', async () => {
      const orderId = await legacyProcessing();
      const { gateway, calls } = scriptedGateway(['ok']);

      await expect(processorWith(gateway).process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);

      expect(calls.prepare).toHaveLength(0);
      expect(calls.charge).toHaveLength(0);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Processing' });
    });

    it('when search finds the old charge, then the payment completes with it', async () => {
      const orderId = await legacyProcessing();
      const found = { status: 'succeeded' as const, transactionId: 'pi_legacy', response: { id: 'pi_legacy' } };
      const { gateway, calls } = scriptedGateway([], { searchFinds: found });

      await expect(processorWith(gateway).process(fakeJob(orderId, 0))).resolves.toMatchObject({ status: 'Success', transactionId: 'pi_legacy' });
      expect(calls.prepare).toHaveLength(0);
    });
  });

  describe('against the simulator, as on Stripe', () => {
    let simulator: Simulator;
    beforeAll(async () => {
      simulator = createSimulator({ seed: 7 });
      await simulator.start();
    });
    afterAll(async () => {
      await simulator.close();
    });
    const stripe = () => createStripeGateway({ apiKey: 'sk_test_processor', url: simulator.url, timeoutMs: 2000 });
    const ledgerOf = (orderId: string) => simulator.ledger().filter((c) => c.orderId === orderId);

    it('when search lags by a minute and the last attempt loses the response after charging, then the payment completes, never PaymentFailed', async () => {
      simulator.setFaults({ searchLagMs: 60_000, lostResponseRate: 0 });
      const orderId = await newPayment('USD', '49.99', 4999n, 1);
      const gateway = stripe();
      const lossy: PaymentGateway = { ...gateway, charge: async (handle, signal) => {
        await gateway.charge(handle, signal);
        throw new TransientGatewayError('connection_lost', 'socket hang up', 'unknown');
      } };
      const result = await processorWith(lossy).process(fakeJob(orderId, 0, 1));

      expect(result.status).toBe('Success');
      expect(ledgerOf(orderId)).toEqual([expect.objectContaining({ status: 'succeeded' })]);
      expect((await outboxOf(orderId)).map((e) => e.type)).toEqual(['PaymentCompleted']);
    });

    it('when a charged payment is re-driven after the gateway pruned its idempotency keys, then it is not charged a second time', async () => {
      simulator.setFaults({ searchLagMs: 0, lostResponseRate: 0 });
      const orderId = await newPayment();
      const gateway = stripe();
      // The first attempt charged, then nobody could read the outcome: the payment stays Processing.
      const blind: PaymentGateway = { ...gateway, charge: async (handle, signal) => {
        await gateway.charge(handle, signal);
        throw new TransientGatewayError('connection_lost', 'socket hang up', 'unknown');
      }, lookup: async () => { throw new TransientGatewayError('gateway_unavailable', 'look-up refused', 'not_sent'); } };
      await expect(processorWith(blind).process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Processing' });

      simulator.advanceClock(2 * 86_400); // two days later the sweeper re-drives it; Stripe forgot every key by then
      await processorWith(gateway).process(fakeJob(orderId, 0));

      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Success' });
      expect(ledgerOf(orderId)).toHaveLength(1);
    });

    it('when attempts run out while a confirm may still be in flight, then the handle is cancelled first, and the payment fails only once it can never charge', async () => {
      simulator.setFaults({ searchLagMs: 60_000, timeoutRate: 0 });
      const orderId = await newPayment('USD', '49.99', 4999n, 1);
      const gateway = stripe();
      const stalled: PaymentGateway = { ...gateway, charge: async () => {
        throw new TransientGatewayError('gateway_timeout', 'no answer in time', 'unknown');
      } };
      await expect(processorWith(stalled).process(fakeJob(orderId, 0, 1))).resolves.toMatchObject({ status: 'Failed' });

      const p = await payments.findByOrderId(orderId);
      expect(p).toMatchObject({ status: 'Failed', failureCode: 'gateway_unavailable' });
      // A confirm that arrives late is refused: the intent is cancelled.
      const handle = { orderId, paymentId: p!.id, intentId: p!.snapshot.context.intents.stripe! };
      await expect(gateway.charge(handle)).rejects.toBeInstanceOf(PermanentGatewayError);
      expect(ledgerOf(orderId)).toEqual([]);
    });
  });
});
