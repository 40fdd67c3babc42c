import type { Isolated } from '../lib/isolation.js';
import type { BenchOptions } from './options.js';
import type { BenchContext } from './phase.js';
import { withScenario } from './plan.js';
import { rssMb } from './proc-stats.js';
import { fmtDuration, fmtRate } from './stats.js';
import { table } from './table.js';

interface Sample {
  atS: number;
  rss: Array<number | undefined>;
  heap: Array<number | undefined>;
}

/** Each worker's highest RSS over the first (0) or second (1) half of the samples. */
function halfMax(samples: Sample[], half: 0 | 1): Array<number | undefined> {
  const mid = Math.floor(samples.length / 2);
  const part = half === 0 ? samples.slice(0, mid) : samples.slice(mid);
  return samples[0]!.rss.map((_, i) => Math.max(...part.map((s) => s.rss[i] ?? 0)));
}

/** A worker's JS heap in use (MiB), from its own /metrics (prom-client's default metrics). */
async function heapUsedMb(httpUrl: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    const m = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(text);
    return m ? Number(m[1]) / 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `--soak N`: N orders through 2 workers at full speed with a bounded backlog
 * (at most 5,000 orders in flight, so the run is the steady state, not a
 * growing queue), or at `--rate N` offered, sampling each worker's RSS and
 * heap from start to end.
 */
export async function runSoak(ctx: BenchContext & { iso: Isolated; o: BenchOptions; logDir: string }, about: string): Promise<string> {
  const { o } = ctx;
  const spec = { label: 'soak: pipeline 2 workers, gateway 0 ms', kind: 'pipeline' as const, workers: 2, latency: '0', concurrency: o.concurrency };
  return withScenario(ctx, spec, async (measure, d) => {
    const samples: Sample[] = [];
    const started = performance.now();
    const sample = async () => {
      samples.push({
        atS: (performance.now() - started) / 1000,
        rss: d.workers.map((w) => rssMb(w.pid)),
        heap: await Promise.all(d.httpUrls.map(heapUsedMb)),
      });
    };
    await sample();
    const timer = setInterval(() => void sample(), 2000);
    let result;
    try {
      // --rate: the same orders at a steady offered rate, where processes stand by and wake (WORKER_STANDBY) all along.
      result = await measure(o.rate ? { mode: 'offered', orders: o.soak, ratePerS: o.rate } : { mode: 'flat', orders: o.soak, window: 5000 });
    } finally {
      clearInterval(timer);
    }
    await sample();
    const picks = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1].map((f) => samples[Math.round(f * (samples.length - 1))]!);
    const mb = (v: number | undefined) => (v === undefined ? '?' : v.toFixed(0));
    const rows = picks.map((s) => [`${s.atS.toFixed(0)} s`, ...s.rss.map(mb), ...s.heap.map(mb)]);
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    const peaks = result.usage.processes.filter((p) => p.name.startsWith('worker')).map((p) => mb(p.peakRssMb));
    return [
      `\nmemory soak: ${o.soak.toLocaleString('en-US')} orders, 2 workers, WORKER_CONCURRENCY ${o.concurrency}, gateway 0 ms, ${o.rate ? `${o.rate}/s offered` : 'flat out'}; ${about}`,
      `${fmtRate(result.paymentsPerS)} payments/s, end to end p50 ${fmtDuration(result.e2e.p50)}, p95 ${fmtDuration(result.e2e.p95)}${o.rate ? '' : ' (at most 5,000 orders in flight)'}\n`,
      table(['elapsed', ...d.workers.map((w) => `${w.name} RSS MB`), ...d.workers.map((w) => `${w.name} heap MB`)], rows),
      '',
      `RSS at start ${first.rss.map(mb).join(' / ')} MB, at end ${last.rss.map(mb).join(' / ')} MB, peak ${peaks.join(' / ')} MB (VmHWM during the run)`,
      `highest RSS in the first half ${halfMax(samples, 0).map(mb).join(' / ')} MB, in the second half ${halfMax(samples, 1).map(mb).join(' / ')} MB (a leak shows as a second half above the first)`,
      `JS heap in use at start ${first.heap.map(mb).join(' / ')} MB, at end ${last.heap.map(mb).join(' / ')} MB`,
      `one distinct terminal event per order: ${result.distinctDuplicates === 0 ? 'yes' : `NO, ${result.distinctDuplicates} extra`}`,
      JSON.stringify({
        soak_orders: o.soak,
        payments_per_s: Math.round(result.paymentsPerS * 10) / 10,
        rss_start_mb: first.rss.map((v) => Math.round(v ?? 0)),
        rss_end_mb: last.rss.map((v) => Math.round(v ?? 0)),
        rss_peak_mb: result.usage.processes.filter((p) => p.name.startsWith('worker')).map((p) => Math.round(p.peakRssMb ?? 0)),
        heap_start_mb: first.heap.map((v) => Math.round(v ?? 0)),
        heap_end_mb: last.heap.map((v) => Math.round(v ?? 0)),
      }),
    ].join('\n');
  });
}
