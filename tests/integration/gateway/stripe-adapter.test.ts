import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeRequest, PaymentGateway } from '../../../src/gateway/gateway.port.js';
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
    idempotencyKey: `${paymentId}-charge`,
    ...overrides,
  };
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
    const result = await gateway.charge(request);

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

  it.each([
    ['pm_card_chargeDeclined', 'card_declined'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
  ])('when %s is charged, then it is refused permanently with %s and recorded as failed', async (paymentMethod, code) => {
    const request = chargeRequest({ paymentMethod });
    const error = await failureOf(gateway.charge(request));

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
    for (const request of requests) await gateway.charge(request);

    const recorded = (await ledger()).map(({ orderId, amount, currency }) => ({ orderId, amount, currency }));
    expect(recorded).toEqual(requests.map((r) => ({ orderId: r.orderId, amount: r.amountMinor.toString(), currency: r.currency })));
  });

  it('when the same charge is sent again with the same key, then the first result is replayed and it charges once', async () => {
    const request = chargeRequest();
    const first = await gateway.charge(request);
    const again = await gateway.charge(request);
    const concurrent = await Promise.all([gateway.charge(request), gateway.charge(request)]);

    expect(again.transactionId).toBe(first.transactionId);
    expect(concurrent.map((r) => r.transactionId)).toEqual([first.transactionId, first.transactionId]);
    expect(await ledger()).toHaveLength(1);
  });

  it('when a declined charge is sent again with the same key, then the same refusal comes back without another attempt', async () => {
    const request = chargeRequest({ paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' });
    const first = (await failureOf(gateway.charge(request))) as PermanentGatewayError;
    const again = (await failureOf(gateway.charge(request))) as PermanentGatewayError;

    expect(again.code).toBe('insufficient_funds');
    expect(again.response.payment_intent).toBe(first.response.payment_intent);
    expect(await ledger()).toHaveLength(1);
  });

  it('when the same key comes with another amount, then it is refused as an invalid request and nothing more is charged', async () => {
    const request = chargeRequest();
    await gateway.charge(request);
    const error = await failureOf(gateway.charge({ ...request, amountMinor: 5000n }));

    expect(error).toBeInstanceOf(PermanentGatewayError);
    expect((error as PermanentGatewayError).code).toBe('invalid_request');
    expect((error as Error).message).toContain('same idempotency key was used with other parameters');
    expect(await ledger()).toHaveLength(1);
  });

  it('when an order is looked up, then a charge, a decline or nothing is reported as such', async () => {
    const paid = chargeRequest();
    const refused = chargeRequest({ paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' });
    const success = await gateway.charge(paid);
    await failureOf(gateway.charge(refused));

    expect(await gateway.lookup(paid)).toEqual(success);
    expect(await gateway.lookup(refused)).toMatchObject({ status: 'declined', code: 'insufficient_funds', transactionId: expect.stringMatching(/^pi_/) });
    expect(await gateway.lookup(chargeRequest())).toEqual({ status: 'not_found' });
  });

  it('when the response to a charge is lost, then the outcome is unknown and a look-up finds the charge, which a retry does not repeat', async () => {
    const request = chargeRequest();
    simulator.setFaults({ lostResponseRate: 1 });
    const error = await failureOf(gateway.charge(request));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect((error as TransientGatewayError).outcome).toBe('unknown');
    const [charged, ...more] = await ledger();
    expect(more).toEqual([]);
    expect(charged).toMatchObject({ orderId: request.orderId, status: 'succeeded' });

    simulator.setFaults({ lostResponseRate: 0 });
    expect(await gateway.lookup(request)).toMatchObject({ status: 'succeeded', transactionId: charged!.id });
    expect((await gateway.charge(request)).transactionId).toBe(charged!.id);
    expect(await ledger()).toHaveLength(1);
  });

  it('when the gateway does not answer within GATEWAY_TIMEOUT_MS, then the outcome is unknown and nothing was charged', async () => {
    const impatient = gatewayFor({ timeoutMs: 200 });
    const request = chargeRequest();
    simulator.setFaults({ timeoutRate: 1 });
    const error = await failureOf(impatient.charge(request));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'gateway_timeout', outcome: 'unknown' });
    expect(await ledger()).toEqual([]);

    simulator.setFaults({ timeoutRate: 0 });
    await expect(impatient.charge(request)).resolves.toMatchObject({ status: 'succeeded' });
    expect(await ledger()).toHaveLength(1);
  });

  it('when the gateway answers 500, then the error is transient and must be looked up before retrying', async () => {
    simulator.setFaults({ errorRate: 1 });
    const error = await failureOf(gateway.charge(chargeRequest()));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'gateway_error', outcome: 'unknown' });
    expect(await ledger()).toEqual([]);
  });

  it('when the gateway answers 429, then the error is transient and nothing was sent to charge', async () => {
    simulator.setFaults({ rateLimitRate: 1 });
    const error = await failureOf(gateway.charge(chargeRequest()));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'rate_limited', outcome: 'not_sent' });
    expect(await ledger()).toEqual([]);
  });

  it('when the gateway is down, then charging is transient and not sent (connection refused), and works again once it is up', async () => {
    await gateway.charge(chargeRequest()); // leaves a kept-alive connection for down() to cut
    await simulator.down();
    const request = chargeRequest();
    const error = await failureOf(gateway.charge(request));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ code: 'gateway_unavailable', outcome: 'not_sent' });
    await expect(gateway.lookup(request)).rejects.toBeInstanceOf(TransientGatewayError);

    await simulator.up();
    await expect(gateway.charge(request)).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('when the API key is refused, then the error is transient, not sent, and never repeats the key', async () => {
    const apiKey = 'sk_live_do_not_leak_4242';
    const error = await failureOf(gatewayFor({ apiKey }).charge(chargeRequest()));

    expect(error).toMatchObject({ name: 'TransientGatewayError', code: 'gateway_unavailable', outcome: 'not_sent' });
    expect(inspect(error, { depth: 8, showHidden: true })).not.toContain(apiKey);
  });

  it('when the caller aborts a charge in flight, then the outcome is unknown', async () => {
    simulator.setFaults({ timeoutRate: 1 });
    const controller = new AbortController();
    const pending = gateway.charge(chargeRequest(), controller.signal);
    setImmediate(() => controller.abort());
    const error = await failureOf(pending);

    expect(error).toMatchObject({ name: 'TransientGatewayError', code: 'gateway_timeout', outcome: 'unknown' });
  });
});
