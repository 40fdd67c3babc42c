import { describe, expect, it } from 'vitest';
import { FAULT_KINDS } from '../../scripts/chaos/fault-plan.js';
import { runChaos, type ChaosReport } from '../../scripts/chaos/run-chaos.js';
import { randomSeed } from '../../src/gateway/simulator/prng.js';

/**
 * The short chaos run of `npm run chaos`, through the same code: 300 orders
 * through three worker processes while one fault of each kind is injected.
 * A failing run prints its seed; `npm run chaos -- --each-once --orders 300
 * --duration 30 --seed N` repeats its plan.
 */
describe('crash safety under faults: a short chaos run', () => {
  it('when workers are killed and frozen, connections dropped, Redis wiped and the gateway fails, then every order settles exactly once', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? randomSeed());
    const lines: string[] = [];
    let report: ChaosReport | undefined;
    try {
      report = await runChaos({ orders: 300, durationS: 30, mode: 'each-once', seed, settleTimeoutS: 150, log: (l) => lines.push(l) });
    } finally {
      // The run's figures are worth seeing every time; its progress lines only when it failed.
      console.log([...(report?.ok ? [] : lines), report?.text ?? `chaos run (seed ${seed}) did not finish`].join('\n'));
    }

    for (const kind of FAULT_KINDS) {
      expect(report.faults.find((f) => f.kind === kind)?.injected, `${kind} injected (seed ${seed})`).toBe(1);
    }
    // The wipe must have had something to lose, or it proves nothing about recovering from it.
    const wipe = report.injected.find((f) => f.kind === 'redis-wiped');
    expect(wipe?.counts?.queuedJobs, `payment jobs queued when Redis was wiped (seed ${seed})`).toBeGreaterThan(0);
    for (const invariant of report.invariants) {
      expect(invariant.violations, `${invariant.name} (seed ${seed})`).toEqual([]);
      expect(invariant.checked, `${invariant.name} checked something`).toBeGreaterThan(0);
    }
    expect(report.figures.orders).toBe(300);
  }, 360_000);
});
