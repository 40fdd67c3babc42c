import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../../src/gateway/simulator/simulator.js';
import {
  cancelIntent,
  confirmIntent,
  createIntent,
  eventually,
  isAnswering,
  isRefused,
  retrieveIntent,
  searchByOrder,
  type Observed,
} from '../../support/sim-client.js';

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

type Intent = { id: string; status: string; [field: string]: unknown };

/** The intent a 200 answered, or the one inside an error (Stripe includes it in 402 and unexpected-state errors). */
function intentIn(seen: Observed): Intent {
  if (seen.kind !== 'answered') throw new Error(`expected an answer, saw ${seen.kind}`);
  const body = seen.body as Intent & { error?: { payment_intent?: Intent } };
  const found = body.error ? body.error.payment_intent : body;
  if (!found) throw new Error(`no payment intent in ${JSON.stringify(body)}`);
  return found;
}

async function createUnconfirmed(simulator: Simulator, overrides: Partial<Parameters<typeof createIntent>[1]> = {}) {
  const request = intent(overrides);
  return { request, created: intentIn(await createIntent(simulator.url, request, { confirm: false })) };
}

function unexpectedState(action: 'confirm' | 'cancel', status: string) {
  return {
    kind: 'answered',
    status: 400,
    body: {
      error: {
        type: 'invalid_request_error',
        code: 'payment_intent_unexpected_state',
        message: expect.stringContaining(`You cannot ${action} this PaymentIntent because it has a status of ${status}.`),
        payment_intent: expect.objectContaining({ status }),
      },
    },
  };
}

describe('gateway simulator: create unconfirmed, confirm, cancel (Stripe\'s two-step flow)', () => {
  it('when an intent is created without confirm and then confirmed, then nothing is charged until the confirm, which charges once', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const { request, created } = await createUnconfirmed(simulator);
    expect(created).toMatchObject({ status: 'requires_confirmation', payment_method: 'pm_card_visa', last_payment_error: null, amount_received: 0 });
    expect(created).toMatchObject({ canceled_at: null, cancellation_reason: null, latest_charge: null, metadata: { orderId: request.orderId } });
    const waiting = intentIn(await createIntent(simulator.url, intent({ payment_method: undefined }), { confirm: false }));
    expect(waiting).toMatchObject({ status: 'requires_payment_method', payment_method: null, last_payment_error: null });
    expect(simulator.ledger()).toEqual([]);

    const confirmed = await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'c1' });
    expect(confirmed).toMatchObject({ kind: 'answered', status: 200, body: { id: created.id, status: 'succeeded', amount_received: 4999 } });
    expect(intentIn(confirmed).latest_charge).toMatch(/^ch_/);
    const paidLater = await confirmIntent(simulator.url, waiting.id, { payment_method: 'pm_card_visa' });
    expect(paidLater).toMatchObject({ status: 200, body: { status: 'succeeded', payment_method: 'pm_card_visa' } });
    expect(simulator.ledger()).toMatchObject([
      { id: created.id, orderId: request.orderId, amount: '4999', currency: 'USD', status: 'succeeded' },
      { id: waiting.id, status: 'succeeded' },
    ]);
  });

  it('when a confirm is repeated with its key, then the first answer is replayed and nothing is charged again; other parameters or another intent are refused', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const { created } = await createUnconfirmed(simulator);
    const first = await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'c2' });
    const replay = await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'c2' });
    expect(first).toMatchObject({ kind: 'answered', status: 200, replayed: false });
    expect(replay).toEqual({ ...first, replayed: true });

    const otherParams = await confirmIntent(simulator.url, created.id, { payment_method: 'pm_card_mastercard' }, { idempotencyKey: 'c2' });
    const { created: other } = await createUnconfirmed(simulator);
    const otherIntent = await confirmIntent(simulator.url, other.id, {}, { idempotencyKey: 'c2' });
    for (const refused of [otherParams, otherIntent]) {
      expect(refused).toMatchObject({ status: 400, body: { error: { type: 'idempotency_error' } } });
    }
    expect(simulator.ledger()).toHaveLength(1);
  });

  it('when a succeeded intent is confirmed again with a new key, then it is refused as in an unexpected state and not charged twice', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const { created } = await createUnconfirmed(simulator);
    await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'first-key' });

    const again = await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'new-key' });
    expect(again).toMatchObject(unexpectedState('confirm', 'succeeded'));
    expect(simulator.ledger()).toHaveLength(1);
  });

  it('when a confirm is declined, then it answers 402 with the intent back to requires_payment_method, records a failed charge, and a new payment method can pay', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const { created } = await createUnconfirmed(simulator, { payment_method: 'pm_card_chargeDeclinedInsufficientFunds' });
    const declined = await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'd1' });
    expect(declined).toMatchObject({
      status: 402,
      body: { error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', payment_intent: { id: created.id } } },
    });
    expect(intentIn(declined)).toMatchObject({ status: 'requires_payment_method', last_payment_error: { decline_code: 'insufficient_funds' } });
    expect(intentIn(await retrieveIntent(simulator.url, created.id)).status).toBe('requires_payment_method');

    const paid = await confirmIntent(simulator.url, created.id, { payment_method: 'pm_card_visa' }, { idempotencyKey: 'd2' });
    expect(paid).toMatchObject({ status: 200, body: { status: 'succeeded', last_payment_error: null } });
    expect(simulator.ledger().map((entry) => entry.status)).toEqual(['failed', 'succeeded']);
  });

  it('when an intent is cancelled, then it can never be confirmed or cancelled again, and nothing is charged', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const { created } = await createUnconfirmed(simulator);
    const canceled = await cancelIntent(simulator.url, created.id, { cancellation_reason: 'abandoned' }, { idempotencyKey: 'x1' });
    expect(canceled).toMatchObject({ status: 200, body: { status: 'canceled', cancellation_reason: 'abandoned' } });
    expect(intentIn(canceled).canceled_at).toBeGreaterThanOrEqual(created.created as number);

    expect(await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'x2' })).toMatchObject(unexpectedState('confirm', 'canceled'));
    expect(await cancelIntent(simulator.url, created.id)).toMatchObject(unexpectedState('cancel', 'canceled'));
    expect(await cancelIntent(simulator.url, created.id, { cancellation_reason: 'abandoned' }, { idempotencyKey: 'x1' })).toEqual({
      ...canceled,
      replayed: true,
    });
    expect(await confirmIntent(simulator.url, 'pi_unknown')).toMatchObject({ status: 404, body: { error: { code: 'resource_missing' } } });
    expect(simulator.ledger()).toEqual([]);
  });

  it('when a succeeded intent is cancelled, then it is refused as in an unexpected state and stays succeeded', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const { created } = await createUnconfirmed(simulator);
    await confirmIntent(simulator.url, created.id);

    expect(await cancelIntent(simulator.url, created.id, {}, { idempotencyKey: 'late-cancel' })).toMatchObject(
      unexpectedState('cancel', 'succeeded'),
    );
    expect(intentIn(await retrieveIntent(simulator.url, created.id)).status).toBe('succeeded');
  });

  it('when a confirm and a cancel of one intent arrive together, then exactly one wins, the other is refused, and the ledger agrees', async () => {
    const simulator = await startSimulator({ seed: 1, latencyMs: 150 });
    const { created } = await createUnconfirmed(simulator);
    const [confirmed, canceled] = await Promise.all([
      confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'race-confirm' }),
      cancelIntent(simulator.url, created.id, {}, { idempotencyKey: 'race-cancel' }),
    ]);

    const statuses = [confirmed, canceled].map((seen) => (seen.kind === 'answered' ? seen.status : seen.kind));
    expect(statuses.sort()).toEqual([200, 400]);
    const final = intentIn(await retrieveIntent(simulator.url, created.id)).status;
    expect(final).toBe(confirmed.kind === 'answered' && confirmed.status === 200 ? 'succeeded' : 'canceled');
    expect(simulator.ledger()).toHaveLength(final === 'succeeded' ? 1 : 0);
  });

  it('when a confirm\'s response is lost, then it charged once, retrieve shows it succeeded, and its key replays the charge', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const { created } = await createUnconfirmed(simulator);
    simulator.setFaults({ errorRate: 1 });
    expect(await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'lost' })).toMatchObject({ status: 500 });
    expect(simulator.ledger()).toEqual([]);

    simulator.setFaults({ errorRate: 0, lostResponseRate: 1 });
    expect(await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'lost' })).toEqual({ kind: 'dropped' });
    simulator.setFaults({ lostResponseRate: 0 });
    expect(intentIn(await retrieveIntent(simulator.url, created.id)).status).toBe('succeeded');
    expect(await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'lost' })).toMatchObject({ status: 200, replayed: true });
    expect(simulator.ledger()).toMatchObject([{ id: created.id, status: 'succeeded' }]);
  });
});

describe('gateway simulator: search lag and idempotency key lifetime on the simulator\'s clock', () => {
  it('when search lags a minute, then a new or changed intent shows in search only a minute later, while retrieve is current', async () => {
    const simulator = await startSimulator({ seed: 1 });
    await fetch(`${simulator.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ searchLagMs: 60_000 }) });
    const { request, created } = await createUnconfirmed(simulator);
    await confirmIntent(simulator.url, created.id);
    expect(await searchByOrder(simulator.url, request.orderId)).toEqual([]);
    expect(intentIn(await retrieveIntent(simulator.url, created.id)).status).toBe('succeeded');

    simulator.advanceClock(61);
    expect(await searchByOrder(simulator.url, request.orderId)).toEqual([{ id: created.id, status: 'succeeded' }]);

    const { request: later, created: stale } = await createUnconfirmed(simulator);
    simulator.advanceClock(61);
    await cancelIntent(simulator.url, stale.id);
    expect(await searchByOrder(simulator.url, later.orderId)).toEqual([{ id: stale.id, status: 'requires_confirmation' }]);
    simulator.advanceClock(61);
    expect(await searchByOrder(simulator.url, later.orderId)).toEqual([{ id: stale.id, status: 'canceled' }]);
  });

  it('when a key outlives its lifetime, then the same key runs again: a create makes a new intent, a confirm of a succeeded intent is refused', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const request = intent();
    const first = intentIn(await createIntent(simulator.url, request, { idempotencyKey: 'old-create' }));
    simulator.advanceClock(86_399);
    expect(await createIntent(simulator.url, request, { idempotencyKey: 'old-create' })).toMatchObject({ replayed: true, body: { id: first.id } });
    simulator.advanceClock(2);
    const second = await createIntent(simulator.url, request, { idempotencyKey: 'old-create' });
    expect(second).toMatchObject({ status: 200, replayed: false });
    expect(intentIn(second).id).not.toBe(first.id);
    expect(simulator.ledger()).toHaveLength(2);

    simulator.setFaults({ idempotencyTtlS: 60 });
    const { created } = await createUnconfirmed(simulator);
    await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'old-confirm' });
    simulator.advanceClock(61);
    expect(await confirmIntent(simulator.url, created.id, {}, { idempotencyKey: 'old-confirm' })).toMatchObject(
      unexpectedState('confirm', 'succeeded'),
    );
    expect(simulator.ledger()).toHaveLength(3);
  });

  it('when the clock is moved over HTTP, then it answers the new time, stamps new intents with it, and refuses anything but whole seconds up to ten years', async () => {
    const simulator = await startSimulator({ seed: 1 });
    const before = (await (await fetch(`${simulator.url}/_sim/clock`)).json()) as { now: number };
    expect(Math.abs(before.now - Date.now() / 1000)).toBeLessThan(5);
    const moved = await fetch(`${simulator.url}/_sim/clock?advance=3600`, { method: 'POST' });
    const after = (await moved.json()) as { now: number };
    expect(after.now - before.now).toBeGreaterThanOrEqual(3600);
    expect(intentIn(await createIntent(simulator.url, intent())).created).toBeGreaterThanOrEqual(after.now);

    for (const advance of ['soon', '0', '1.5', '-5', String(10 * 365 * 86_400 + 1)]) {
      const refused = await fetch(`${simulator.url}/_sim/clock?advance=${advance}`, { method: 'POST' });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toMatch(/^advance must be a whole number of seconds from 1 to 315360000/);
    }
    expect(() => simulator.advanceClock(0)).toThrow(/advance must be a whole number of seconds/);
  });
});

describe('simulator-only tokens whose every confirmation meets the same fault', () => {
  const idOf = (seen: Observed) => (seen as { body: { id: string } }).body.id;
  const statusOf = async (url: string, id: string) => ((await retrieveIntent(url, id)) as { body: { status: string } }).body.status;

  it('when pm_card_sim_lostResponse is confirmed, then it charges and every answer is dropped, replays included', async () => {
    const simulator = await startSimulator();
    const id = idOf(await createIntent(simulator.url, intent({ payment_method: 'pm_card_sim_lostResponse' }), { confirm: false }));

    expect((await confirmIntent(simulator.url, id, {}, { idempotencyKey: 'k1' })).kind).toBe('dropped');
    expect((await confirmIntent(simulator.url, id, {}, { idempotencyKey: 'k1' })).kind).toBe('dropped');
    expect(await statusOf(simulator.url, id)).toBe('succeeded');
    expect(simulator.ledger().map((c) => c.status)).toEqual(['succeeded']);
  });

  it('when pm_card_sim_timeout is confirmed, then it is never answered and never charged', async () => {
    const simulator = await startSimulator();
    const id = idOf(await createIntent(simulator.url, intent({ payment_method: 'pm_card_sim_timeout' }), { confirm: false }));

    expect((await confirmIntent(simulator.url, id, {}, { timeoutMs: 300 })).kind).toBe('no_answer');
    expect(await statusOf(simulator.url, id)).toBe('requires_confirmation');
    expect(simulator.ledger()).toEqual([]);
  });

  it('when pm_card_sim_lateCharge is confirmed, then the caller hears nothing and the charge lands later, unless the intent is cancelled first', async () => {
    const simulator = await startSimulator();
    const late = idOf(await createIntent(simulator.url, intent({ payment_method: 'pm_card_sim_lateCharge' }), { confirm: false }));
    const cancelled = idOf(await createIntent(simulator.url, intent({ payment_method: 'pm_card_sim_lateCharge' }), { confirm: false }));

    expect((await confirmIntent(simulator.url, late, {}, { timeoutMs: 300 })).kind).toBe('no_answer');
    expect((await confirmIntent(simulator.url, cancelled, {}, { timeoutMs: 300 })).kind).toBe('no_answer');
    expect(await statusOf(simulator.url, late)).toBe('requires_confirmation');
    expect(await cancelIntent(simulator.url, cancelled)).toMatchObject({ status: 200 });

    await eventually(async () => (await statusOf(simulator.url, late)) === 'succeeded', 6000);
    expect(await statusOf(simulator.url, cancelled)).toBe('canceled');
    expect(simulator.ledger().map((c) => c.id)).toEqual([late]);
  });
});
