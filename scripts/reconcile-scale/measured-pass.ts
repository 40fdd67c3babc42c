import { startProcess } from '../lib/processes.js';
import { peakRssMb, rssMb } from '../bench/proc-stats.js';
import type { PassSummary } from '../../src/reconciliation/reconciler.js';

/**
 * `npm run reconcile` (without --repair) as its own process, as an operator
 * runs it, with its resident memory read from /proc while it runs: the peak is
 * the largest VmRSS seen, or the kernel's own high-water mark (VmHWM) from the
 * last sample before exit when that is larger (it catches a spike between samples).
 */

/** The command's JSON last line: the pass's summary without its id (CONTRACT.md §9). */
export type PassLine = Omit<PassSummary, 'passId'>;

export interface MeasuredPass {
  /** The command's JSON last line, parsed. */
  summary: PassLine;
  line: string;
  passS: number;
  peakRssMb: number;
  samples: number;
}

const SAMPLE_MS = 100;

export async function measuredPass(env: Record<string, string>, window: { since: Date; until: Date }): Promise<MeasuredPass> {
  const started = performance.now();
  const cli = startProcess('reconcile', 'src/reconciliation/cli.ts', { ...env, LOG_LEVEL: 'warn' }, [
    '--since', window.since.toISOString(), '--until', window.until.toISOString(),
  ]);
  const pid = cli.child.pid!;
  let peak = 0;
  let samples = 0;
  const sample = () => {
    const now = rssMb(pid);
    const hwm = peakRssMb(pid);
    if (now === undefined) return;
    samples += 1;
    peak = Math.max(peak, now, hwm ?? 0);
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  const { code, signal } = await cli.exited;
  clearInterval(timer);
  const passS = (performance.now() - started) / 1000;
  const line = cli.lines.filter((l) => l.startsWith('{"since"')).at(-1);
  if (code !== 0 || !line) {
    throw new Error(`the reconcile command ended ${code ?? signal} without its JSON line; last lines:\n${cli.lines.slice(-20).join('\n')}`);
  }
  return { summary: JSON.parse(line) as PassLine, line, passS, peakRssMb: peak, samples };
}
