import { initialTransition, transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { PAYMENT_MACHINE_VERSION, paymentMachine, type PaymentEvent } from '../../src/machines/payment.machine.js';
import {
  applyPaymentEvent,
  chargeOwed,
  createPaymentSnapshot,
  isTerminal,
  migrateSnapshot,
  refundsOwed,
  refundsUnsettled,
  restorePayment,
  SnapshotVersionError,
  voidOwed,
  type StoredSnapshot,
} from '../../src/machines/payment.snapshot.js';
import { sampleEvents, sampleInput, toProcessing, toSuccess } from '../support/payment.samples.js';

const { START, CHARGE_SUCCEEDED, CHARGE_DECLINED, CHARGE_FAILED_TRANSIENTLY, GIVE_UP, REJECT, CANCEL, REFUND_REQUESTED, REFUND_PENDING, REFUND_SUCCEEDED, DISPUTE_OPENED } =
  sampleEvents;

/** Applies events through the stored-snapshot helper, as the worker does. */
function stored(events: PaymentEvent[]): StoredSnapshot {
  return events.reduce((s, e) => applyPaymentEvent(s, e).snapshot, createPaymentSnapshot(sampleInput));
}

/** What PostgreSQL jsonb hands back: a JSON copy. */
const viaJsonb = (s: StoredSnapshot): StoredSnapshot => JSON.parse(JSON.stringify(s));

const histories: Record<string, PaymentEvent[]> = {
  Initiated: [],
  'Processing with failures': toProcessing(2),
  Success: [...toProcessing(1), CHARGE_SUCCEEDED],
  'Failed (declined)': [START, CHARGE_DECLINED],
  'Failed (gave up)': [...toProcessing(sampleInput.maxAttempts), GIVE_UP],
  'Processing (cancelled)': [START, CANCEL],
  'Success (refund pending)': [...toSuccess(), REFUND_REQUESTED, REFUND_PENDING],
  'Success (cancellation refund owed)': [...toSuccess(), CANCEL],
  PartiallyRefunded: [...toSuccess(), REFUND_REQUESTED, REFUND_SUCCEEDED],
  Disputed: [...toSuccess(), DISPUTE_OPENED],
  'Failed (cancelled)': [CANCEL],
};

describe('stored payment snapshots', () => {
  it('when a payment is created, then its snapshot is Initiated, tagged with the machine version, and holds the input', () => {
    const snapshot = createPaymentSnapshot(sampleInput);
    expect(snapshot).toEqual({
      version: PAYMENT_MACHINE_VERSION,
      value: 'Initiated',
      context: expect.objectContaining({ ...sampleInput, attempts: 0, failures: 0 }),
    });
    expect(isTerminal(snapshot)).toBe(false);
  });

  for (const [name, history] of Object.entries(histories)) {
    it(`when the ${name} snapshot goes through jsonb, then it restores to the same state and continues the same way`, () => {
      const original = stored(history);
      const copy = viaJsonb(original);
      expect(copy).toStrictEqual(original);

      const restored = restorePayment(copy);
      expect(restored.value).toBe(original.value);
      expect(restored.context).toStrictEqual(original.context);
      // No state is final: refunds, cancellations and disputes follow a settled charge.
      expect(restored.status).toBe('active');

      for (const event of Object.values(sampleEvents)) {
        expect(applyPaymentEvent(copy, event)).toStrictEqual(applyPaymentEvent(original, event));
      }
    });
  }

  it('when events are applied through the helper, then each step returns the next snapshot and its named effects', () => {
    const created = createPaymentSnapshot(sampleInput);
    const started = applyPaymentEvent(created, START);
    expect(started).toMatchObject({ changed: true, effects: [], snapshot: { value: 'Processing' } });
    const retried = applyPaymentEvent(started.snapshot, CHARGE_FAILED_TRANSIENTLY);
    expect(retried).toMatchObject({ changed: true, effects: [], snapshot: { context: { attempts: 2, failures: 1 } } });
    const done = applyPaymentEvent(retried.snapshot, CHARGE_SUCCEEDED);
    expect(done).toMatchObject({ changed: true, effects: ['emitPaymentCompleted'], snapshot: { value: 'Success' } });
    expect(isTerminal(done.snapshot)).toBe(true);
    expect(applyPaymentEvent(created, REJECT)).toMatchObject({ effects: ['emitPaymentFailed'], snapshot: { value: 'Failed' } });
  });

  it('when an event is applied, then the snapshot it was given is left untouched', () => {
    const before = stored(toProcessing(1));
    const copy = structuredClone(before);
    applyPaymentEvent(before, CHARGE_FAILED_TRANSIENTLY);
    applyPaymentEvent(before, CHARGE_SUCCEEDED);
    expect(before).toStrictEqual(copy);
  });

  it("when every sequence of up to five events is applied, then each step equals xstate's own pure transition(), effects included", () => {
    // The helper reuses one inert actor scope instead of xstate's fresh one per call: this pins that it changes nothing.
    const events = Object.values(sampleEvents);
    const effects = (actions: ReadonlyArray<{ type: string }>) => actions.map((a) => a.type).filter((t) => !t.startsWith('xstate.'));
    const [first, firstActions] = initialTransition(paymentMachine, sampleInput);
    expect(createPaymentSnapshot(sampleInput)).toStrictEqual({ version: PAYMENT_MACHINE_VERSION, value: first.value, context: first.context });
    expect(effects(firstActions)).toEqual([]);
    let compared = 0;
    const walk = (ours: StoredSnapshot, theirs: typeof first, depth: number): void => {
      if (depth === 0) return;
      for (const event of events) {
        const step = applyPaymentEvent(ours, event);
        if (!step.changed) continue;
        const [next, actions] = transition(paymentMachine, theirs, event);
        expect(step.snapshot).toStrictEqual({ version: PAYMENT_MACHINE_VERSION, value: next.value, context: next.context });
        expect(step.effects).toEqual(effects(actions));
        compared++;
        walk(step.snapshot, next, depth - 1);
      }
    };
    walk(createPaymentSnapshot(sampleInput), first, 5);
    expect(compared).toBeGreaterThan(50);
  });

  const refused: Array<[string, PaymentEvent[], PaymentEvent]> = [
    ['START in Processing', toProcessing(), START],
    ['GIVE_UP before attempts are spent', toProcessing(1), GIVE_UP],
    ['CHARGE_SUCCEEDED without a transaction id', toProcessing(), { ...CHARGE_SUCCEEDED, transactionId: '' }],
    ['CHARGE_SUCCEEDED after Success', [START, CHARGE_SUCCEEDED], CHARGE_SUCCEEDED],
    ['CHARGE_DECLINED after Failed', [REJECT], CHARGE_DECLINED],
  ];
  it.each(refused)('when %s is applied, then changed is false, no effect runs and the snapshot is the same', (_, history, event) => {
    const before = stored(history);
    const copy = structuredClone(before);
    const step = applyPaymentEvent(before, event);
    expect(step).toStrictEqual({ snapshot: copy, effects: [], changed: false });
    expect(before).toStrictEqual(copy);
  });
});

describe('what the machine asks of the worker', () => {
  it.each<[string, PaymentEvent[], boolean]>([
    ['a new payment (Initiated)', [], true],
    ['a payment in Processing with attempts left', toProcessing(1), true],
    ['a payment in Processing whose attempts are spent', toProcessing(sampleInput.maxAttempts), false],
    ['a completed payment', [...toProcessing(), sampleEvents.CHARGE_SUCCEEDED], false],
    ['a declined payment', [...toProcessing(), sampleEvents.CHARGE_DECLINED], false],
    ['a payment cancelled while Processing', [START, CANCEL], false],
  ])('when the stored payment is %s, then chargeOwed is %s', (_, history, owed) => {
    expect(chargeOwed(stored(history))).toBe(owed);
  });

  it.each<[string, PaymentEvent[], boolean]>([
    ['Processing and cancelled', [START, CANCEL], true],
    ['Processing, attempts spent, cancelled', [...toProcessing(sampleInput.maxAttempts), CANCEL], true],
    ['Processing and not cancelled', toProcessing(), false],
    ['charged, then cancelled', [...toSuccess(), CANCEL], false],
  ])('when the stored payment is %s, then voidOwed is %s', (_, history, owed) => {
    expect(voidOwed(stored(history))).toBe(owed);
  });

  it('when refunds are requested, pending and settled, then the worker is told which ones to send and which to wait for', () => {
    const requested = stored([...toSuccess(), REFUND_REQUESTED]);
    expect([refundsOwed(requested), refundsUnsettled(requested)]).toEqual([[REFUND_REQUESTED.refundId], []]);
    const pending = stored([...toSuccess(), REFUND_REQUESTED, REFUND_PENDING]);
    expect([refundsOwed(pending), refundsUnsettled(pending)]).toEqual([[], [REFUND_REQUESTED.refundId]]);
    const done = stored([...toSuccess(), REFUND_REQUESTED, REFUND_SUCCEEDED]);
    expect([refundsOwed(done), refundsUnsettled(done)]).toEqual([[], []]);
    expect(refundsOwed(stored([...toSuccess(), CANCEL]))).toEqual([CANCEL.refundId]);
  });

  it.each<[string, PaymentEvent[], boolean]>([
    ['Initiated', [], false],
    ['Processing', toProcessing(), false],
    ['Success', toSuccess(), true],
    ['PartiallyRefunded', [...toSuccess(), REFUND_REQUESTED, REFUND_SUCCEEDED], true],
    ['Disputed', [...toSuccess(), DISPUTE_OPENED], true],
    ['Failed', [REJECT], true],
  ])('when the stored payment is %s, then isTerminal (the charge is settled) is %s', (_, history, settled) => {
    expect(isTerminal(stored(history))).toBe(settled);
  });
});

describe('snapshot versions', () => {
  const current = createPaymentSnapshot(sampleInput);

  it('when the snapshot has the current version, then migration leaves it as it is', () => {
    expect(migrateSnapshot(current)).toStrictEqual(current);
  });

  it('when a version 2 payment is migrated while Processing, then it is marked as possibly charged without a handle, and one at rest is not', () => {
    const v2 = (value: StoredSnapshot['value']) => {
      const { intents: _i, intentSeq: _s, legacyCharge: _l, ...context } = current.context;
      return { version: 2, value, context } as unknown as StoredSnapshot;
    };
    expect(migrateSnapshot(v2('Processing')).context).toMatchObject({ intents: {}, intentSeq: 0, legacyCharge: true });
    expect(migrateSnapshot(v2('Initiated')).context).toMatchObject({ intents: {}, intentSeq: 0, legacyCharge: false });
    expect(migrateSnapshot(v2('Success')).context.legacyCharge).toBe(false);
  });

  it('when a version 3 payment is migrated, then it gains empty refunds, no cancellation and no dispute, and keeps its status', () => {
    const { refunds: _r, amountRefundedMinor: _a, cancellation: _c, dispute: _d, ...context } = current.context;
    for (const value of ['Initiated', 'Processing', 'Success', 'Failed'] as const) {
      const v3 = { version: 3, value, context } as unknown as StoredSnapshot;
      expect(migrateSnapshot(v3)).toStrictEqual({
        version: PAYMENT_MACHINE_VERSION,
        value,
        context: { ...context, refunds: {}, amountRefundedMinor: '0', cancellation: null, dispute: null },
      });
    }
  });

  it.each([
    ['a future version', PAYMENT_MACHINE_VERSION + 1],
    ['version 0', 0],
    ['a fractional version', 1.5],
    ['a version written as a string', String(PAYMENT_MACHINE_VERSION)],
    ['no version', undefined],
  ])('when the snapshot has %s, then restoring throws SnapshotVersionError instead of misreading it', (_, version) => {
    const snapshot = { ...current, version } as unknown as StoredSnapshot;
    expect(() => restorePayment(snapshot)).toThrow(SnapshotVersionError);
    expect(() => applyPaymentEvent(snapshot, START)).toThrow(SnapshotVersionError);
  });

  it('when a snapshot is from a future build, then the error names its version and what the operator can do', () => {
    const future = { ...current, version: PAYMENT_MACHINE_VERSION + 1 };
    const attempt = () => restorePayment(future);
    expect(attempt).toThrow(SnapshotVersionError);
    expect(attempt).toThrow(`machine version ${PAYMENT_MACHINE_VERSION + 1}, this build knows 1..${PAYMENT_MACHINE_VERSION}`);
    expect(attempt).toThrow(/deploy a build that includes its migration/);
  });
});
