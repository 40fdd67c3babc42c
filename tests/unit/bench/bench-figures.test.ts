import { describe, expect, it } from 'vitest';
import { categoryOf } from '../../../scripts/bench/cpu-profile.js';
import { checks, headline } from '../../../scripts/bench/headline.js';
import { parseOptions, UsageError } from '../../../scripts/bench/options.js';
import type { PhaseResult } from '../../../scripts/bench/phase.js';
import type { BenchResults } from '../../../scripts/bench/plan.js';
import { parseSchedstat } from '../../../scripts/bench/proc-stats.js';
import { concurrencyBound, latencyTable, paymentCeiling, resourcesTable, secondsSummary, secondsTable } from '../../../scripts/bench/report.js';
import { bySecond, percentiles } from '../../../scripts/bench/stats.js';

function phase(p: Partial<PhaseResult>): PhaseResult {
  return {
    label: 'x', kind: 'pipeline', workers: 2, latency: '0', concurrency: 20, mode: 'flat', orders: 100,
    paymentsPerS: 100, e2e: { p50: 5, p95: 50, p99: 200, max: 300 }, distinctDuplicates: 0, redeliveries: 0, types: {},
    usage: { processes: [], machineBusyPct: 0, othersPct: 0, pgTxnPerPayment: 0, pgRowWritesPerPayment: 0, redisCmdsPerPayment: 0, redisTop: [], pgConnectionsPeak: 0 },
    ...p,
  };
}

describe('benchmark options', () => {
  it('when --quick is given without --orders, then a phase has 2,000 orders; with --orders, the number given', () => {
    expect(parseOptions(['--quick']).orders).toBe(2000);
    expect(parseOptions(['--quick', '--orders', '500']).orders).toBe(500);
    expect(parseOptions([]).orders).toBe(10_000);
  });

  it('when options take values inline or apart, then both read the same', () => {
    const o = parseOptions(['--soak=100000', '--worker-env', 'AMQP_PREFETCH=50', '--worker-env=LOG_LEVEL=warn', '--only', 'p1,latency']);
    expect(o.soak).toBe(100_000);
    expect(o.workerEnv).toEqual({ AMQP_PREFETCH: '50', LOG_LEVEL: 'warn' });
    expect([...o.only!]).toEqual(['p1', 'latency']);
  });

  it('when an option is unknown or a count is not a whole number, then it is refused with the usage', () => {
    expect(() => parseOptions(['--fast'])).toThrow(UsageError);
    expect(() => parseOptions(['--orders', '1e4'])).toThrow(/whole number/);
    expect(() => parseOptions(['--worker-env', 'NOVALUE'])).toThrow(/KEY=VALUE/);
  });
});

describe('benchmark figures', () => {
  it('when percentiles are taken, then each is a latency some order really had (nearest rank)', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(values)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100 });
    expect(percentiles([7])).toEqual({ p50: 7, p95: 7, p99: 7, max: 7 });
  });

  it('when ceilings are measured, then the payments ceiling is the slowest part every payment uses', () => {
    const ceiling = paymentCeiling([
      { key: 'bullmq_noop', label: 'BullMQ', perS: 9000 },
      { key: 'pg_commit_10', label: 'PostgreSQL', perS: 4000 },
      { key: 'pg_commit_1', label: 'PostgreSQL on one connection (not per payment)', perS: 100 },
      { key: 'rabbit_pub_quorum_100', label: 'RabbitMQ', perS: 6000 },
    ]);
    expect(ceiling?.label).toBe('PostgreSQL');
  });

  it('when the gateway has latency, then the bound is workers × concurrency / mean gateway time', () => {
    expect(concurrencyBound(phase({ latency: '50-300', workers: 2, concurrency: 20, meanGatewayMs: 200 }))).toBe(200);
    expect(concurrencyBound(phase({ latency: '0' }))).toBeUndefined();
  });

  it('when a run is summarised, then the JSON line carries the 2-worker flat-out rate, the offered p95 and both ratios', () => {
    const results: BenchResults = {
      ceilings: [{ key: 'pg_commit_10', label: 'PostgreSQL', perS: 1000 }],
      phases: [
        phase({ kind: 'naive', workers: 1, paymentsPerS: 400 }),
        phase({ paymentsPerS: 250 }),
        phase({ mode: 'offered', ratePerS: 125, paymentsPerS: 125, e2e: { p50: 3, p95: 42, p99: 120, max: 130 } }),
        phase({ workers: 1, paymentsPerS: 200 }),
      ],
    };
    expect(headline(results)).toEqual({ payments_per_s: 250, p95_ms: 42, ceiling_payments_per_s: 1000, ratio: 0.25, vs_naive: 0.625 });
    const verdicts = checks(results);
    expect(verdicts.find((c) => c.includes("naive peer's throughput"))).toMatch(/^PASS/);
    expect(verdicts.find((c) => c.includes('two workers not slower'))).toMatch(/^PASS/);
    expect(verdicts.find((c) => c.includes('gateway latency, 1 worker(s): throughput'))).toMatch(/^ n\/a/);
  });
});

describe('the overhead beside the naive peer', () => {
  const gw = { p50: 170, p95: 290, p99: 300, max: 305 };
  const results: BenchResults = {
    ceilings: [],
    phases: [
      phase({ label: 'pipe slow', workers: 1, latency: '50-300', mode: 'offered', ratePerS: 52, paymentsPerS: 52, gatewayMs: gw, meanGatewayMs: 175, overheadMs: { p50: 12, p95: 30, p99: 50, max: 60 } }),
      // Same rate, no gateway latency: not the slow run's peer.
      phase({ label: 'naive fast', kind: 'naive', workers: 1, mode: 'offered', ratePerS: 52, e2e: { p50: 5, p95: 8, p99: 9, max: 9 } }),
      phase({ label: 'naive slow', kind: 'naive', gateway: true, workers: 1, latency: '50-300', mode: 'offered', ratePerS: 52, paymentsPerS: 52, gatewayMs: gw, meanGatewayMs: 175, overheadMs: { p50: 6, p95: 12, p99: 20, max: 25 } }),
    ],
  };

  it('when the naive peer charged through the same slow gateway at the same rate, then the overhead row carries its ratio and the peer its own row', () => {
    const text = latencyTable(results);
    expect(text).toMatch(/^pipe slow\s.*\s30\.0 \/ 50\.0\s+2\.50x\s+52\.0 of 114$/m);
    expect(text).toMatch(/^naive slow\s.*\s12\.0 \/ 20\.0\s+-\s+-$/m);
    expect(text).not.toMatch(/^naive fast/m);
  });

  it('when the overhead is checked, then the line says what the naive peer had at that rate', () => {
    const line = checks(results).find((c) => c.includes('gateway latency, 1 worker(s), offered'));
    expect(line).toMatch(/^FAIL .*\(30; the naive peer at the same rate: 12\)$/);
  });
});

describe('offered phases second by second', () => {
  // Orders a, b, c sent in the first second, d and e in the third; f never got its event.
  const sentAt = new Map([['a', 5000], ['b', 5400], ['c', 5999], ['d', 7000], ['e', 7900], ['f', 7950]]);
  const latency = new Map([['a', 10], ['b', 30], ['c', 200], ['d', 40], ['e', 50]]);

  it('when latencies are binned, then each order counts in the second it was published, and empty seconds are left out', () => {
    expect(bySecond(sentAt, latency)).toEqual([
      { orders: 3, p50: 30, p95: 200 },
      { orders: 2, p50: 40, p95: 50 },
    ]);
  });

  it('when one second breaks the limit, then the summary counts that second and keeps the spread of the others', () => {
    const seconds = bySecond(sentAt, latency);
    expect(secondsSummary(seconds, 100)).toEqual({ seconds: 2, over: 1, min: 50, median: 50, max: 200 });
    expect(secondsSummary(seconds, 20)).toMatchObject({ over: 2 });
  });

  it('when the report is printed, then the overhead of a gateway latency phase is held to 20 ms and end to end to 100 ms', () => {
    const text = secondsTable({
      ceilings: [],
      phases: [
        phase({ label: 'zero', mode: 'offered', perSecond: { figure: 'end to end', seconds: [{ orders: 9, p50: 40, p95: 90 }, { orders: 9, p50: 60, p95: 130 }] } }),
        phase({ label: 'slow', mode: 'offered', latency: '50-300', perSecond: { figure: 'overhead', seconds: [{ orders: 5, p50: 12, p95: 25 }] } }),
        phase({ label: 'flat' }),
      ],
    });
    expect(text).toMatch(/^zero\s+end to end\s+2\s+40\.0 \/ 40\.0 \/ 60\.0\s+90\.0 \/ 90\.0 \/ 130\s+1 \(100 ms\)$/m);
    expect(text).toMatch(/^slow\s+overhead\s+1\s.*\s1 \(20 ms\)$/m);
    expect(text).toContain('zero, end to end p95 by second: 90 130');
    expect(text).not.toMatch(/^flat/m);
  });
});

describe('waiting for a core', () => {
  it('when a thread\'s schedstat is read, then run and run-queue wait come out in seconds', () => {
    expect(parseSchedstat('1500000000 250000000 812\n')).toEqual({ runS: 1.5, waitS: 0.25 });
    expect(parseSchedstat('')).toBeUndefined();
  });

  it('when the CPU table is printed, then each worker\'s wait shows beside its CPU, and an unknown one as ?', () => {
    const usage = phase({}).usage;
    const text = resourcesTable({
      ceilings: [],
      phases: [
        phase({ label: 'two', usage: { ...usage, processes: [
          { name: 'worker-1', cpuPct: 46, msPerPayment: 1, waitedPct: 61.6 },
          { name: 'worker-2', cpuPct: 45, msPerPayment: 1 },
        ] } }),
      ],
    });
    expect(text).toMatch(/^two\s+46%\+45%\s+62%\+\?\s+2\.00\s/m);
  });
});

describe('CPU profile parts', () => {
  it.each([
    ['file:///work/main/node_modules/knex/lib/query/querybuilder.js', '', 'knex'],
    ['file:///work/main/node_modules/@pinojs/redact/index.js', '', '@pinojs/redact'],
    ['file:///work/main/node_modules/bullmq/node_modules/ioredis/built/Redis.js', '', 'ioredis'],
    ['node:internal/streams/writable', '', 'node:streams'],
    ['node:net', '', 'node:net'],
    ['file:///work/main/src/workers/payment.processor.ts', '', 'src/workers/payment.processor.ts'],
    ['', '(garbage collector)', '(garbage collector)'],
    ['', 'writev', '(native)'],
  ])('when a frame comes from %s %s, then it counts for %s', (url, fn, part) => {
    expect(categoryOf(url, fn)).toBe(part);
  });
});
