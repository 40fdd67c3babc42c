import { describe, expect, it } from 'vitest';
import type { PassSummary } from '../../../src/reconciliation/reconciler.js';
import { DISCREPANCY_CLASSES, zeroCounts, type Discrepancy } from '../../../src/reconciliation/reconciliation.repository.js';
import { printPass, summaryLine } from '../../../src/reconciliation/report.js';

/** `npm run reconcile`'s output (CONTRACT.md §9): the table, at most 50 discrepancies, the JSON last line. */

function summary(found: Partial<PassSummary['discrepancies']> = {}): PassSummary {
  return {
    passId: 'a0f1c2d3-0000-4000-8000-000000000001', since: '2026-12-07T00:00:00.000Z', until: '2026-12-08T00:00:00.000Z',
    payments: 12, charges: 13, refunds: 2, discrepancies: { ...zeroCounts(), ...found }, repaired: { ...zeroCounts(), charged_but_unsettled: 1 },
  };
}

/** `n` stored discrepancies served in pages of `page`, as the repository's keyset reads serve them. */
function stored(n: number, page: number) {
  const rows: Discrepancy[] = Array.from({ length: n }, (_, i) => ({
    id: String(i + 1), passId: 'p', class: 'amount_mismatch', orderId: `order-${i + 1}`, paymentId: null, paymentStatus: 'Success', gateway: 'stripe',
    intentId: `pi_${i + 1}`, gatewayRefundId: null, refundId: null, amountMinor: '100', currency: 'USD', detail: 'differs', facts: {}, repair: 'report_only', repairDetail: null,
  }));
  const reads: string[] = [];
  const read = async (_passId: string, after: string) => {
    reads.push(after);
    return rows.filter((r) => Number(r.id) > Number(after)).slice(0, page);
  };
  return { read, reads };
}

async function print(s: PassSummary, read: ReturnType<typeof stored>['read']): Promise<string[]> {
  const lines: string[] = [];
  await printPass(s, (l) => lines.push(l), read);
  return lines;
}

describe('summaryLine', () => {
  it('when a pass found some classes only, then the line has exactly the contract\'s keys and every class, 0 where none', () => {
    const parsed = JSON.parse(summaryLine(summary({ duplicate_charge: 2 }))) as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(['charges', 'discrepancies', 'payments', 'refunds', 'repaired', 'since', 'until']);
    for (const key of ['discrepancies', 'repaired'] as const) expect(Object.keys(parsed[key] as object).sort()).toEqual([...DISCREPANCY_CLASSES].sort());
    expect(parsed).toMatchObject({ payments: 12, charges: 13, refunds: 2, discrepancies: { duplicate_charge: 2, refund_mismatch: 0 }, repaired: { charged_but_unsettled: 1 } });
  });
});

describe('printPass', () => {
  const orderLines = (lines: string[]) => lines.filter((l) => / order /.test(l));

  it('when a pass found more than 50, then 50 are shown, read page by page, and one line says how many more', async () => {
    const { read, reads } = stored(120, 30);
    const lines = await print(summary({ amount_mismatch: 120 }), read);
    expect(orderLines(lines).map((l) => l.match(/order (\S+)/)![1])).toEqual(Array.from({ length: 50 }, (_, i) => `order-${i + 1}`));
    expect(reads).toEqual(['0', '30']);
    expect(lines.filter((l) => l.startsWith('…'))).toEqual(['… and 70 more: GET /reconciliation on any worker']);
    expect(lines[lines.length - 1]).toBe(summaryLine(summary({ amount_mismatch: 120 })));
  });

  it('when a pass found 50 or fewer, then every one is shown and no "more" line', async () => {
    const { read } = stored(50, 200);
    const lines = await print(summary({ amount_mismatch: 50 }), read);
    expect(orderLines(lines)).toHaveLength(50);
    expect(lines.some((l) => l.startsWith('…'))).toBe(false);
  });

  it('when a pass found nothing, then the table lists every class with zeros and no discrepancy is read', async () => {
    const { read, reads } = stored(0, 200);
    const lines = await print(summary(), read);
    for (const c of DISCREPANCY_CLASSES) expect(lines.some((l) => l.startsWith(`${c} `))).toBe(true);
    expect(reads).toEqual([]);
    expect(orderLines(lines)).toEqual([]);
  });
});
