import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../../src/gateway/simulator/simulator.js';
import { createIntent, eventually, isAnswering, isRefused, type Observed } from './sim-client.js';

const started: Simulator[] = [];

async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = createSimulator(options);
  started.push(simulator);
  await simulator.start();
  return simulator;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

function intent(overrides: Partial<Parameters<typeof createIntent>[1]> = {}) {
  return { amount: '4999', currency: 'usd', payment_method: 'pm_card_visa', orderId: randomUUID(), ...overrides };
}

/** What a caller saw, without the random ids: enough to tell two runs apart. */
function summary(seen: Observed): string {
  if (seen.kind !== 'answered') return seen.kind;
  const error = (seen.body as { error?: { type?: string; decline_code?: string } }).error;
  return error ? `${seen.status} ${error.type} ${error.decline_code ?? ''}`.trim() : `${seen.status} ${(seen.body as { status: string }).status}`;
}

/**
 * A fixed sequence of 30 requests, one at a time, each with its own key. The
 * client waits 500 ms before calling a request unanswered: far above the
 * 0-3 ms latency, so only a held request reads as no answer.
 */
async function faultyRun(seed: number): Promise<{ seen: string[]; ledger: string[] }> {
  const simulator = await startSimulator({
    seed,
    successRate: 0.5,
    errorRate: 0.15,
    rateLimitRate: 0.15,
    timeoutRate: 0.1,
    lostResponseRate: 0.2,
    latencyMs: '0-3',
  });
  // Warm the HTTP client up on a route without faults, so the first request is not slowed by it.
  await fetch(`${simulator.url}/_sim/faults`).then((r) => r.text());
  const seen: string[] = [];
  for (let i = 0; i < 30; i += 1) {
    const observed = await createIntent(simulator.url, intent({ payment_method: 'pm_card_any', amount: String(100 + i) }), {
      idempotencyKey: `key-${i}`,
      timeoutMs: 500,
    });
    seen.push(summary(observed));
  }
  return { seen, ledger: simulator.ledger().map((entry) => `${entry.amount} ${entry.status}`) };
}

describe('gateway simulator', () => {
  it('when two runs use the same seed and the same requests, then every fault and outcome repeats exactly', async () => {
    const first = await faultyRun(9);
    const second = await faultyRun(9);
    const otherSeed = await faultyRun(11);

    expect(second).toEqual(first);
    expect(otherSeed.seen).not.toEqual(first.seen);
    // The run is only a proof if it exercised every kind of outcome.
    expect(new Set(first.seen)).toEqual(
      new Set(['200 succeeded', '402 card_error generic_decline', '500 api_error', '429 invalid_request_error', 'no_answer', 'dropped']),
    );
  });

  it('when charges are made, then the ledger lists each with id, order id, amount in minor units, upper-case currency, status and time', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const paid = intent({ amount: '5000', currency: 'jpy' });
    const refused = intent({ payment_method: 'pm_card_chargeDeclinedInsufficientFunds', amount: '1250', currency: 'bhd' });
    const answer = await createIntent(simulator.url, paid);
    await createIntent(simulator.url, refused);

    const response = await fetch(`${simulator.url}/_sim/charges`);
    const ledger = (await response.json()) as unknown[];
    expect(ledger).toEqual([
      { id: (answer as { body: { id: string } }).body.id, orderId: paid.orderId, amount: '5000', currency: 'JPY', status: 'succeeded', created: expect.any(Number) },
      { id: expect.stringMatching(/^pi_/), orderId: refused.orderId, amount: '1250', currency: 'BHD', status: 'failed', created: expect.any(Number) },
    ]);
  });

  it('when faults strike before charging, then the ledger stays empty; when a response is lost, then the charge is in it', async () => {
    const simulator = await startSimulator({ seed: 1 });
    for (const fault of ['errorRate', 'rateLimitRate', 'timeoutRate'] as const) {
      simulator.setFaults({ errorRate: 0, rateLimitRate: 0, timeoutRate: 0, [fault]: 1 });
      await createIntent(simulator.url, intent(), { idempotencyKey: randomUUID(), timeoutMs: 100 });
    }
    expect(simulator.ledger()).toEqual([]);

    simulator.setFaults({ timeoutRate: 0, lostResponseRate: 1 });
    const lost = intent();
    expect(await createIntent(simulator.url, lost, { idempotencyKey: 'lost-key' })).toEqual({ kind: 'dropped' });
    expect(simulator.ledger()).toMatchObject([{ orderId: lost.orderId, status: 'succeeded' }]);
  });

  it('when a key is repeated, then the first answer is replayed byte for byte, and never charged again even while responses are lost', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const refused = intent({ payment_method: 'pm_card_chargeDeclined' });
    const first = await createIntent(simulator.url, refused, { idempotencyKey: 'k1' });
    const replay = await createIntent(simulator.url, refused, { idempotencyKey: 'k1' });
    expect(first).toMatchObject({ kind: 'answered', status: 402, replayed: false });
    expect(replay).toEqual({ ...first, replayed: true });

    simulator.setFaults({ lostResponseRate: 1 });
    for (let i = 0; i < 3; i += 1) await createIntent(simulator.url, refused, { idempotencyKey: 'k1' });
    expect(simulator.ledger()).toHaveLength(1);
  });

  it('when a key is repeated with other parameters, then Stripe\'s idempotency error (400) refuses it', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const request = intent();
    await createIntent(simulator.url, request, { idempotencyKey: 'k2' });
    const other = await createIntent(simulator.url, { ...request, amount: '5000' }, { idempotencyKey: 'k2' });

    expect(other).toMatchObject({ kind: 'answered', status: 400, body: { error: { type: 'idempotency_error' } } });
    expect(simulator.ledger()).toHaveLength(1);
  });

  it('when the key is not a sk_test_ Bearer token, then it answers 401 and charges nothing', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const seen = await createIntent(simulator.url, intent(), { apiKey: 'sk_live_nope' });
    expect(seen).toMatchObject({ kind: 'answered', status: 401, body: { error: { type: 'invalid_request_error' } } });
    expect(simulator.ledger()).toEqual([]);
  });

  it('when an outage is asked for over HTTP, then connections are refused for that long and it comes back on the same port', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const response = await fetch(`${simulator.url}/_sim/outage?ms=400`, { method: 'POST' });
    expect(response.status).toBe(202);

    await eventually(() => isRefused(simulator.url));
    expect(await createIntent(simulator.url, intent())).toEqual({ kind: 'refused' });
    await eventually(() => isAnswering(simulator.url));
    expect(await createIntent(simulator.url, intent())).toMatchObject({ kind: 'answered', status: 200 });
  });

  it('when an outage length is not a number of milliseconds, then it is refused with 400 and the simulator stays up', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const response = await fetch(`${simulator.url}/_sim/outage?ms=soon`, { method: 'POST' });
    expect(response.status).toBe(400);
    expect(simulator.isUp()).toBe(true);
  });

  it('when it is taken down in process, then callers are refused until up() listens again on the same port', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const port = simulator.port;
    await simulator.down();
    expect(await createIntent(simulator.url, intent())).toEqual({ kind: 'refused' });
    await simulator.up();
    expect(simulator.port).toBe(port);
    expect(await createIntent(simulator.url, intent())).toMatchObject({ kind: 'answered', status: 200 });
  });

  it('when fault rates are posted as JSON, then they apply at once, and a bad value is refused with a message naming it', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const set = await fetch(`${simulator.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ errorRate: 1, latencyMs: '1-2' }) });
    expect(await set.json()).toMatchObject({ seed: 1, errorRate: 1, latencyMs: { min: 1, max: 2 } });
    expect(await createIntent(simulator.url, intent())).toMatchObject({ status: 500, body: { error: { type: 'api_error' } } });

    const bad = await fetch(`${simulator.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ errorRate: 2 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('errorRate must be a probability between 0 and 1');
    expect(simulator.settings().errorRate).toBe(1);
  });

  it('when intents are searched by order id, then only that order\'s intents are found', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const mine = intent();
    await createIntent(simulator.url, mine);
    await createIntent(simulator.url, intent());
    const query = encodeURIComponent(`metadata['orderId']:'${mine.orderId}'`);
    const response = await fetch(`${simulator.url}/v1/payment_intents/search?query=${query}`, {
      headers: { authorization: 'Bearer sk_test_x' },
    });
    const result = (await response.json()) as { data: Array<{ metadata: { orderId: string } }> };
    expect(result.data.map((i) => i.metadata.orderId)).toEqual([mine.orderId]);
  });
});
