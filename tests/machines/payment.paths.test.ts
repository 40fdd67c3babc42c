import { describe, expect, it } from 'vitest';
import {
  adjacencyMapToArray,
  getAdjacencyMap,
  getShortestPaths,
  getSimplePaths,
  serializeSnapshot,
  type StatePath,
} from 'xstate/graph';
import { CHARGE_SETTLED_STATUSES, paymentMachine, type PaymentEvent } from '../../src/machines/payment.machine.js';
import { sampleEvents, sampleInput, start, step, type PaymentSnapshot } from '../support/payment.samples.js';

/**
 * Every path through the charge phase, generated from the machine's definition
 * rather than hand-listed, checked against the invariants the saga relies on.
 * What follows the charge (refunds, cancellations, disputes) has its own
 * generated walk in payment.compensation-paths.test.ts.
 */

const CHARGE_EVENTS = ['START', 'REJECT', 'CHARGE_SUCCEEDED', 'CHARGE_DECLINED', 'CHARGE_FAILED_TRANSIENTLY', 'ROUTE', 'GIVE_UP'] as const;
const TERMINAL_STATUSES = ['Success', 'Failed'] as const;

const eventsToTry: PaymentEvent[] = [
  ...CHARGE_EVENTS.map((type) => sampleEvents[type]),
  // Variants: a refused success (the guard) and a decline that names no gateway.
  { type: 'CHARGE_SUCCEEDED', transactionId: '', gateway: 'stripe' },
  { type: 'CHARGE_DECLINED', code: 'insufficient_funds', reason: 'Insufficient funds.' },
];

const traversal = {
  input: sampleInput,
  events: eventsToTry,
  // Each transient failure makes a new context, so unbounded retries are an infinite graph.
  // Once the allowance is spent, GIVE_UP and the outcomes are what is left to explore.
  // Each recorded handle counts up intentSeq likewise: one is enough to cover a route.
  filterEvents: (snapshot: PaymentSnapshot, event: PaymentEvent) =>
    (event.type !== 'CHARGE_FAILED_TRANSIENTLY' || snapshot.context.failures < snapshot.context.maxAttempts) &&
    (event.type !== 'ROUTE' || snapshot.context.intentSeq < 1),
};

type Path = StatePath<PaymentSnapshot, PaymentEvent>;

const isTerminal = (snapshot: PaymentSnapshot) => (TERMINAL_STATUSES as readonly string[]).includes(snapshot.value);

it('when the charge phase ends, then it ends in a state that counts as charge-settled', () => {
  expect(TERMINAL_STATUSES.every((s) => CHARGE_SETTLED_STATUSES.includes(s))).toBe(true);
});
/** The path's events without xstate's own initial step. */
const eventsOf = (path: Path) => path.steps.map((s) => s.event).filter((e) => !e.type.startsWith('xstate.'));

/** "START > CHARGE_FAILED_TRANSIENTLY x2 > CHARGE_DECLINED(card_declined)" */
function labelOf(path: Path): string {
  const names = eventsOf(path).map((e) => (e.type === 'CHARGE_DECLINED' ? `${e.type}(${e.code})` : e.type));
  const runs: Array<{ name: string; count: number }> = [];
  for (const name of names) {
    const last = runs.at(-1);
    if (last?.name === name) last.count += 1;
    else runs.push({ name, count: 1 });
  }
  return runs.map((r) => (r.count > 1 ? `${r.name} x${r.count}` : r.name)).join(' > ');
}

/** Replays a path with the pure `transition`, collecting the named effects of every step. */
function replay(path: Path) {
  let snapshot = start();
  const effects: string[][] = [];
  /** How many times the payment entered a state that owes a charge: each is one charge the worker makes. */
  let chargesOwed = 0;
  for (const event of eventsOf(path)) {
    const next = step(snapshot, event);
    // Entering Processing counts an attempt; the state it enters must owe the charge that attempt makes.
    if (next.snapshot.context.attempts > snapshot.context.attempts && next.snapshot.hasTag('chargeOwed')) chargesOwed += 1;
    snapshot = next.snapshot;
    effects.push(next.effects);
  }
  return { snapshot, effects, chargesOwed };
}

const allPaths = getSimplePaths(paymentMachine, traversal);
const terminalPaths = allPaths.filter((p) => isTerminal(p.state));

describe('paths through the payment machine', () => {
  it('when every path is generated, then they end in every state of the charge phase', () => {
    expect(new Set(allPaths.map((p) => p.state.value))).toEqual(new Set(['Initiated', 'Processing', 'Success', 'Failed']));
  });

  it('when a state cannot move on with any charge event, then it settled the charge, and every settled one cannot move on', () => {
    const edges = adjacencyMapToArray(getAdjacencyMap(paymentMachine, traversal));
    const vertices = new Map(edges.map((e) => [serializeSnapshot(e.state), e.state]));
    expect([...vertices.keys()].sort()).toEqual([...new Set(allPaths.map((p) => serializeSnapshot(p.state)))].sort());
    for (const [key, state] of vertices) {
      const movesOn = edges.some((e) => serializeSnapshot(e.state) === key && serializeSnapshot(e.nextState) !== key);
      expect(movesOn, key).toBe(!isTerminal(state));
    }
  });

  it('when the shortest paths are generated, then every outcome the contract names is reachable', () => {
    const outcomes = getShortestPaths(paymentMachine, traversal)
      .filter((p) => isTerminal(p.state))
      .map((p) => `${p.state.value}:${p.state.context.failureCode ?? '-'}`);
    expect(new Set(outcomes)).toEqual(
      new Set(['Success:-', 'Failed:invalid_request', 'Failed:card_declined', 'Failed:insufficient_funds', 'Failed:gateway_unavailable']),
    );
  });

  it('when the payment gives up, then the shortest way there spends every allowed attempt first', () => {
    const [path] = getShortestPaths(paymentMachine, {
      ...traversal,
      toState: (s) => s.context.failureCode === 'gateway_unavailable',
    });
    expect(path).toBeDefined();
    const failures = eventsOf(path!).filter((e) => e.type === 'CHARGE_FAILED_TRANSIENTLY');
    expect(failures).toHaveLength(sampleInput.maxAttempts);
  });
});

describe('every path to a terminal state', () => {
  for (const path of terminalPaths) {
    it(`when ${labelOf(path)}, then the outcome, its one terminal event and the charges agree`, () => {
      const { snapshot, effects, chargesOwed } = replay(path);
      const c = snapshot.context;
      expect(snapshot.value, 'replaying with transition ends where the graph did').toBe(path.state.value);
      expect(c).toEqual(path.state.context);

      if (snapshot.value === 'Success') {
        expect(c.transactionId, 'Success has a transaction id').toEqual(expect.stringMatching(/.+/));
        expect([c.failureCode, c.failureReason], 'Success has no failure').toEqual([null, null]);
      } else {
        expect(snapshot.value).toBe('Failed');
        expect(c.failureCode, 'Failed has a code').toEqual(expect.stringMatching(/.+/));
        expect(c.failureReason, 'Failed has a reason').toEqual(expect.stringMatching(/.+/));
        expect(c.transactionId, 'Failed has no transaction id').toBeNull();
      }

      const flat = effects.flat();
      const emits = flat.filter((e) => e.startsWith('emit'));
      const expectedEmit = snapshot.value === 'Success' ? 'emitPaymentCompleted' : 'emitPaymentFailed';
      expect(emits, 'exactly one terminal event, matching the state').toEqual([expectedEmit]);
      expect(effects.at(-1), 'emitted on the step that ends the payment').toEqual([expectedEmit]);

      expect(chargesOwed, 'every charge the machine asked for is counted').toBe(c.attempts);
      expect(snapshot.hasTag('chargeOwed'), 'nothing is owed once the payment ends').toBe(false);
      if (snapshot.value === 'Success') expect(chargesOwed).toBeGreaterThan(0);
      if (c.failureCode === 'invalid_request') expect(chargesOwed, 'an invalid request is never charged').toBe(0);
      if (c.failureCode === 'gateway_unavailable') expect(c.failures).toBeGreaterThanOrEqual(c.maxAttempts);
      for (const event of eventsToTry) {
        const after = step(snapshot, event);
        expect(after.effects, `no charge effect after the end, on ${event.type}`).toEqual([]);
        expect(after.snapshot).toBe(snapshot);
      }
    });
  }
});
