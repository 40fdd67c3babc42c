import type { BenchResults } from './plan.js';
import { concurrencyBound, naiveAt, naiveFlat, paymentCeiling } from './report.js';
import { round } from './stats.js';

/**
 * CONTRACT.md §7's last line, with "vs_naive" (against the naive peer). payments_per_s:
 * flat out, gateway 0 ms, 2 workers; p95_ms: the same deployment at the
 * offered half rate (flat out, p95 only measures how long the backlog of N
 * orders takes to drain).
 */
export function headline(r: BenchResults) {
  const flat = r.phases.find((p) => p.kind === 'pipeline' && p.workers === 2 && p.latency === '0' && p.mode === 'flat');
  const offered = r.phases.find((p) => p.kind === 'pipeline' && p.workers === 2 && p.latency === '0' && p.mode === 'offered');
  const ceiling = paymentCeiling(r.ceilings);
  const naive = naiveFlat(r);
  const perS = flat?.paymentsPerS ?? 0;
  return {
    payments_per_s: round(perS, 1),
    p95_ms: round(offered?.e2e.p95 ?? NaN, 1),
    ceiling_payments_per_s: round(ceiling?.perS ?? 0, 1),
    ratio: round(ceiling ? perS / ceiling.perS : NaN, 3),
    vs_naive: round(naive ? perS / naive.paymentsPerS : NaN, 3),
  };
}

/** The acceptance figures, each with what was measured. */
export function checks(r: BenchResults): string[] {
  const out: string[] = [];
  const line = (ok: boolean | undefined, text: string) => out.push(`${ok === undefined ? ' n/a' : ok ? 'PASS' : 'FAIL'}  ${text}`);
  const find = (workers: number, latency: boolean, mode: 'flat' | 'offered') =>
    r.phases.find((p) => p.kind === 'pipeline' && p.workers === workers && (p.latency !== '0') === latency && p.mode === mode);
  const h = headline(r);
  const naive = naiveFlat(r);
  line(naive && find(2, false, 'flat') ? h.vs_naive >= 0.5 : undefined, `flat out, gateway 0 ms, 2 workers: at least half the naive peer's throughput (vs_naive ${h.vs_naive})`);
  const off = find(2, false, 'offered');
  const offPeer = off && naiveAt(r, off);
  const offPeerSays = offPeer ? `; the naive peer at the same rate: p95 ${round(offPeer.e2e.p95, 1)}, p99 ${round(offPeer.e2e.p99, 1)}` : '';
  line(off ? off.e2e.p95 < 100 && off.e2e.p99 < 250 : undefined, `at the offered half rate: p95 < 100 ms and p99 < 250 ms (p95 ${round(off?.e2e.p95 ?? NaN, 1)}, p99 ${round(off?.e2e.p99 ?? NaN, 1)}${offPeerSays})`);
  for (const workers of [1, 2]) {
    const flat = find(workers, true, 'flat');
    const bound = flat && concurrencyBound(flat);
    line(flat && bound ? flat.paymentsPerS >= 0.9 * bound : undefined, `gateway latency, ${workers} worker(s): throughput within 10% of the concurrency bound (${round(flat?.paymentsPerS ?? NaN, 0)} of ${round(bound ?? NaN, 0)}/s)`);
    const offered = find(workers, true, 'offered');
    const peer = offered && naiveAt(r, offered)?.overheadMs;
    const peerSays = peer ? `; the naive peer at the same rate: ${round(peer.p95, 1)}` : '';
    line(offered?.overheadMs ? offered.overheadMs.p95 < 20 : undefined, `gateway latency, ${workers} worker(s), offered half rate: worker overhead p95 < 20 ms (${round(offered?.overheadMs?.p95 ?? NaN, 1)}${peerSays})`);
  }
  const one = find(1, false, 'flat');
  const two = find(2, false, 'flat');
  line(one && two ? two.paymentsPerS >= 0.95 * one.paymentsPerS : undefined, `two workers not slower than one (${round(two?.paymentsPerS ?? NaN, 0)} vs ${round(one?.paymentsPerS ?? NaN, 0)}/s, 5% noise allowed)`);
  const dup = r.phases.reduce((a, p) => a + p.distinctDuplicates, 0);
  line(r.phases.length ? dup === 0 : undefined, `exactly one distinct terminal event per order in every phase (${dup} extra)`);
  return out;
}
