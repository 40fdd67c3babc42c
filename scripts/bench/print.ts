import { checks, headline } from './headline.js';
import type { BenchOptions } from './options.js';
import type { BenchResults } from './plan.js';
import { ceilingsTable, endToEndTable, latencyTable, resourcesTable, secondsTable, stagesTable } from './report.js';

/** The report on stdout; its last line is CONTRACT.md §7's JSON. */
export function printBenchmark(results: BenchResults, o: BenchOptions, about: string): void {
  const overrides = Object.entries(o.workerEnv).map(([k, v]) => `${k}=${v}`).join(' ');
  const settings = overrides ? `worker overrides: ${overrides}` : 'other settings at their defaults (AMQP_PREFETCH 200, OUTBOX_BATCH 200, OUTBOX_POLL_MS 200)';
  console.log(`\npayment-service benchmark: ${o.orders.toLocaleString('en-US')} orders flat out at gateway 0 ms (${Math.ceil(o.orders / 2).toLocaleString('en-US')} at ${o.latency} ms), about ${o.quick ? 10 : 30} s of orders at each offered rate; ${about}`);
  console.log(`WORKER_CONCURRENCY ${o.concurrency} at gateway 0 ms, ${o.latencyConcurrency} at ${o.latency} ms; ${settings}\n`);
  for (const block of [ceilingsTable(results), endToEndTable(results), resourcesTable(results), stagesTable(results), latencyTable(results), secondsTable(results)]) {
    if (block) console.log(`${block}\n`);
  }
  for (const c of checks(results)) console.log(c);
  console.log('\nJSON: payments_per_s = flat out, gateway 0 ms, 2 workers; p95_ms = the same at the offered half rate;');
  console.log('ratio = payments_per_s / ceiling_payments_per_s; vs_naive = payments_per_s / the naive peer flat out.');
  console.log(JSON.stringify(headline(results)));
}
