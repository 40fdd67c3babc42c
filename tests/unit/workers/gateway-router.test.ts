import { beforeEach, describe, expect, it } from 'vitest';
import type { ChargeLookup } from '../../../src/gateway/gateway.port.js';
import type { PaymentContext, PaymentEvent } from '../../../src/machines/payment.machine.js';
import { migrateSnapshot } from '../../../src/machines/payment.snapshot.js';
import type { Payment } from '../../../src/persistence/payments.repository.js';
import type { GatewayCall, PersistRoute } from '../../../src/workers/charge-outcome.js';
import { chargeViaGateways, mayHoldCharge, settleBeforeGivingUp, type RoutedGateway } from '../../../src/workers/gateway-router.js';
import { advance } from '../../../src/workers/payment-transitions.js';
import { createInMemoryBreaker, type InMemoryBreaker } from '../../support/fakes/in-memory.breaker.js';
import { asPaymentsRepository, createInMemoryPaymentsRepository, type InMemoryPaymentsRepository } from '../../support/fakes/in-memory-payments.repository.js';
import { legacyV2Processing, newPayment } from '../../support/fakes/payment-records.js';
import { asPaymentGateway, createScriptedGateway, type ChargePort, type ScriptedGateway } from '../../support/fakes/scripted.gateway.js';

let repo: InMemoryPaymentsRepository;
beforeEach(() => {
  repo = createInMemoryPaymentsRepository();
});

/** A stored payment after `events`, as the processor would hold it. */
async function paymentAfter(events: PaymentEvent[] = []): Promise<Payment> {
  let { payment } = await repo.insert(newPayment());
  for (const event of events) payment = (await advance(asPaymentsRepository(repo), payment, event)).payment;
  return payment;
}

/** A payment machine version 2 left Processing, read at the current version as the processor reads it. */
async function legacyPayment(): Promise<Payment> {
  const p = newPayment();
  const { payment } = await repo.insert({ ...p, snapshot: legacyV2Processing(p.snapshot) });
  return { ...payment, snapshot: migrateSnapshot(payment.snapshot) };
}

const withContext = (p: Payment, context: Partial<PaymentContext>): Payment => ({ ...p, snapshot: { ...p.snapshot, context: { ...p.snapshot.context, ...context } } });

/** What the processor's `route` does: START for a new payment, ROUTE afterwards. */
const persistRoute: PersistRoute = async (p, gateway, intentId, cleared) =>
  (await advance(asPaymentsRepository(repo), p, { type: p.status === 'Initiated' ? 'START' : 'ROUTE', gateway, intentId, cleared })).payment;

const routed = (g: ScriptedGateway | ChargePort, breaker?: InMemoryBreaker): RoutedGateway => ({
  gateway: asPaymentGateway('gateway' in g ? g.gateway : g),
  ...(breaker ? { breaker: breaker.breaker } : {}),
});

/** A gateway whose cancel and read both answer `found`: for the table of what an answer means. */
const answering = (found: ChargeLookup, name = 'primary'): ChargePort => ({
  name,
  prepare: async () => {
    throw new Error('not expected: nothing is prepared while giving up');
  },
  charge: async () => {
    throw new Error('not expected: nothing is confirmed while giving up');
  },
  lookup: async () => found,
  void: async () => found,
});

describe('mayHoldCharge: the gateways that may hold a charge for this payment', () => {
  it.each([
    ['a committed handle at that gateway', 'secondary', true, { intents: { secondary: 'pi_2' } }],
    ['recorded maybe_charged without a handle (version 2 failover)', 'secondary', true, { gateways: { secondary: 'maybe_charged' } }],
    ['recorded not_charged (its handle was cancelled)', 'primary', false, { gateways: { primary: 'not_charged' } }],
    ['nothing recorded, a new payment', 'primary', false, {}],
    ['a legacy charge, nothing recorded', 'primary', true, { legacyCharge: true }],
    ['a legacy charge, nothing recorded', 'secondary', false, { legacyCharge: true }],
    ['a legacy charge the primary was cleared of', 'primary', false, { legacyCharge: true, gateways: { primary: 'not_charged' } }],
  ] as Array<[string, string, boolean, Partial<PaymentContext>]>)('%s: %s may hold a charge → %s', async (_case, gateway, holds, context) => {
    const p = withContext(await paymentAfter(), context);
    expect(mayHoldCharge(p, 'primary')(gateway)).toBe(holds);
  });
});

describe('chargeViaGateways', () => {
  it('when a payment was charged before handles were recorded, then only search is asked: nothing is prepared, the secondary is never tried', async () => {
    const found = { status: 'succeeded' as const, transactionId: 'pi_legacy', response: {} };
    const primary = createScriptedGateway([], { name: 'primary', searchFinds: found });
    const secondary = createScriptedGateway([], { name: 'secondary' });

    const result = await chargeViaGateways([routed(primary), routed(secondary)], await legacyPayment(), [], persistRoute);

    expect(result).toMatchObject({ kind: 'outcome', outcome: { kind: 'succeeded', transactionId: 'pi_legacy', gateway: 'primary' } });
    expect(primary.calls.lookup).toEqual([undefined]);
    expect(primary.calls.prepare).toHaveLength(0);
    expect(secondary.calls).toEqual({ prepare: [], charge: [], lookup: [], void: [] });
  });

  it.each([
    ['finds nothing (search lags writes)', 'not_found_by_search', { status: 'not_found' } as const],
    ['finds only a cancelled intent', 'legacy_charge', { status: 'canceled', transactionId: 'pi_old' } as const],
    ['finds an unconfirmed intent', 'legacy_charge', { status: 'not_charged', transactionId: 'pi_old' } as const],
  ])('when search for a legacy charge %s, then the outcome is unsettled (%s), never a retry that could move on', async (_case, code, searchFinds) => {
    const primary = createScriptedGateway([], { name: 'primary', searchFinds });

    const result = await chargeViaGateways([routed(primary)], await legacyPayment(), [], persistRoute);

    expect(result).toMatchObject({ kind: 'outcome', outcome: { kind: 'unsettled', code } });
  });

  it('when the primary breaker is open for a legacy payment, then the secondary is not charged blind: the primary search answers first', async () => {
    const primary = createScriptedGateway([], { name: 'primary' });
    const secondary = createScriptedGateway([], { name: 'secondary' });

    const result = await chargeViaGateways([routed(primary, createInMemoryBreaker({ state: 'open' })), routed(secondary)], await legacyPayment(), [], persistRoute);

    expect(result).toMatchObject({ kind: 'outcome', outcome: { kind: 'unsettled', gateway: 'primary' } });
    expect(secondary.calls.prepare).toHaveLength(0);
  });

  it('when a decline comes back, then the breaker records an answer, not a failure', async () => {
    const breaker = createInMemoryBreaker();
    const only = createScriptedGateway(['decline'], { name: 'primary' });

    const result = await chargeViaGateways([routed(only, breaker)], await paymentAfter(), [], persistRoute);

    expect(result).toMatchObject({ kind: 'outcome', outcome: { kind: 'declined', code: 'card_declined' } });
    expect(breaker.calls).toMatchObject({ success: 1, failure: 0 });
  });

  it('when every breaker is open, then nothing is sent and the shortest wait is reported', async () => {
    const a = createScriptedGateway([], { name: 'primary' });
    const b = createScriptedGateway([], { name: 'secondary' });

    const result = await chargeViaGateways(
      [routed(a, createInMemoryBreaker({ state: 'open', openMs: 900 })), routed(b, createInMemoryBreaker({ state: 'open', openMs: 300 }))],
      await paymentAfter(),
      [],
      persistRoute,
    );

    expect(result).toMatchObject({ kind: 'all_open', retryInMs: 300 });
    expect(a.calls.prepare.length + b.calls.prepare.length).toBe(0);
  });

  it('when the failure opens the breaker, or a probe is refused before it reaches the gateway, then it is an outage (all_open); a probe that timed out is a retry', async () => {
    const tripping = await chargeViaGateways(
      [routed(createScriptedGateway(['down'], { name: 'primary' }), createInMemoryBreaker({ failureThreshold: 1, openMs: 900 }))],
      await paymentAfter(),
      [],
      persistRoute,
    );
    const refusedProbe = await chargeViaGateways(
      [routed(createScriptedGateway(['down'], { name: 'primary' }), createInMemoryBreaker({ state: 'half_open', openMs: 900, halfOpenProbes: 3 }))],
      await paymentAfter(),
      [],
      persistRoute,
    );
    const timedOutProbe = await chargeViaGateways(
      [routed(createScriptedGateway(['timeout'], { name: 'primary' }), createInMemoryBreaker({ state: 'half_open', openMs: 900, halfOpenProbes: 3 }))],
      await paymentAfter(),
      [],
      persistRoute,
    );

    expect(tripping).toMatchObject({ kind: 'all_open', retryInMs: 900 });
    expect(refusedProbe).toMatchObject({ kind: 'all_open', retryInMs: 900 });
    expect(timedOutProbe).toMatchObject({ kind: 'outcome', outcome: { kind: 'retry', code: 'gateway_timeout' } });
  });

  it('when the primary fails transiently, then the gateways cleared on the way are reported for the commit', async () => {
    const primary = createScriptedGateway(['down'], { name: 'primary' });
    const secondary = createScriptedGateway(['down'], { name: 'secondary' });
    const calls: GatewayCall[] = [];

    const result = await chargeViaGateways([routed(primary), routed(secondary)], await paymentAfter(), calls, persistRoute);

    expect(result).toMatchObject({ kind: 'outcome', outcome: { kind: 'retry', gateway: 'secondary' }, cleared: ['primary'] });
    expect(calls.map((c) => `${c.gateway}.${c.operation}:${c.outcome}`)).toEqual([
      'primary.prepare:prepared',
      'primary.charge:not_sent',
      'primary.void:canceled',
      'secondary.prepare:prepared',
      'secondary.charge:not_sent',
    ]);
  });
});

describe('settleBeforeGivingUp: only a cancelled handle lets a payment fail', () => {
  const handled = (name = 'primary') => paymentAfter([{ type: 'START', gateway: name, intentId: `pi_${name}` }]);

  it.each([
    ['canceled', 'the payment may fail', { status: 'canceled', transactionId: 'pi_primary' }, undefined],
    ['succeeded (the cancel lost to a confirm)', 'it settles as charged', { status: 'succeeded', transactionId: 'pi_primary', response: {} }, { kind: 'succeeded', transactionId: 'pi_primary' }],
    ['declined', 'it settles as declined', { status: 'declined', code: 'card_declined', reason: 'declined', response: {} }, { kind: 'declined', code: 'card_declined' }],
    ['pending', 'it is unsettled', { status: 'pending', transactionId: 'pi_primary' }, { kind: 'unsettled', code: 'gateway_pending' }],
    ['not_charged (a confirm in flight could still land)', 'it is unsettled', { status: 'not_charged', transactionId: 'pi_primary' }, { kind: 'unsettled', code: 'not_confirmed' }],
  ] as Array<[string, string, ChargeLookup, Record<string, unknown> | undefined]>)('when the cancel answers %s, then %s', async (_case, _then, found, settlement) => {
    const result = await settleBeforeGivingUp([routed(answering(found))], await handled(), []);
    if (settlement === undefined) expect(result).toBeUndefined();
    else expect(result).toMatchObject(settlement);
  });

  it('when no gateway may hold a charge, then nothing is called and the payment may fail', async () => {
    const only = createScriptedGateway([], { name: 'primary' });
    expect(await settleBeforeGivingUp([routed(only)], await paymentAfter([{ type: 'START' }]), [])).toBeUndefined();
    expect(only.calls.void).toHaveLength(0);
  });

  it('when the cancel fails, then the payment must not fail: unsettled', async () => {
    const only = createScriptedGateway([], { name: 'primary', voidFails: true });
    expect(await settleBeforeGivingUp([routed(only)], await handled(), [])).toMatchObject({ kind: 'unsettled', code: 'gateway_unavailable' });
  });

  it('when a legacy charge cannot be found by search, then it is unsettled: a search miss never fails a payment', async () => {
    const only = createScriptedGateway([], { name: 'primary' });
    expect(await settleBeforeGivingUp([routed(only)], await legacyPayment(), [])).toMatchObject({ kind: 'unsettled', code: 'not_found_by_search' });
    expect(only.calls.void).toHaveLength(0);
  });

  it('when the primary is cancelled but the secondary charged, then the payment settles with the secondary charge', async () => {
    const primary = createScriptedGateway([], { name: 'primary' });
    const secondary = answering({ status: 'succeeded', transactionId: 'pi_secondary', response: {} }, 'secondary');
    const p = withContext(await handled(), { intents: { primary: 'pi_primary', secondary: 'pi_secondary' } });

    const result = await settleBeforeGivingUp([routed(primary), routed(secondary)], p, []);

    expect(result).toMatchObject({ kind: 'succeeded', gateway: 'secondary', transactionId: 'pi_secondary' });
    expect(primary.canceled).toEqual(new Set(['pi_primary']));
  });
});
