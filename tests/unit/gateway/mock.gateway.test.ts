import { describe, expect, it } from 'vitest';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeRequest, PaymentGateway } from '../../../src/gateway/gateway.port.js';
import { createMockGateway } from '../../../src/gateway/mock.gateway.js';
import { createPrng } from '../../../src/gateway/simulator/prng.js';

let sequence = 0;
function chargeRequest(overrides: Partial<ChargeRequest> = {}): ChargeRequest {
  sequence += 1;
  return {
    orderId: `order-${sequence}`,
    paymentId: `payment-${sequence}`,
    amountMinor: 4999n,
    currency: 'USD',
    paymentMethod: 'pm_card_visa',
    idempotencyKey: `payment-${sequence}`,
    ...overrides,
  };
}

const noWait = async () => {};

/** Prepare, then confirm: the service's two calls. */
async function charge(gateway: PaymentGateway, request: ChargeRequest, signal?: AbortSignal) {
  return gateway.charge(await gateway.prepare(request), signal);
}

describe('mock gateway', () => {
  it('when a charge succeeds, then it answers a transaction id and the charged amount in minor units', async () => {
    const gateway = createMockGateway({ sleep: noWait });
    const result = await charge(gateway, chargeRequest({ amountMinor: 1250n, currency: 'BHD' }));
    expect(gateway.name).toBe('mock');
    expect(result.status).toBe('succeeded');
    expect(result.transactionId).toMatch(/^mock_txn_[0-9a-f-]{36}$/);
    expect(result.response).toMatchObject({ id: result.transactionId, status: 'succeeded', amount: '1250', currency: 'bhd' });
  });

  it.each([
    ['pm_card_chargeDeclined', 'card_declined'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
  ])('when the payment method is %s, then the charge is refused permanently with %s', async (paymentMethod, code) => {
    const gateway = createMockGateway({ sleep: noWait, random: () => 0 });
    const refusal = await charge(gateway, chargeRequest({ paymentMethod })).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(PermanentGatewayError);
    expect((refusal as PermanentGatewayError).code).toBe(code);
  });

  it('when pm_card_visa is charged, then it succeeds whatever the dice say', async () => {
    const gateway = createMockGateway({ sleep: noWait, successRate: 0, random: () => 0.99 });
    await expect(charge(gateway, chargeRequest())).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('when another token is charged, then the success draw below the success rate succeeds and one at or above declines', async () => {
    const below = createMockGateway({ sleep: noWait, successRate: 0.8, random: () => 0.79 });
    const atRate = createMockGateway({ sleep: noWait, successRate: 0.8, random: () => 0.8 });
    await expect(charge(below, chargeRequest({ paymentMethod: 'pm_other' }))).resolves.toMatchObject({ status: 'succeeded' });
    await expect(charge(atRate, chargeRequest({ paymentMethod: 'pm_other' }))).rejects.toMatchObject({ code: 'card_declined' });
  });

  it('when many charges use another token, then about the success rate of them succeed (80% by default)', async () => {
    const gateway = createMockGateway({ sleep: noWait, random: createPrng(42) });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 2000 }, () => charge(gateway, chargeRequest({ paymentMethod: 'pm_card_any' }))),
    );
    const succeeded = outcomes.filter((o) => o.status === 'fulfilled').length;
    expect(succeeded / outcomes.length).toBeGreaterThan(0.76);
    expect(succeeded / outcomes.length).toBeLessThan(0.84);
    expect(outcomes.every((o) => o.status === 'fulfilled' || o.reason instanceof PermanentGatewayError)).toBe(true);
  });

  it('when charging, then it waits a simulated network delay within the configured range', async () => {
    const waited: number[] = [];
    const draws = [0, 0.999, 0.5];
    const gateway = createMockGateway({
      delayMs: [10, 50],
      random: () => draws.shift() ?? 0,
      sleep: async (ms) => {
        waited.push(ms);
      },
    });
    await charge(gateway, chargeRequest());
    await charge(gateway, chargeRequest());
    await charge(gateway, chargeRequest());
    expect(waited).toEqual([10, 50, 30]);
  });

  it('when the caller aborts during the delay, then nothing is charged and confirming the same handle again charges', async () => {
    let sleeps = 0;
    // The first delay lasts until the caller aborts; later ones pass at once.
    const sleep = (_ms: number, signal?: AbortSignal) =>
      (sleeps += 1) > 1
        ? Promise.resolve()
        : new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
    const gateway = createMockGateway({ sleep });
    const controller = new AbortController();
    const handle = await gateway.prepare(chargeRequest());
    const pending = gateway.charge(handle, controller.signal);
    controller.abort();
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientGatewayError);
    expect((error as TransientGatewayError).outcome).toBe('not_sent');
    await expect(gateway.lookup(handle)).resolves.toEqual({ status: 'not_charged', transactionId: handle.intentId });
    await expect(gateway.charge(handle)).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('when many charges succeed, then every transaction id is unique', async () => {
    const gateway = createMockGateway({ sleep: noWait, successRate: 1 });
    const results = await Promise.all(Array.from({ length: 500 }, () => charge(gateway, chargeRequest())));
    expect(new Set(results.map((r) => r.transactionId)).size).toBe(500);
  });

  it('when the same handle is confirmed again, even concurrently, then the first result comes back and nothing is charged twice', async () => {
    let draws = 0;
    const gateway = createMockGateway({
      sleep: noWait,
      random: () => {
        draws += 1;
        return 0;
      },
    });
    const request = chargeRequest({ paymentMethod: 'pm_card_any' });
    const handle = await gateway.prepare(request);
    expect((await gateway.prepare(request)).intentId).toBe(handle.intentId);
    const [first, concurrent] = await Promise.all([gateway.charge(handle), gateway.charge(handle)]);
    const later = await gateway.charge(handle);
    expect(concurrent).toBe(first);
    expect(later.transactionId).toBe(first.transactionId);
    expect(draws).toBe(2); // one delay and one success draw: a single attempt
  });

  it('when a declined handle is confirmed again, then the same refusal is thrown again', async () => {
    const gateway = createMockGateway({ sleep: noWait });
    const handle = await gateway.prepare(chargeRequest({ paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' }));
    const first = await gateway.charge(handle).catch((e: unknown) => e);
    const again = await gateway.charge(handle).catch((e: unknown) => e);
    expect(again).toBe(first);
  });

  it('when the same prepare key comes with another amount, then it is refused as an invalid request', async () => {
    const gateway = createMockGateway({ sleep: noWait });
    const request = chargeRequest();
    await gateway.prepare(request);
    await expect(gateway.prepare({ ...request, amountMinor: 5000n })).rejects.toMatchObject({
      name: 'PermanentGatewayError',
      code: 'invalid_request',
    });
  });

  it('when a charge is read by its handle or searched by order id, then it reports the charge or the refusal, and not_found otherwise', async () => {
    const gateway = createMockGateway({ sleep: noWait });
    const paid = await gateway.prepare(chargeRequest());
    const refused = await gateway.prepare(chargeRequest({ paymentMethod: 'pm_card_chargeDeclined' }));
    const success = await gateway.charge(paid);
    await gateway.charge(refused).catch(() => undefined);

    await expect(gateway.lookup(paid)).resolves.toEqual(success);
    await expect(gateway.lookup({ orderId: paid.orderId, paymentId: paid.paymentId })).resolves.toEqual(success);
    await expect(gateway.lookup(refused)).resolves.toMatchObject({ status: 'declined', code: 'card_declined' });
    await expect(gateway.lookup({ orderId: 'nobody', paymentId: 'none' })).resolves.toEqual({ status: 'not_found' });
  });

  it('when a prepared charge is voided, then it never charges; a charge that went through is reported instead', async () => {
    const gateway = createMockGateway({ sleep: noWait });
    const voided = await gateway.prepare(chargeRequest());
    const paid = await gateway.prepare(chargeRequest());
    const success = await gateway.charge(paid);

    await expect(gateway.void(voided)).resolves.toEqual({ status: 'canceled', transactionId: voided.intentId });
    await expect(gateway.charge(voided)).rejects.toBeInstanceOf(PermanentGatewayError);
    await expect(gateway.void(paid)).resolves.toEqual(success);
  });
});
