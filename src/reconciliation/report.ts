import { DISCREPANCY_CLASSES, type Discrepancy } from './reconciliation.repository.js';
import type { PassSummary } from './reconciler.js';

/**
 * `npm run reconcile`'s output: a table of classes, the discrepancies
 * themselves (the first SHOWN; the rest are on GET /reconciliation), then the
 * JSON last line CONTRACT.md §9 specifies, with exactly its keys.
 */
const SHOWN = 50;

export function summaryLine(s: PassSummary): string {
  const { since, until, payments, charges, refunds, discrepancies, repaired } = s;
  return JSON.stringify({ since, until, payments, charges, refunds, discrepancies, repaired });
}

export async function printPass(
  s: PassSummary,
  write: (line: string) => void,
  rows: (passId: string, afterId: string) => Promise<Discrepancy[]>,
): Promise<void> {
  write(`reconciliation pass ${s.passId}: ${s.since} → ${s.until}`);
  write(`payments ${s.payments} · gateway charges ${s.charges} · gateway refunds ${s.refunds}`);
  write('');
  const width = Math.max(...DISCREPANCY_CLASSES.map((c) => c.length));
  write(`${'class'.padEnd(width)}  ${'found'.padStart(6)}  ${'repaired'.padStart(8)}`);
  for (const c of DISCREPANCY_CLASSES) write(`${c.padEnd(width)}  ${String(s.discrepancies[c]).padStart(6)}  ${String(s.repaired[c]).padStart(8)}`);
  const total = DISCREPANCY_CLASSES.reduce((n, c) => n + s.discrepancies[c], 0);
  if (total > 0) {
    write('');
    let shown = 0;
    let after = '0';
    while (shown < SHOWN) {
      const batch = await rows(s.passId, after);
      if (!batch.length) break;
      for (const d of batch.slice(0, SHOWN - shown)) {
        write(`${d.class.padEnd(width)}  order ${d.orderId ?? '—'}  ${d.detail}  [${d.repair}${d.repairDetail ? `: ${d.repairDetail}` : ''}]`);
        shown += 1;
      }
      after = batch[batch.length - 1]!.id;
    }
    if (total > shown) write(`… and ${total - shown} more: GET /reconciliation on any worker`);
  }
  write(summaryLine(s));
}
