// `npm run reconcile:scale`: one reconciliation pass over a window of N charges
// (default 100,000) at the gateway simulator, each with its payment here but
// for a few made wrong on purpose. Prints the seeding and pass times, the
// pass's peak resident memory and its JSON line; exits non-zero when the peak
// reaches the ceiling or the pass finds other discrepancies than those planted.
// Options: --charges N.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { runCli, UserFacingError } from '../src/cli.js';
import { createKnex } from '../src/persistence/db.js';
import { ensureServices } from '../src/preflight.js';
import { isolate, isolationServices } from './lib/isolation.js';
import { startProcess } from './lib/processes.js';
import { expectedCounts, plant, sameCounts, seedLedgerAndPayments } from './reconcile-scale/ledger-payments.js';
import { measuredPass } from './reconcile-scale/measured-pass.js';

/** The ceiling for one pass over 100,000 charges. */
const RSS_CEILING_MB = 200;
const DEFAULT_CHARGES = 100_000;

function chargesArg(): number {
  const { values } = parseArgs({ options: { charges: { type: 'string' } } });
  if (values.charges === undefined) return DEFAULT_CHARGES;
  if (!/^\d+$/.test(values.charges) || Number(values.charges) < 10) throw new UserFacingError('--charges must be a whole number of at least 10');
  return Number(values.charges);
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

await runCli('reconcile:scale', async () => {
  const charges = chargesArg();
  const problems = await ensureServices(isolationServices(), (line) => console.log(`reconcile:scale: ${line}`));
  if (problems.length) throw new UserFacingError(problems.join('; '));

  // 1. A database, vhost and Redis prefix of its own, and the simulator as its own process.
  const iso = await isolate();
  const simulator = startProcess('gateway', 'src/gateway/simulator/main.ts', { GATEWAY_PORT: '0' });
  const knex = createKnex(iso.databaseUrl, { max: 2 });
  try {
    const gatewayUrl = String(JSON.parse(await simulator.waitForLine(/simulator listening/)).url);

    // 2. Both sides of the window, a batch at a time, a few made wrong on purpose. The simulator's clock is in whole seconds.
    const planted = plant(charges);
    const since = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
    const seedStart = performance.now();
    let shown = 0;
    await seedLedgerAndPayments({
      knex, gatewayUrl, count: charges, planted,
      onBatch: (n) => {
        if (n - shown < charges / 10 && n < charges) return;
        shown = n;
        console.log(`seeded ${n} / ${charges} charges (${round((performance.now() - seedStart) / 1000)} s)`);
      },
    });
    const seedingS = (performance.now() - seedStart) / 1000;
    const until = new Date(Date.now() + 1000);
    // A payments table in service has statistics (autovacuum); one filled a minute ago has none yet.
    await knex.raw('ANALYZE payments');

    // 3. One pass, report only, as its own process with its memory watched.
    const pass = await measuredPass({ ...iso.env, GATEWAY: 'stripe', GATEWAY_URL: gatewayUrl, RECONCILE_SETTLE_GRACE_MS: '0' }, { since, until });
    // The pass as it recorded itself, without the process's start-up (loading modules, connecting, migrations checked).
    const recorded = await knex('reconciliation_passes').first(knex.raw('extract(epoch from finished_at - started_at)::float8 AS s'));

    // 4. The figures, and whether the pass found exactly what was planted among everything else.
    const expected = expectedCounts(planted);
    const found = sameCounts(pass.summary.discrepancies, expected) && pass.summary.charges === charges && pass.summary.payments === charges - planted.withoutPayment.size;
    const underCeiling = pass.peakRssMb < RSS_CEILING_MB;
    console.log('');
    console.log(`charges              ${charges}`);
    console.log(`seeding              ${round(seedingS)} s (${Math.round(charges / seedingS)} charges/s, payments inserted alongside)`);
    console.log(`pass wall time       ${round(pass.passS)} s (the process from start to exit, ${pass.samples} memory samples); the pass itself ${round(recorded.s)} s`);
    console.log(`peak RSS             ${round(pass.peakRssMb)} MB (ceiling ${RSS_CEILING_MB} MB): ${underCeiling ? 'under' : 'OVER'}`);
    console.log(`pass line            ${pass.line}`);
    console.log(`planted              ${JSON.stringify(expected)}`);
    console.log(`found what was planted: ${found ? 'yes' : 'NO'}`);
    // Other work on the machine stretches the times (not the memory): say how busy it was.
    console.log(`load average         ${loadavg().map((n) => n.toFixed(2)).join(' ')} on ${cpus().length} cores`);
    const ok = found && underCeiling;
    console.log(JSON.stringify({ charges, seeding_s: round(seedingS), pass_s: round(pass.passS), pass_recorded_s: round(recorded.s), peak_rss_mb: round(pass.peakRssMb), found_planted: found, ok }));
    if (!ok) process.exitCode = 1;
  } finally {
    await knex.destroy();
    await simulator.stop('SIGKILL');
    await iso.cleanup();
  }
});
