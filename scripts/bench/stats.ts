/** Latency figures in milliseconds. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles (no interpolation: every figure is a latency some order really had). */
export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: NaN, p95: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted[sorted.length - 1]! };
}

/** A rate as people read it: 1234, 56.7, 0.89. */
export function fmtRate(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function fmtMs(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (n >= 10_000) return `${(n / 1000).toFixed(1)}s`;
  if (n >= 100) return `${Math.round(n)}`;
  return n.toFixed(1);
}

export function fmtRatio(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return `${n.toFixed(2)}x`;
}

/** Rounds for the JSON line: enough digits to compare runs, no float noise. */
export function round(n: number, digits = 2): number {
  if (!Number.isFinite(n)) return 0;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A duration with its unit: "8.4 ms", "452 ms", "12.3 s". */
export function fmtDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${fmtMs(ms)} ms`;
}

/** One second of an offered phase: the orders published in it and their latencies. */
export interface Second {
  orders: number;
  p50: number;
  p95: number;
}

/**
 * Latencies second by second of publishing (the first order sent opens
 * second 0): a phase whose p95 is high because of a few bad seconds reads
 * differently from one that was slow all along. Orders without a latency
 * (no terminal event) are left out; a second without any is left out too.
 */
export function bySecond(sentAt: ReadonlyMap<string, number>, latency: ReadonlyMap<string, number>): Second[] {
  let first = Infinity;
  for (const t of sentAt.values()) first = Math.min(first, t);
  const bins: number[][] = [];
  for (const [orderId, ms] of latency) {
    const sent = sentAt.get(orderId);
    if (sent === undefined) continue;
    (bins[Math.floor((sent - first) / 1000)] ??= []).push(ms);
  }
  const out: Second[] = [];
  for (const values of bins) {
    if (!values?.length) continue;
    const p = percentiles(values);
    out.push({ orders: values.length, p50: p.p50, p95: p.p95 });
  }
  return out;
}
