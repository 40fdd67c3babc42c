import { describe, expect, it } from 'vitest';
import { getShortestPaths, type StatePath } from 'xstate/graph';
import {
  CHARGE_SETTLED_STATUSES,
  PAYMENT_EFFECTS,
  PAYMENT_STATUSES,
  paymentMachine,
  type PaymentEvent,
} from '../../src/machines/payment.machine.js';
import { statusByRefunded } from '../../src/machines/payment.refunds.js';
import { sampleEvents, sampleInput, start, step, type PaymentSnapshot } from '../support/payment.samples.js';

/**
 * Every payment the machine can be in after its charge, each reached by its
 * shortest path from a new payment (generated from the definition), replayed
 * and checked against the rules of CONTRACT §8: money never refunded twice or
 * beyond the charge, one terminal event, every cancellation answered exactly
 * once and never left waiting on nothing.
 */

const { CANCEL } = sampleEvents;
const cancelId = CANCEL.refundId;
const FULL = 'f1e2d3c4-0000-4000-8000-000000000001';

/** Outcomes for each refund the walk can create: the sample one (1000), a full one (all of it), and the cancellation's. */
function outcomes(refundId: string, gatewayRefundId: string): PaymentEvent[] {
  return [
    { type: 'REFUND_PENDING', refundId, gatewayRefundId },
    { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId },
    { type: 'REFUND_FAILED', refundId, code: 'declined', reason: 'the bank refused it', gatewayRefundId },
  ];
}

const eventsToTry: PaymentEvent[] = [
  sampleEvents.START,
  sampleEvents.REJECT,
  sampleEvents.CHARGE_SUCCEEDED,
  sampleEvents.CHARGE_DECLINED,
  sampleEvents.CHARGE_VOIDED,
  CANCEL,
  sampleEvents.REFUND_REQUESTED,
  ...outcomes(sampleEvents.REFUND_REQUESTED.refundId, 're_1sim'),
  { type: 'REFUND_REQUESTED', refundId: FULL, amountMinor: sampleInput.amountMinor, reason: 'returned' },
  ...outcomes(FULL, 're_full'),
  ...outcomes(cancelId, 're_cancel'),
  sampleEvents.DISPUTE_OPENED,
];

const traversal = {
  input: sampleInput,
  events: eventsToTry,
  // Retries and failover belong to the charge phase (payment.paths.test.ts); a failed
  // cancellation refund is re-armed for ever, so the walk stops after its second attempt.
  filterEvents: (snapshot: PaymentSnapshot, event: PaymentEvent) =>
    event.type !== 'REFUND_FAILED' || event.refundId !== cancelId || (snapshot.context.refunds[cancelId]?.attempt ?? 0) < 2,
};

type Path = StatePath<PaymentSnapshot, PaymentEvent>;
const eventsOf = (path: Path) => path.steps.map((s) => s.event).filter((e) => !e.type.startsWith('xstate.'));

interface Replayed {
  snapshot: PaymentSnapshot;
  effects: string[];
  /** Answers to the cancellation: PaymentCancelled, or the PaymentRefunded of the cancellation's own refund before it was answered. */
  answers: number;
  attemptsAfterCancel: boolean;
  /** PaymentCancelled went out while money was held or a refund was still in flight (undisputed): "no money of it is held" was false. */
  cancelledWhileHeld: boolean;
}

function holdsMoney(snapshot: PaymentSnapshot): boolean {
  const c = snapshot.context;
  if (snapshot.value === 'Failed' || c.dispute) return false;
  const inFlight = Object.values(c.refunds).some((r) => r.status === 'requested' || r.status === 'pending');
  return inFlight || BigInt(c.amountMinor) > BigInt(c.amountRefundedMinor);
}

function replay(path: Path): Replayed {
  let snapshot = start();
  const effects: string[] = [];
  let answers = 0;
  let attemptsAfterCancel = false;
  let cancelledWhileHeld = false;
  for (const event of eventsOf(path)) {
    const next = step(snapshot, event);
    if (next.effects.includes('emitPaymentCancelled') && holdsMoney(next.snapshot)) cancelledWhileHeld = true;
    const wasAnswered = snapshot.context.cancellation?.answered ?? false;
    if (next.effects.includes('emitPaymentCancelled')) answers += 1;
    if (!wasAnswered && event.type === 'REFUND_SUCCEEDED' && event.refundId === cancelId && next.effects.includes('emitPaymentRefunded')) answers += 1;
    if (snapshot.context.cancellation && next.snapshot.context.attempts > snapshot.context.attempts) attemptsAfterCancel = true;
    effects.push(...next.effects);
    snapshot = next.snapshot;
  }
  return { snapshot, effects, answers, attemptsAfterCancel, cancelledWhileHeld };
}

const paths = getShortestPaths(paymentMachine, traversal);
let replayed: Array<Replayed & { path: Path }> | undefined;
/** Every path replayed once, on first use. */
const replays = () => (replayed ??= paths.map((path) => ({ path, ...replay(path) })));
const label = (path: Path) => eventsOf(path).map((e) => ('refundId' in e && e.type !== 'CANCEL' ? `${e.type}(${e.refundId.slice(0, 6)})` : e.type)).join(' > ');

describe('every payment reachable after the charge', () => {
  it('when the walk is generated, then it reaches every status, and enough payments to mean something', () => {
    expect(new Set(paths.map((p) => p.state.value))).toEqual(new Set(PAYMENT_STATUSES));
    expect(paths.length).toBeGreaterThan(200);
  });

  it('when each is replayed, then it ends where the walk did and names only effects the worker knows', () => {
    for (const { path, snapshot, effects } of replays()) {
      expect(snapshot.value, label(path)).toBe(path.state.value);
      expect(snapshot.context, label(path)).toEqual(path.state.context);
      for (const effect of effects) expect(PAYMENT_EFFECTS, label(path)).toContain(effect);
    }
  });

  it('when the charge is settled, then exactly one terminal event was emitted, and none before', () => {
    for (const { path, snapshot, effects } of replays()) {
      const terminal = effects.filter((e) => e === 'emitPaymentCompleted' || e === 'emitPaymentFailed');
      const settled = CHARGE_SETTLED_STATUSES.includes(snapshot.value);
      expect(terminal, label(path)).toHaveLength(settled ? 1 : 0);
      if (settled) expect(terminal[0], label(path)).toBe(snapshot.value === 'Failed' ? 'emitPaymentFailed' : 'emitPaymentCompleted');
    }
  });

  it('when refunds are counted, then the amount refunded is the succeeded ones, never more than charged, and the status says it', () => {
    for (const path of paths) {
      const c = path.state.context;
      const refunds = Object.values(c.refunds);
      const sum = (statuses: string[]) => refunds.filter((r) => statuses.includes(r.status)).reduce((a, r) => a + BigInt(r.amountMinor), 0n);
      expect(BigInt(c.amountRefundedMinor), label(path)).toBe(sum(['succeeded']));
      expect(sum(['succeeded', 'requested', 'pending']) <= BigInt(c.amountMinor), label(path)).toBe(true);
      if (path.state.value === 'Failed' || path.state.value === 'Initiated' || path.state.value === 'Processing') {
        expect(refunds.every((r) => r.status === 'failed'), `${label(path)}: nothing is refunded that was never charged`).toBe(true);
      }
      if (['Success', 'PartiallyRefunded', 'Refunded'].includes(path.state.value)) {
        expect(path.state.value, label(path)).toBe(statusByRefunded(c));
      }
    }
  });

  it('when a cancellation was accepted, then it is answered exactly once, or a refund it waits on is still in flight', () => {
    let cancelled = 0;
    for (const { path, snapshot, answers, attemptsAfterCancel, cancelledWhileHeld } of replays()) {
      expect(cancelledWhileHeld, `${label(path)}: PaymentCancelled means no money of the order is held`).toBe(false);
      const cancellation = snapshot.context.cancellation;
      expect(attemptsAfterCancel, `${label(path)}: no charge is asked for once cancelled`).toBe(false);
      if (!cancellation) {
        expect(answers, label(path)).toBe(0);
        continue;
      }
      cancelled += 1;
      expect(answers, label(path)).toBe(cancellation.answered ? 1 : 0);
      const inFlight = Object.values(snapshot.context.refunds).some((r) => r.status === 'requested' || r.status === 'pending');
      const settling = snapshot.value === 'Processing';
      expect(cancellation.answered || inFlight || settling, `${label(path)}: a cancellation never waits on nothing`).toBe(true);
    }
    expect(cancelled).toBeGreaterThan(50);
  });

  it('when a cancelled payment holds money and nothing is in flight, then only a dispute or a refund that failed after the cancellation was paid explains it', () => {
    for (const path of paths) {
      const c = path.state.context;
      if (!c.cancellation || path.state.value === 'Failed' || path.state.value === 'Processing') continue;
      const inFlight = Object.values(c.refunds).some((r) => r.status === 'requested' || r.status === 'pending');
      const held = BigInt(c.amountMinor) - BigInt(c.amountRefundedMinor);
      if (inFlight || held === 0n) continue;
      const explained = c.dispute !== null || c.refunds[cancelId]?.status === 'succeeded';
      expect(explained, `${label(path)}: the customer is charged with nothing owed`).toBe(true);
    }
  });
});
