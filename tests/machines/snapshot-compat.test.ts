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

const { START, CHARGE_SUCCEEDED, CHARGE_FAILED_TRANSIENTLY, GIVE_UP } = sampleEvents;

describe('snapshot fixtures', () => {
  it('when the fixtures are listed, then every state has one written by version 1 and one by the current version', () => {
    for (const version of new Set([1, PAYMENT_MACHINE_VERSION])) {
      const states = new Set(fixtures.filter((f) => f.raw.version === version).map((f) => f.raw.value));
      expect([...states].sort(), `fixtures of version ${version} (see tests/fixtures/snapshots/README.md)`).toEqual(
        [...PAYMENT_STATUSES].sort(),
      );
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
    expect(restored.status).toBe(isTerminal(migrated) ? 'done' : 'active');
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
      case 'Failed':
        if (snapshot.value === 'Success') expect(c.transactionId).toEqual(expect.stringMatching(/.+/));
        else expect(c.failureCode).toEqual(expect.stringMatching(/.+/));
        for (const event of Object.values(sampleEvents)) {
          expect(applyPaymentEvent(raw, event), `${event.type} after ${snapshot.value}`).toMatchObject({
            changed: false,
            effects: [],
          });
        }
        break;
      default:
        throw new Error(`fixture ${name} restored to an unknown state ${String(snapshot.value)}`);
    }
  });
});
