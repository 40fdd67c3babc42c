import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeHandle, ChargeRequest, PaymentGateway } from '../../../src/gateway/gateway.port.js';
import { createSimulator, type Simulator } from '../../../src/gateway/simulator/simulator.js';
import type { LedgerEntry } from '../../../src/gateway/simulator/payment-intents.js';
import { createStripeGateway } from '../../../src/gateway/stripe.gateway.js';

let simulator: Simulator;
let gateway: PaymentGateway;

function gatewayFor(options: { timeoutMs?: number; apiKey?: string } = {}): PaymentGateway {
  return createStripeGateway({ apiKey: options.apiKey ?? 'sk_test_adapter', url: simulator.url, timeoutMs: options.timeoutMs ?? 5000 });
}

function chargeRequest(overrides: Partial<ChargeRequest> = {}): ChargeRequest {
  const paymentId = randomUUID();
  return {
    orderId: randomUUID(),
    paymentId,
    amountMinor: 4999n,
    currency: 'USD',
    paymentMethod: 'pm_card_visa',
    customerId: 'cus_123',
    idempotencyKey: `${paymentId}-intent-0`,
    ...overrides,
  };
}

/** Prepares the charge (no money moves), then confirms it: the service's two calls. */
async function charge(request: ChargeRequest, via: PaymentGateway = gateway): Promise<Awaited<ReturnType<PaymentGateway['charge']>>> {
  return via.charge(await via.prepare(request));
}

/** The simulator's ledger through its HTTP route, as reconciliation reads it. */
async function ledger(): Promise<LedgerEntry[]> {
  const response = await fetch(`${simulator.url}/_sim/charges`);
  expect(response.status).toBe(200);
  return (await response.json()) as LedgerEntry[];
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the call to fail'),
    (error: unknown) => error,
  );
}

beforeEach(async () => {
  simulator = createSimulator({ seed: 1 });
  await simulator.start();
  gateway = gatewayFor();
});

afterEach(async () => {
  await simulator.close();
});

describe('stripe adapter against the simulator', () => {
  it('when pm_card_visa is charged, then it succeeds with the payment intent id and the ledger holds that one charge', async () => {
    const request = chargeRequest();
    const result = await charge(request);

    expect(result.status).toBe('succeeded');
    expect(result.transactionId).toMatch(/^pi_/);
    expect(result.response).toEqual({
      id: result.transactionId,
      status: 'succeeded',
      amount: '4999',
      currency: 'usd',
      created: expect.any(Number),
    });
    expect(await ledger()).toEqual([
      { id: result.transactionId, orderId: request.orderId, amount: '4999', currency: 'USD', status: 'succeeded', created: expect.any(Number) },
    ]);
  });

  it('when a charge is prepared, then the gateway holds its handle and nothing is charged until it is confirmed', async () => {
    const request = chargeRequest();
    const handle = await gateway.prepare(request);
    const again = await gateway.prepare(request);

    expect(handle).toEqual({ orderId: request.orderId, paymentId: request.paymentId, intentId: expect.stringMatching(/^pi_/) });
    expect(again.intentId).toBe(handle.intentId);
    expect(await ledger()).toEqual([]);
    expect(await gateway.lookup(handle)).toEqual({ status: 'not_charged', transactionId: handle.intentId });
  });

  it.each([
    ['pm_card_chargeDeclined', 'card_declined'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
  ])('when %s is charged, then it is refused permanently with %s and recorded as failed', async (paymentMethod, code) => {
    const request = chargeRequest({ paymentMethod });
    const error = await failureOf(charge(request));

    expect(error).toBeInstanceOf(PermanentGatewayError);
    expect((error as PermanentGatewayError).code).toBe(code);
    const [entry] = await ledger();
    expect(entry).toMatchObject({ orderId: request.orderId, status: 'failed' });
    expect((error as PermanentGatewayError).response).toMatchObject({ payment_intent: entry!.id, code: 'card_declined' });
  });

  it('when amounts in minor units are charged in USD, JPY and BHD, then the gateway records exactly those amounts', async () => {
    const requests = [
      chargeRequest({ amountMinor: 4999n, currency: 'USD' }),
      chargeRequest({ amountMinor: 5000n, currency: 'JPY' }),
      chargeRequest({ amountMinor: 1250n, currency: 'BHD' }),
      chargeRequest({ amountMinor: 99_999_999n, currency: 'USD' }),
    ];
    for (const request of requests) await charge(request);

    const recorded = (await ledger()).map(({ orderId, amount, currency }) => ({ orderId, amount, currency }));
    expect(recorded).toEqual(requests.map((r) => ({ orderId: r.orderId, amount: r.amountMinor.toString(), currency: r.currency })));
  });

  it('when the same handle is confirmed again, even concurrently, then the first result comes back and it charges once', async () => {
    const handle = await gateway.prepare(chargeRequest());
    const first = await gateway.charge(handle);
    const again = await gateway.charge(handle);
    const concurrent = await Promise.all([gateway.charge(handle), gateway.charge(handle)]);

    expect(again.transactionId).toBe(first.transactionId);
    expect(concurrent.map((r) => r.transactionId)).toEqual([first.transactionId, first.transactionId]);
    expect(await ledger()).toHaveLength(1);
  });

  it('when a handle is confirmed again after the idempotency keys were pruned (24 h), then the record answers and nothing is charged twice', async () => {
    const handle = await gateway.prepare(chargeRequest());
    const first = await gateway.charge(handle);
    simulator.advanceClock(2 * 86_400);

    expect((await gateway.charge(handle)).transactionId).toBe(first.transactionId);
    expect(await ledger()).toHaveLength(1);
  });

  it('when a declined handle is confirmed again, then the same refusal comes back without another attempt', async () => {
    const handle = await gateway.prepare(chargeRequest({ paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' }));
    const first = (await failureOf(gateway.charge(handle))) as PermanentGatewayError;
    const again = (await failureOf(gateway.charge(handle))) as PermanentGatewayError;

    expect(again.code).toBe('insufficient_funds');
    expect(again.response.payment_intent).toBe(first.response.payment_intent);
    expect(await ledger()).toHaveLength(1);
  });

  it('when the same prepare key comes with another amount, then it is refused as an invalid request and nothing is charged', async () => {
    const request = chargeRequest();
    await gateway.prepare(request);
    const error = await failureOf(gateway.prepare({ ...request, amountMinor: 5000n }));

    expect(error).toBeInstanceOf(PermanentGatewayError);
    expect((error as PermanentGatewayError).code).toBe('invalid_request');
    expect((error as Error).message).toContain('same idempotency key was used with other parameters');
    expect(await ledger()).toEqual([]);
  });

  it('when a charge is read by its handle, then a charge, a decline or an unconfirmed charge is reported as such', async () => {
    const paid = await gateway.prepare(chargeRequest());
    const refused = await gateway.prepare(chargeRequest({ paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' }));
    const success = await gateway.charge(paid);
    await failureOf(gateway.charge(refused));

    expect(await gateway.lookup(paid)).toEqual(success);
    expect(await gateway.lookup(refused)).toMatchObject({ status: 'declined', code: 'insufficient_funds', transactionId: refused.intentId });
  });

  it('when search lags by a minute, then a charge just made is not found by search but its handle reads it at once', async () => {
    simulator.setFaults({ searchLagMs: 60_000 });
    const request = chargeRequest();
    const handle = await gateway.prepare(request);
    const success = await gateway.charge(handle);

    expect(await gateway.lookup({ orderId: request.orderId, paymentId: request.paymentId })).toEqual({ status: 'not_found' });
    expect(await gateway.lookup(handle)).toEqual(success);
  });

  it('when a prepared charge is voided, then it can never charge: a later confirm is refused and nothing is in the ledger', async () => {
    const handle = await gateway.prepare(chargeRequest());

    expect(await gateway.void(handle)).toEqual({ status: 'canceled', transactionId: handle.intentId });
    expect(await gateway.void(handle)).toEqual({ status: 'canceled', transactionId: handle.intentId });
    expect(await failureOf(gateway.charge(handle))).toBeInstanceOf(PermanentGatewayError);
    expect(await ledger()).toEqual([]);
  });

  it('when a charge that went through is voided, then the void reports the charge instead', async () => {
    const handle = await gateway.prepare(chargeRequest());
    const success = await gateway.charge(handle);

    expect(await gateway.void(handle)).toEqual(success);
  });

  it('when the response to a confirm is lost, then the outcome is unknown and reading the handle finds the charge, which a retry does not repeat', async () => {
    const handle = await gateway.prepare(chargeRequest());
    simulator.setFaults({ lostResponseRate: 1, searchLagMs: 60_000 });
    const error = await failureOf(gateway.charge(handle));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect((error as TransientGatewayError).outcome).toBe('unknown');
    const [charged, ...more] = await ledger();
    expect(more).toEqual([]);
    expect(charged).toMatchObject({ id: handle.intentId, status: 'succeeded' });

    simulator.setFaults({ lostResponseRate: 0 });
    expect(await gateway.lookup(handle)).toMatchObject({ status: 'succeeded', transactionId: charged!.id });
    expect((await gateway.charge(handle)).transactionId).toBe(charged!.id);
    expect(await ledger()).toHaveLength(1);
  });

  it('when the gateway does not answer within GATEWAY_TIMEOUT_MS, then the outcome is unknown and nothing was charged', async () => {
    const impatient = gatewayFor({ timeoutMs: 200 });
    const handle = await impatient.prepare(chargeRequest());
    simulator.setFaults({ timeoutRate: 1 });
    const error = await failureOf(impatient.charge(handle));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'gateway_timeout', outcome: 'unknown' });
    expect(await ledger()).toEqual([]);

    simulator.setFaults({ timeoutRate: 0 });
    await expect(impatient.charge(handle)).resolves.toMatchObject({ status: 'succeeded' });
    expect(await ledger()).toHaveLength(1);
  });

  it('when the gateway answers 500, then the error is transient and must be looked up before retrying', async () => {
    const handle = await gateway.prepare(chargeRequest());
    simulator.setFaults({ errorRate: 1 });
    const error = await failureOf(gateway.charge(handle));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'gateway_error', outcome: 'unknown' });
    expect(await ledger()).toEqual([]);
  });

  it('when the gateway answers 429, then the error is transient and nothing was sent to charge', async () => {
    simulator.setFaults({ rateLimitRate: 1 });
    const error = await failureOf(charge(chargeRequest()));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'rate_limited', outcome: 'not_sent' });
    expect(await ledger()).toEqual([]);
  });

  it('when the gateway is down, then charging is transient and not sent (connection refused), and works again once it is up', async () => {
    await charge(chargeRequest()); // leaves a kept-alive connection for down() to cut
    const handle: ChargeHandle = await gateway.prepare(chargeRequest());
    await simulator.down();
    const error = await failureOf(gateway.charge(handle));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'gateway_unavailable', outcome: 'not_sent' });
    await expect(gateway.lookup(handle)).rejects.toBeInstanceOf(TransientGatewayError);
    await expect(gateway.void(handle)).rejects.toBeInstanceOf(TransientGatewayError);

    await simulator.up();
    await expect(gateway.charge(handle)).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('when the API key is refused, then the error is transient, not sent, and never repeats the key', async () => {
    const apiKey = 'sk_live_do_not_leak_4242';
    const error = await failureOf(charge(chargeRequest(), gatewayFor({ apiKey })));

    expect(error).toMatchObject({ name: 'TransientGatewayError', code: 'gateway_unavailable', outcome: 'not_sent' });
    expect(inspect(error, { depth: 8, showHidden: true })).not.toContain(apiKey);
  });

  it('when the caller aborts a confirm in flight, then the outcome is unknown', async () => {
    const handle = await gateway.prepare(chargeRequest());
    simulator.setFaults({ timeoutRate: 1 });
    const controller = new AbortController();
    const pending = gateway.charge(handle, controller.signal);
    setImmediate(() => controller.abort());
    const error = await failureOf(pending);

    expect(error).toMatchObject({ name: 'TransientGatewayError', code: 'gateway_timeout', outcome: 'unknown' });
  });
});
