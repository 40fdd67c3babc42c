import { describe, expect, it } from 'vitest';
import type { PaymentEvent } from '../../src/machines/payment.machine.js';
import { refundableMinor } from '../../src/machines/payment.refunds.js';
import { reach, sampleEvents, sampleInput, step } from '../support/payment.samples.js';

/**
 * Reconciliation's repairs as the machine takes them (CONTRACT §9): a stray
 * charge (a duplicate, or a charge of a payment that failed) is refunded whole
 * without touching what the payment's own charge has left, and a refund made at
 * the gateway outside the service is taken into the ledger and told to the saga.
 */

const { START, CHARGE_SUCCEEDED, CHARGE_DECLINED } = sampleEvents;
const charged = [START, CHARGE_SUCCEEDED];
const declined = [START, CHARGE_DECLINED];
const strayId = '5e1d2c3b-4a59-5687-9a0b-1c2d3e4f5a6b';
const stray = (intentId = 'pi_dup', refundId = strayId): PaymentEvent => ({ type: 'STRAY_CHARGE_FOUND', refundId, intentId, amountMinor: '4999', reason: 'reconciliation: duplicate_charge' });
const found = (amountMinor: string, gatewayRefundId = 're_dash', refundId = '6f2e3d4c-5b6a-5798-8b1c-2d3e4f5a6b7c'): PaymentEvent =>
  ({ type: 'GATEWAY_REFUND_FOUND', refundId, gatewayRefundId, amountMinor, reason: 'refund made at the gateway' });
const outcome = (type: 'REFUND_SUCCEEDED' | 'REFUND_PENDING', refundId = strayId): PaymentEvent => ({ type, refundId, gatewayRefundId: 're_stray' });

describe('a stray charge found by reconciliation', () => {
  it('when a failed payment turns out charged, then the charge is refunded whole and the saga hears PaymentRefunded once it succeeds', () => {
    const reserved = step(reach(declined), stray());
    expect(reserved.snapshot.value).toBe('Failed');
    expect(reserved.effects).toEqual([]);
    expect(reserved.snapshot.context.refunds[strayId]).toMatchObject({ status: 'requested', amountMinor: '4999', intentId: 'pi_dup' });
    const pending = step(reserved.snapshot, outcome('REFUND_PENDING'));
    expect(pending.effects).toEqual([]);
    const done = step(pending.snapshot, outcome('REFUND_SUCCEEDED'));
    expect(done.snapshot.value).toBe('Failed');
    expect(done.effects).toEqual(['emitPaymentRefunded']);
    expect(done.snapshot.context.amountRefundedMinor).toBe('0');
  });

  it('when a failed payment\'s stray refund fails, then nothing is emitted: nobody asked for it and the next pass reports the charge again', () => {
    const reserved = step(reach(declined), stray()).snapshot;
    const failedRefund = step(reserved, { type: 'REFUND_FAILED', refundId: strayId, code: 'charge_expired', reason: 'too old' });
    expect(failedRefund.effects).toEqual([]);
    expect(failedRefund.snapshot.context.refunds[strayId]!.status).toBe('failed');
    expect(reach([...declined, stray()]).can(stray('pi_dup', 'another-id'))).toBe(false);
  });

  it('when a completed payment has a duplicate charge, then its refund leaves the payment Success, emits nothing, and the own charge stays refundable in full', () => {
    const reserved = step(reach(charged), stray());
    expect(refundableMinor(reserved.snapshot.context)).toBe(BigInt(sampleInput.amountMinor));
    const done = step(reserved.snapshot, outcome('REFUND_SUCCEEDED'));
    expect(done.snapshot.value).toBe('Success');
    expect(done.effects).toEqual([]);
    expect(done.snapshot.context.amountRefundedMinor).toBe('0');
    expect(done.snapshot.can({ type: 'REFUND_REQUESTED', refundId: 'r-all', amountMinor: sampleInput.amountMinor, reason: 'returned' })).toBe(true);
  });

  it('when the payment\'s own charge or an already-known stray charge is named, then it is refused', () => {
    const ownCharge = (CHARGE_SUCCEEDED as Extract<PaymentEvent, { type: 'CHARGE_SUCCEEDED' }>).transactionId;
    expect(reach(charged).can(stray(ownCharge))).toBe(false);
    expect(reach([...charged, stray()]).can(stray('pi_dup', 'another-id'))).toBe(false);
    expect(reach(charged).can({ ...stray(), amountMinor: '12.5' } as PaymentEvent)).toBe(false);
  });
});

describe('a refund found at the gateway', () => {
  it('when part of the charge was refunded outside the service, then the payment is PartiallyRefunded and PaymentRefunded goes out', () => {
    const next = step(reach(charged), found('999'));
    expect(next.snapshot.value).toBe('PartiallyRefunded');
    expect(next.effects).toEqual(['emitPaymentRefunded']);
    expect(next.snapshot.context.amountRefundedMinor).toBe('999');
    expect(refundableMinor(next.snapshot.context)).toBe(4000n);
  });

  it('when all of it was refunded, then the payment is Refunded', () => {
    const next = step(reach(charged), found(sampleInput.amountMinor));
    expect(next.snapshot.value).toBe('Refunded');
    expect(next.effects).toEqual(['emitPaymentRefunded']);
  });

  it('when the same gateway refund is found again under another id, or more than is left is found, then it is refused', () => {
    const once = reach([...charged, found('999')]);
    expect(once.can(found('999', 're_dash', 'other-id'))).toBe(false);
    expect(reach(charged).can(found('5000'))).toBe(false);
  });
});
