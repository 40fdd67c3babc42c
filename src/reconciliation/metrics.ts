import type { Metrics } from '../observability/metrics.js';
import { DISCREPANCY_CLASSES, type ReconciliationRepository } from './reconciliation.repository.js';

/**
 * Sets the reconciliation gauges from the database on each scrape: the latest
 * completed pass's discrepancies that were not repaired, by class, and when it
 * started. Read from the record, so every process reports the same figures
 * whichever one ran the pass.
 */
export async function reportReconciliation(
  repository: Pick<ReconciliationRepository, 'latestPasses'>,
  metrics: Pick<Metrics, 'reconciliationDiscrepancies' | 'reconciliationLastPass'>,
): Promise<void> {
  const latest = (await repository.latestPasses(10)).find((p) => p.status === 'completed');
  if (!latest) return;
  for (const cls of DISCREPANCY_CLASSES) {
    metrics.reconciliationDiscrepancies.set({ class: cls }, (latest.discrepancies?.[cls] ?? 0) - (latest.repaired?.[cls] ?? 0));
  }
  metrics.reconciliationLastPass.set(latest.startedAt.getTime() / 1000);
}
