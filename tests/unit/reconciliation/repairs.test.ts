import { describe, expect, it } from 'vitest';
import { foundRefundId, repairOf, strayRefundId } from '../../../src/reconciliation/repairs.js';
import { DISCREPANCY_CLASSES, type Discrepancy } from '../../../src/reconciliation/reconciliation.repository.js';

/** CONTRACT.md §9's safe repairs, class by class, and every case of a refund on one side or differing. */

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ORDER = '5b1c0a52-3f0e-4d8e-9a7b-2c1d4e5f6a7b';
const OURS = '9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a';

function discrepancy(over: Partial<Discrepancy> & Pick<Discrepancy, 'class'>): Discrepancy {
  return {
    id: '1', passId: 'pass', orderId: ORDER, paymentId: 'pay', paymentStatus: 'Success', gateway: 'stripe', intentId: 'pi_1',
    gatewayRefundId: null, refundId: null, amountMinor: '2500', currency: 'USD', detail: '', facts: {}, repair: 'none', repairDetail: null,
    ...over,
  };
}

/** A refund_mismatch row as the classifier writes it: the gateway's refund, ours (if any), and both statuses. */
function refundMismatch(gatewayStatus: string | null, local?: { status: string; amountMinor: string | null }, amountMinor = '1000'): Discrepancy {
  return discrepancy({
    class: 'refund_mismatch', gatewayRefundId: 're_1', refundId: local ? OURS : null, amountMinor,
    facts: { gatewayStatus, localStatus: local?.status ?? null, localAmountMinor: local?.amountMinor ?? null, refundRef: null },
  });
}

describe('repairOf', () => {
  it('when the gateway charged a payment still Processing, then the charge is settled with its id and gateway', () => {
    expect(repairOf(discrepancy({ class: 'charged_but_unsettled', paymentStatus: 'Processing', gateway: 'stripe@secondary' })))
      .toEqual({ event: { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_1', gateway: 'stripe@secondary' } });
    expect(repairOf(discrepancy({ class: 'charged_but_unsettled', gateway: null }))).toHaveProperty('reportOnly');
  });

  it.each(['charged_but_failed', 'duplicate_charge'] as const)('when the class is %s, then the whole live amount is refunded under the charge\'s stable refund id', (cls) => {
    expect(repairOf(discrepancy({ class: cls, intentId: 'pi_stray', amountMinor: '1999' }))).toEqual({
      event: { type: 'STRAY_CHARGE_FOUND', refundId: strayRefundId('pi_stray'), intentId: 'pi_stray', amountMinor: '1999', reason: `reconciliation: ${cls}`, gateway: 'stripe' },
    });
    expect(repairOf(discrepancy({ class: cls, amountMinor: null }))).toHaveProperty('reportOnly');
  });

  it.each(['charge_without_payment', 'success_without_charge', 'amount_mismatch'] as const)('when the class is %s, then it is reported only', (cls) => {
    expect(repairOf(discrepancy({ class: cls }))).toEqual({ reportOnly: expect.any(String) });
  });

  it.each(DISCREPANCY_CLASSES)('when the class is %s and its row lacks the ids a repair needs, then it is reported, never guessed', (cls) => {
    const bare = discrepancy({ class: cls, intentId: null, gateway: null, amountMinor: null });
    expect(repairOf(bare)).toEqual({ reportOnly: expect.any(String) });
  });
});

describe('repairOf a refund_mismatch', () => {
  it('when a succeeded refund exists only at the gateway, then it is taken in under an id derived from the gateway\'s', () => {
    expect(repairOf(refundMismatch('succeeded'))).toEqual({
      event: { type: 'GATEWAY_REFUND_FOUND', refundId: foundRefundId('re_1'), gatewayRefundId: 're_1', amountMinor: '1000', reason: expect.any(String) },
    });
  });

  it.each(['pending', 'requires_action'])('when a %s refund exists only at the gateway, then it is reported until it succeeds', (status) => {
    expect(repairOf(refundMismatch(status))).toEqual({ reportOnly: expect.stringContaining(status) });
  });

  it.each(['requested', 'pending'])('when ours is %s and the gateway\'s succeeded, then REFUND_SUCCEEDED settles ours', (status) => {
    expect(repairOf(refundMismatch('succeeded', { status, amountMinor: '1000' }))).toEqual({ event: { type: 'REFUND_SUCCEEDED', refundId: OURS, gatewayRefundId: 're_1' } });
  });

  it.each(['failed', 'canceled'])('when the gateway\'s is %s, then REFUND_FAILED settles ours with the gateway\'s word', (status) => {
    expect(repairOf(refundMismatch(status, { status: 'succeeded', amountMinor: '1000' }))).toEqual({
      event: { type: 'REFUND_FAILED', refundId: OURS, gatewayRefundId: 're_1', code: `refund_${status}`, reason: expect.stringContaining(status) },
    });
  });

  it('when the amounts differ, then it is reported whatever the statuses', () => {
    expect(repairOf(refundMismatch('succeeded', { status: 'pending', amountMinor: '999' }))).toEqual({ reportOnly: expect.stringContaining('amounts differ') });
    expect(repairOf(refundMismatch('succeeded', { status: 'pending', amountMinor: null }))).toHaveProperty('reportOnly');
  });

  it('when ours is requested and the gateway\'s pending, then REFUND_PENDING records the gateway\'s id', () => {
    expect(repairOf(refundMismatch('pending', { status: 'requested', amountMinor: '1000' }))).toEqual({ event: { type: 'REFUND_PENDING', refundId: OURS, gatewayRefundId: 're_1' } });
  });

  it('when ours succeeded and the gateway\'s is still pending, then it is reported: the machine cannot move back', () => {
    expect(repairOf(refundMismatch('pending', { status: 'succeeded', amountMinor: '1000' }))).toEqual({ reportOnly: 'succeeded here, pending at the gateway: an operator decides' });
  });

  it('when ours moved money the gateway has no record of, then it is reported', () => {
    const localOnly = discrepancy({ class: 'refund_mismatch', gatewayRefundId: 're_gone', refundId: OURS, facts: { localStatus: 'succeeded' } });
    expect(repairOf(localOnly)).toEqual({ reportOnly: 'the gateway has no such refund' });
  });
});

describe('derived refund ids', () => {
  it('when derived twice from the same gateway id, then they are the same RFC 4122 version 5 UUID', () => {
    for (const derive of [strayRefundId, foundRefundId]) {
      expect(derive('pi_3Nx')).toBe(derive('pi_3Nx'));
      expect(derive('pi_3Nx')).toMatch(UUID_V5);
      expect(derive('pi_3Ny')).not.toBe(derive('pi_3Nx'));
    }
  });

  it('when a stray charge and a found refund share an id string, then their refund ids still differ (separate namespaces)', () => {
    expect(strayRefundId('x_1')).not.toBe(foundRefundId('x_1'));
  });

  it('when derived, then the ids are fixed forever: changing a namespace would re-key repairs already made', () => {
    expect(strayRefundId('pi_fixed')).toBe('59740ad1-ea48-58f4-ae34-fd8a07a38ab2');
    expect(foundRefundId('re_fixed')).toBe('cfce87a0-f77c-5184-8cc8-462573bb3602');
  });
});
