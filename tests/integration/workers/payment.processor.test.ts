import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeLookup, ChargeRequest, ChargeSucceeded, PaymentGateway } from '../../../src/gateway/gateway.port.js';
import { createPaymentSnapshot } from '../../../src/machines/payment.snapshot.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import type { ChargePaymentJob } from '../../../src/queues/payments.queue.js';
import { createPaymentProcessor, RetryLaterError } from '../../../src/workers/payment.processor.js';
import type { RoutedGateway } from '../../../src/workers/gateway-router.js';
import { isolate, type Isolated } from '../../support/isolation.js';

type Step = 'ok' | 'decline' | 'insufficient' | 'down' | 'lost' | 'timeout';

/** A scripted gateway: each charge takes the next step; it remembers what it charged, by key. */
function scriptedGateway(steps: Step[], opts: { lookupFails?: boolean; delayMs?: number; name?: string } = {}) {
  const charged = new Map<string, ChargeSucceeded>();
  const calls = { charge: [] as ChargeRequest[], lookup: 0 };
  const gateway: PaymentGateway = {
    name: opts.name ?? 'scripted',
    async charge(req) {
      calls.charge.push(req);
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      const prior = charged.get(req.idempotencyKey);
      if (prior) return prior; // idempotent replay, as Stripe does
      const step = steps.shift() ?? 'ok';
      const success = (): ChargeSucceeded => {
        const ok = { status: 'succeeded' as const, transactionId: `pi_${randomUUID()}`, response: { amount: req.amountMinor.toString() } };
        charged.set(req.idempotencyKey, ok);
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
      return charged.get(req.idempotencyKey) ?? { status: 'not_found' };
    },
  };
  return { gateway, calls, charged };
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
    expect(calls.charge[0]?.idempotencyKey).toBe(`${p?.id}-charge`);
    expect(calls.charge[0]?.amountMinor).toBe(4999n);
    const events = await outboxOf(orderId);
    expect(events).toHaveLength(1);
    expect(events[0].type).toBe('PaymentCompleted');
    expect(events[0].payload.data).toMatchObject({ orderId, amount: '49.99', currency: 'USD', transactionId: p?.transactionId });
    expect((await payments.history(orderId)).map((h) => h.toStatus)).toEqual(['Initiated', 'Processing', 'Success']);
    expect(kicks()).toBe(1);
  });

  it.each([
    ['decline', 'card_declined'],
    ['insufficient', 'insufficient_funds'],
  ] as const)('when the gateway answers %s, then the payment fails at once with %s and is never retried', async (step, code) => {
    const orderId = await newPayment();
    const { gateway, calls } = scriptedGateway([step]);
    const { process } = processorWith(gateway);

    await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(UnrecoverableError);

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
    expect(new Set(calls.charge.map((c) => c.idempotencyKey)).size).toBe(1);
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

  it('when attempts run out and the gateway never charged, then the payment fails as gateway_unavailable', async () => {
    const orderId = await newPayment('JPY', '5000', 5000n, 3);
    const { gateway, calls } = scriptedGateway(['down', 'down', 'down']);
    const { process } = processorWith(gateway);

    await expect(process(fakeJob(orderId, 0))).rejects.toBeInstanceOf(RetryLaterError);
    await expect(process(fakeJob(orderId, 1))).rejects.toBeInstanceOf(RetryLaterError);
    await expect(process(fakeJob(orderId, 2))).rejects.toBeInstanceOf(UnrecoverableError);

    const p = await payments.findByOrderId(orderId);
    expect(p).toMatchObject({ status: 'Failed', failureCode: 'gateway_unavailable' });
    // Refused before sending is certain: nothing to look up before giving up.
    expect(calls.lookup).toBe(0);
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

  it('when a worker died after committing Processing, then the next attempt rehydrates and charges with the same key', async () => {
    const orderId = await newPayment('BHD', '1.250', 1250n);
    const first = scriptedGateway(['lost']);
    // Simulate the crash: the charge happened, but this worker never settled it.
    const crashed = await payments.findByOrderId(orderId);
    const { advance } = await import('../../../src/workers/payment-transitions.js');
    await advance(payments, crashed!, { type: 'START' });
    await first.gateway.charge({ orderId, paymentId: crashed!.id, amountMinor: 1250n, currency: 'BHD', paymentMethod: 'pm_card_visa', idempotencyKey: `${crashed!.id}-charge` }).catch(() => {});

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
    /** Closed until a failure, which opens it (the threshold is reached, or this call was the half-open probe). */
    const trippingBreaker = { acquire: async () => ({ allowed: true as const, probe: true }), recordFailure: async () => true, recordSuccess: async () => {}, openMs: 900 };

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
      // The route is committed before the charge is sent to the secondary.
      expect(events).toEqual(['CREATED', 'START', 'ROUTE', 'CHARGE_SUCCEEDED']);
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
        { gateway: { ...secondary.gateway, charge: async (req) => { await secondary.gateway.charge(req); throw new Error('process killed'); } } },
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

    it('when a failure opens the breaker (or a half-open probe fails), then the job waits and its attempt is not spent', async () => {
      const orderId = await newPayment();
      const only = scriptedGateway(['down'], { name: 'primary' });
      const pauses: number[] = [];
      const { process } = processorWith([{ gateway: only.gateway, breaker: trippingBreaker }], pauses);

      await expect(process(fakeJob(orderId, 0))).rejects.toThrow();

      expect(only.calls.charge).toHaveLength(1);
      expect(pauses).toEqual([900]);
      expect((await payments.findByOrderId(orderId))?.snapshot.context.failures).toBe(0);
    });

    it('when the primary breaker is open, then the secondary takes the payment without waiting', async () => {
      const orderId = await newPayment();
      const primary = scriptedGateway(['ok'], { name: 'primary' });
      const secondary = scriptedGateway(['ok'], { name: 'secondary' });
      const { process } = processorWith([{ gateway: primary.gateway, breaker: openBreaker }, { gateway: secondary.gateway }]);

      // A payment this attempt started has never been sent anywhere: no look-up at the dead primary is needed.
      await process(fakeJob(orderId, 0));

      expect(primary.calls.charge).toHaveLength(0);
      expect(primary.calls.lookup).toBe(0);
      expect(await payments.findByOrderId(orderId)).toMatchObject({ status: 'Success', gateway: 'secondary' });
    });
  });
});
