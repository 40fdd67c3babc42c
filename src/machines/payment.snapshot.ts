import { createActor } from 'xstate';
import {
  isChargeSettled,
  PAYMENT_EFFECTS,
  PAYMENT_MACHINE_VERSION,
  paymentMachine,
  type PaymentContext,
  type PaymentEffect,
  type PaymentEvent,
  type PaymentInput,
  type PaymentStatus,
} from './payment.machine.js';
import { refundsOwed as owedOf, refundsUnsettled as unsettledOf } from './payment.refunds.js';

export type { PaymentEffect } from './payment.machine.js';

/**
 * What is stored in `payments.snapshot`: the machine's state value and context,
 * tagged with the machine version that wrote it. Plain JSON, nothing executable.
 */
export interface StoredSnapshot {
  version: number;
  value: PaymentStatus;
  context: PaymentContext;
}

const EFFECTS: ReadonlySet<string> = new Set(PAYMENT_EFFECTS);

export interface Step {
  snapshot: StoredSnapshot;
  effects: PaymentEffect[];
  /** False when the event was not accepted in the current state (nothing changed). */
  changed: boolean;
}

export class SnapshotVersionError extends Error {
  constructor(version: unknown) {
    super(
      `payment snapshot has machine version ${String(version)}, this build knows 1..${PAYMENT_MACHINE_VERSION}: ` +
        'deploy a build that includes its migration, or restore from an older build',
    );
    this.name = 'SnapshotVersionError';
  }
}

/**
 * Migrations from each old version to the next. A snapshot is migrated, never
 * silently misread: an unknown version is an error.
 */
const migrations: Record<number, (s: StoredSnapshot) => StoredSnapshot> = {
  // v2 added per-gateway knowledge for failover. A v1 payment only ever used the
  // primary gateway; v3's `legacyCharge` (below) is what marks it maybe charged.
  2: (v1) => ({ ...v1, version: 2, context: { ...v1.context, gateways: {} } }),
  // v3 records each charge's gateway handle before confirming it. A v2 payment still
  // Processing may have charged (create-and-confirm in one call) with no handle kept.
  3: (v2) => ({ ...v2, version: 3, context: { ...v2.context, intents: {}, intentSeq: 0, legacyCharge: v2.value === 'Processing' } }),
  // v4 adds refunds, cancellations and disputes. A v3 payment had none of them, and its status means what it meant.
  4: (v3) => ({
    ...v3,
    version: 4,
    context: { ...v3.context, refunds: {}, amountRefundedMinor: '0', cancellation: null, dispute: null },
  }),
  // v5 lets a refund return another charge than the payment's own (`Refund.intentId`, reconciliation's stray charges).
  // A v4 payment has none: every refund of it returns its own charge, which is what a refund without `intentId` means.
  5: (v4) => ({ ...v4, version: 5 }),
};

export function migrateSnapshot(stored: StoredSnapshot): StoredSnapshot {
  let current = stored;
  if (!Number.isInteger(current.version) || current.version < 1 || current.version > PAYMENT_MACHINE_VERSION) {
    throw new SnapshotVersionError(current.version);
  }
  while (current.version < PAYMENT_MACHINE_VERSION) {
    const step = migrations[current.version + 1];
    if (!step) throw new SnapshotVersionError(current.version);
    current = step(current);
  }
  return current;
}

function store(snapshot: ReturnType<typeof paymentMachine.resolveState>): StoredSnapshot {
  return {
    version: PAYMENT_MACHINE_VERSION,
    value: snapshot.value as PaymentStatus,
    context: snapshot.context,
  };
}

function effectsOf(actions: ReadonlyArray<{ type: string }>): PaymentEffect[] {
  return actions.map((a) => a.type).filter((t): t is PaymentEffect => EFFECTS.has(t));
}

type ActorScope = Parameters<typeof paymentMachine.transition>[2];
type Action = Parameters<ActorScope['actionExecutor']>[0];
let scope: ActorScope | undefined;

/**
 * Runs `step` against one inert actor scope, kept for the process, collecting
 * the actions it would execute instead of executing them. This is what
 * xstate's pure `transition()` and `initialTransition()` do, except that they
 * build a new actor per call, and an Actor's constructor computes the
 * machine's whole initial snapshot: a fifth of every payment's machine work
 * (the benchmark's profile). The machine is pure (no invoked or spawned
 * actors, no delays), so nothing is left in the scope between calls.
 * tests/machines/payment.snapshot.test.ts checks every path against xstate's
 * own `transition()`.
 */
function pure<T>(step: (scope: ActorScope) => T): [T, Action[]] {
  scope ??= inertScope();
  const actions: Action[] = [];
  scope.actionExecutor = (action) => void actions.push(action);
  try {
    return [step(scope), actions];
  } finally {
    scope.actionExecutor = () => {};
  }
}

function inertScope(): ActorScope {
  const self = createActor(paymentMachine, { input: { orderId: '', paymentId: '', amountMinor: '0', currency: 'USD', maxAttempts: 1 } });
  return {
    self,
    system: self.system,
    id: '',
    sessionId: '',
    logger: () => {},
    defer: () => {},
    emit: () => {},
    stopChild: () => {},
    actionExecutor: () => {},
  } as unknown as ActorScope;
}

/** The snapshot of a new payment, in `Initiated`. */
export function createPaymentSnapshot(input: PaymentInput): StoredSnapshot {
  const [snapshot] = pure((s) => paymentMachine.getInitialSnapshot(s, input));
  return store(snapshot);
}

/** Rehydrates a stored snapshot (migrating old versions) into a machine snapshot. */
export function restorePayment(stored: StoredSnapshot) {
  const current = migrateSnapshot(stored);
  return paymentMachine.resolveState({ value: current.value, context: current.context });
}

/** Applies one event to a stored snapshot: the next snapshot and the effects to run. Pure. */
export function applyPaymentEvent(stored: StoredSnapshot, event: PaymentEvent): Step {
  const before = restorePayment(stored);
  if (!before.can(event)) return { snapshot: migrateSnapshot(stored), effects: [], changed: false };
  const [after, actions] = pure((s) => paymentMachine.transition(before, event, s));
  return { snapshot: store(after), effects: effectsOf(actions), changed: true };
}

/** The machine's own notion of attempts: true once enough transient failures allow giving up. */
export function attemptsExhausted(stored: StoredSnapshot): boolean {
  return restorePayment(stored).can({ type: 'GIVE_UP', reason: '' });
}

/** Whether the worker must (still) charge: the state owes a charge, attempts are left and no cancellation asks for a void instead. */
export function chargeOwed(stored: StoredSnapshot): boolean {
  const state = restorePayment(stored);
  return state.hasTag('chargeOwed') && state.context.cancellation === null && !state.can({ type: 'GIVE_UP', reason: '' });
}

/**
 * Whether the worker must settle a cancelled payment's unknown outcome by cancelling
 * every handle that could charge (then CHARGE_VOIDED, or CHARGE_SUCCEEDED if one had).
 */
export function voidOwed(stored: StoredSnapshot): boolean {
  const current = migrateSnapshot(stored);
  return current.value === 'Processing' && current.context.cancellation !== null;
}

/** Refund ids the worker must send to the gateway, each under the key `<refundId>-<attempt>`. */
export function refundsOwed(stored: StoredSnapshot): string[] {
  return owedOf(migrateSnapshot(stored).context);
}

/** Refund ids pending at the gateway: to be settled by webhook or look-up before they are answered. */
export function refundsUnsettled(stored: StoredSnapshot): string[] {
  return unsettledOf(migrateSnapshot(stored).context);
}

/** The charge is settled (its one terminal event emitted); refunds and disputes may still follow. */
export function isTerminal(stored: StoredSnapshot): boolean {
  return isChargeSettled(stored.value);
}
