import { FAULT_KINDS, type FaultKind } from './fault-plan.js';
import type { InjectedFault } from './fault-injector.js';
import type { InvariantResult } from './invariants.js';

/** The figures a chaos run reports. */
export interface ChaosFigures {
  orders: number;
  messagesPublished: number;
  /** Orders that got their terminal event while faults were being injected, per second of that window. */
  ordersPerSecondUnderFaults: number;
  /** All orders over the whole run, first publish to settled. */
  ordersPerSecondOverall: number;
  /** Per-payment "rescued" log lines of every worker process (killed ones included). */
  sweeperRescues: number;
  /** Of those, rescues of a payment that had settled after the sweep read it (no-ops). */
  sweeperRescuesAfterSettled: number;
  /** sweeper_rescues_total by reason, summed over each process's last scrape. */
  sweeperRescuesByReason: Record<string, number>;
  /** Duplicate deliveries the consumer absorbed ("duplicate event absorbed" log lines). */
  redeliveriesAbsorbed: number;
  /** payment_dedupe_hits_total by layer, summed over each process's last scrape. */
  dedupeHitsByLayer: Record<string, number>;
  /** From the last fault lifted (gateway healthy, every worker thawed and running) to settled. */
  settleAfterLastFaultS: number;
  succeeded: number;
  failed: number;
  failedAsGatewayUnavailable: number;
  /** Orders whose every confirmation met one fault (the simulator's own tokens): how each ended. */
  everyConfirmFaulted: Record<string, number>;
  workerProcesses: number;
  clientReconnects: number;
  /** Distinct events for the compensation orders, by type and code. */
  compensationAnswers: Record<string, number>;
}

export interface FaultCount {
  kind: FaultKind;
  injected: number;
  skipped: number;
}

/** Each of the run's kinds (FAULT_KINDS on one Redis), and any other that was injected. */
export function countFaults(faults: InjectedFault[], kinds: readonly FaultKind[] = FAULT_KINDS): FaultCount[] {
  const listed = [...new Set([...kinds, ...faults.map((f) => f.kind)])];
  return listed.map((kind) => ({
    kind,
    injected: faults.filter((f) => f.kind === kind && !f.skipped).length,
    skipped: faults.filter((f) => f.kind === kind && f.skipped).length,
  }));
}

export function formatReport(r: { seed: number; faults: FaultCount[]; injected: InjectedFault[]; invariants: InvariantResult[]; figures: ChaosFigures; keysPerMaster?: Array<{ port: number; keys: number }> }): string {
  const out: string[] = [];
  out.push(`chaos run, seed ${r.seed}`, '');
  out.push(table(['fault', 'injected', 'skipped'], r.faults.map((f) => [f.kind, String(f.injected), String(f.skipped)])));
  out.push('', ...r.injected.map((f) => `  t=${(f.atMs / 1000).toFixed(1)}s ${f.kind}${f.skipped ? ' (skipped)' : ''}: ${f.detail}`));
  out.push('');
  out.push(
    table(
      ['invariant', 'result', 'checked', 'violations'],
      r.invariants.map((i) => [i.name, i.violations.length ? 'FAIL' : 'pass', String(i.checked), String(i.violations.length)]),
    ),
  );
  for (const i of r.invariants.filter((x) => x.violations.length)) {
    out.push('', `FAIL ${i.name}:`, ...i.violations.slice(0, 10).map((v) => `  - ${v}`));
    if (i.violations.length > 10) out.push(`  … and ${i.violations.length - 10} more`);
  }
  const f = r.figures;
  out.push('', table(['figure', 'value'], [
    ['orders (accepted)', String(f.orders)],
    ['messages published (incl. duplicates, poison)', String(f.messagesPublished)],
    ['orders/s under faults', f.ordersPerSecondUnderFaults.toFixed(1)],
    ['orders/s overall (first publish to settled)', f.ordersPerSecondOverall.toFixed(1)],
    ['succeeded / failed', `${f.succeeded} / ${f.failed}`],
    ['failed as gateway_unavailable (never charged)', String(f.failedAsGatewayUnavailable)],
    ['every confirmation lost / hung / late: ended', describe(f.everyConfirmFaulted)],
    ['rescues by the sweeper (log lines)', String(f.sweeperRescues)],
    ['  of which the payment had settled meanwhile', String(f.sweeperRescuesAfterSettled)],
    ['rescues by reason (metrics, last scrape)', describe(f.sweeperRescuesByReason)],
    ['redeliveries absorbed by the consumer', String(f.redeliveriesAbsorbed)],
    ['dedupe hits by layer (metrics, last scrape)', describe(f.dedupeHitsByLayer)],
    ['time to settle after the last fault', `${f.settleAfterLastFaultS.toFixed(1)} s`],
    ['worker processes started (restarts included)', String(f.workerProcesses)],
    ['saga client reconnects', String(f.clientReconnects)],
  ]));
  // On a line of its own: a long list would widen the whole table.
  out.push('', `compensation orders, distinct events by type: ${describe(f.compensationAnswers)}`);
  if (r.keysPerMaster) out.push(`Redis Cluster keys per master once settled: ${r.keysPerMaster.map((k) => `${k.port}=${k.keys}`).join(' ')}`);
  const failed = r.invariants.filter((i) => i.violations.length).length;
  out.push('', failed ? `FAILED: ${failed} invariant(s) violated` : 'OK: every invariant held');
  return out.join('\n');
}

function describe(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(' ') : '-';
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
