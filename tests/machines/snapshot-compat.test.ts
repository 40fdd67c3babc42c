import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PAYMENT_MACHINE_VERSION, PAYMENT_STATUSES } from '../../src/machines/payment.machine.js';
import {
  applyPaymentEvent,
  createPaymentSnapshot,
  isTerminal,
  migrateSnapshot,
  restorePayment,
  type StoredSnapshot,
} from '../../src/machines/payment.snapshot.js';
import { refundableMinor, statusByRefunded } from '../../src/machines/payment.refunds.js';
import { sampleEvents, sampleInput } from '../support/payment.samples.js';

/**
 * Snapshots written by released machine versions outlive the build that wrote
 * them. Every fixture in the folder must still restore and continue; a machine
 * change that cannot read one fails here, before it reaches a database.
 */

const folder = new URL('../fixtures/snapshots/', import.meta.url);
const fixtures = readdirSync(folder)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => ({ name, raw: JSON.parse(readFileSync(new URL(name, folder), 'utf8')) as StoredSnapshot }));

const { START, CHARGE_SUCCEEDED, CHARGE_FAILED_TRANSIENTLY, GIVE_UP, CANCEL, CHARGE_VOIDED, REFUND_REQUESTED, DISPUTE_OPENED } = sampleEvents;

/** The states version 1 had: its fixtures cover those. */
const V1_STATUSES = ['Initiated', 'Processing', 'Success', 'Failed'];

describe('snapshot fixtures', () => {
  it('when the fixtures are listed, then every state of version 1 has a fixture, and every state of the current version has one', () => {
    const statesOf = (version: number) => [...new Set(fixtures.filter((f) => f.raw.version === version).map((f) => f.raw.value))].sort();
    expect(statesOf(1), 'fixtures of version 1').toEqual([...V1_STATUSES].sort());
    expect(statesOf(PAYMENT_MACHINE_VERSION), `fixtures of version ${PAYMENT_MACHINE_VERSION} (see tests/fixtures/snapshots/README.md)`).toEqual(
      [...PAYMENT_STATUSES].sort(),
    );
  });

  it('when a fixture holds refunds, then its amount refunded is its succeeded refunds and its status agrees with it', () => {
    for (const { name, raw } of fixtures.filter((f) => f.raw.version >= 4)) {
      const c = raw.context;
      const succeeded = Object.values(c.refunds).filter((r) => r.status === 'succeeded');
      expect(BigInt(c.amountRefundedMinor), name).toBe(succeeded.reduce((sum, r) => sum + BigInt(r.amountMinor), 0n));
      if (raw.value === 'Success' || raw.value === 'PartiallyRefunded' || raw.value === 'Refunded') expect(statusByRefunded(c), name).toBe(raw.value);
    }
  });

  it('when a fixture was written before version 4, then it migrates with no refunds, no cancellation and no dispute', () => {
    for (const { name, raw } of fixtures.filter((f) => f.raw.version < 4)) {
      const { refunds, amountRefundedMinor, cancellation, dispute } = migrateSnapshot(raw).context;
      expect({ refunds, amountRefundedMinor, cancellation, dispute }, name).toStrictEqual({ refunds: {}, amountRefundedMinor: '0', cancellation: null, dispute: null });
      expect(migrateSnapshot(raw).value, name).toBe(raw.value);
    }
  });

  it('when a fixture was written by the current version, then it has exactly the fields the machine writes now', () => {
    // Catches a context change shipped without bumping PAYMENT_MACHINE_VERSION.
    const fields = Object.keys(createPaymentSnapshot(sampleInput).context).sort();
    for (const { name, raw } of fixtures.filter((f) => f.raw.version === PAYMENT_MACHINE_VERSION)) {
      expect(Object.keys(raw).sort(), name).toEqual(['context', 'value', 'version']);
      expect(Object.keys(raw.context).sort(), name).toEqual(fields);
      expect(migrateSnapshot(raw), name).toStrictEqual(raw);
    }
  });
});

describe.each(fixtures)('fixture $name', ({ name, raw }) => {
  it('when it is read, then its file name states the version it holds', () => {
    expect(name).toMatch(/^v\d+-[a-z0-9-]+\.json$/);
    expect(name.startsWith(`v${raw.version}-`)).toBe(true);
  });

  it('when the current machine restores it, then the payment keeps its identity and amount', () => {
    const migrated = migrateSnapshot(raw);
    expect(migrated.version).toBe(PAYMENT_MACHINE_VERSION);
    const restored = restorePayment(raw);
    expect(PAYMENT_STATUSES).toContain(restored.value);
    const { orderId, paymentId, amountMinor, currency } = raw.context;
    expect(restored.context).toMatchObject({ orderId, paymentId, amountMinor, currency });
    // No state is final since version 4: a settled charge still takes refunds and cancellations.
    expect(restored.status).toBe('active');
    expect(isTerminal(migrated)).toBe(migrated.value !== 'Initiated' && migrated.value !== 'Processing');
  });

  it('when the next event arrives, then the payment continues from where it was stored', () => {
    const snapshot = migrateSnapshot(raw);
    const c = snapshot.context;
    switch (snapshot.value) {
      case 'Initiated':
        expect(applyPaymentEvent(raw, START)).toMatchObject({
          changed: true,
          effects: [],
          snapshot: { value: 'Processing', context: { attempts: c.attempts + 1 } },
        });
        break;
      case 'Processing':
        if (c.cancellation) {
          // Cancelled while the outcome was unknown: settled by a void, never charged again.
          expect(applyPaymentEvent(raw, CHARGE_VOIDED)).toMatchObject({
            changed: true,
            effects: ['emitPaymentCancelled', 'emitPaymentFailed'],
            snapshot: { value: 'Failed', context: { failureCode: 'order_cancelled' } },
          });
          expect(applyPaymentEvent(raw, CHARGE_FAILED_TRANSIENTLY).snapshot.context.attempts).toBe(c.attempts);
          expect(applyPaymentEvent(raw, CHARGE_SUCCEEDED).snapshot.context.refunds[c.cancellation.refundId]).toMatchObject({ amountMinor: c.amountMinor, cancel: true, status: 'requested' });
          break;
        }
        expect(applyPaymentEvent(raw, CHARGE_SUCCEEDED)).toMatchObject({
          changed: true,
          effects: ['emitPaymentCompleted'],
          snapshot: { value: 'Success', context: { transactionId: CHARGE_SUCCEEDED.transactionId } },
        });
        expect(applyPaymentEvent(raw, CHARGE_FAILED_TRANSIENTLY)).toMatchObject({
          effects: [],
          snapshot: { value: 'Processing', context: { attempts: c.attempts + 1, failures: c.failures + 1 } },
        });
        expect(applyPaymentEvent(raw, GIVE_UP).changed).toBe(c.failures >= c.maxAttempts);
        break;
      case 'Success':
      case 'PartiallyRefunded':
      case 'Refunded':
      case 'Disputed': {
        expect(c.transactionId).toEqual(expect.stringMatching(/.+/));
        for (const event of [START, CHARGE_SUCCEEDED, CHARGE_FAILED_TRANSIENTLY, GIVE_UP]) {
          expect(applyPaymentEvent(raw, event), `${event.type} after ${snapshot.value}`).toMatchObject({ changed: false, effects: [] });
        }
        // A new refund is reserved, refused as too large or as disputed: never ignored.
        const refund = applyPaymentEvent(raw, { ...REFUND_REQUESTED, refundId: 'fixture-refund', amountMinor: '1' });
        expect(refund.changed).toBe(true);
        const fits = snapshot.value !== 'Disputed' && refundableMinor(c) >= 1n;
        expect(refund.snapshot.context.refunds['fixture-refund']?.status).toBe(fits ? 'requested' : 'failed');
        if (!c.cancellation) expect(applyPaymentEvent(raw, CANCEL).changed).toBe(true);
        if (snapshot.value !== 'Disputed') expect(applyPaymentEvent(raw, DISPUTE_OPENED)).toMatchObject({ changed: true, effects: ['emitPaymentDisputed'] });
        break;
      }
      case 'Failed':
        expect(c.failureCode).toEqual(expect.stringMatching(/.+/));
        for (const event of [START, CHARGE_SUCCEEDED, CHARGE_FAILED_TRANSIENTLY, GIVE_UP]) {
          expect(applyPaymentEvent(raw, event), `${event.type} after ${snapshot.value}`).toMatchObject({ changed: false, effects: [] });
        }
        if (!c.cancellation) expect(applyPaymentEvent(raw, CANCEL)).toMatchObject({ changed: true, effects: ['emitPaymentCancelled'] });
        break;
      default:
        throw new Error(`fixture ${name} restored to an unknown state ${String(snapshot.value)}`);
    }
  });
});
