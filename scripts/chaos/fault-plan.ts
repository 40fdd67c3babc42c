import { createPrng, type Random } from '../../src/gateway/simulator/prng.js';
import { shuffle } from '../lib/seeded.js';

/**
 * The faults a chaos run injects, and when. Pure: the same seed and window
 * give the same plan, so a failing run can be repeated with `--seed`.
 *
 * FAULT_KINDS are a run on one Redis. On a Redis Cluster (`--redis-cluster`)
 * the wipe gives way to a master SIGKILLed (CLUSTER_FAULT_KINDS): a cluster
 * loses a master, not its data (the replica has it), and one script cannot
 * delete keys on three masters at once.
 */
export const FAULT_KINDS = [
  'worker-killed',
  'worker-frozen',
  'broker-connections-closed',
  'redis-clients-killed',
  'redis-wiped',
  'postgres-sessions-terminated',
  'gateway-errors',
  'gateway-hangs',
  'gateway-lost-responses',
  'refunds-failing',
] as const;

/** Faults of a run on a Redis Cluster only. */
export const CLUSTER_ONLY_FAULT_KINDS = ['redis-master-killed'] as const;

export type FaultKind = (typeof FAULT_KINDS)[number] | (typeof CLUSTER_ONLY_FAULT_KINDS)[number];

/** Every kind `--faults` may name. */
export const ALL_FAULT_KINDS: readonly FaultKind[] = [...FAULT_KINDS, ...CLUSTER_ONLY_FAULT_KINDS];

/** A run's kinds on a Redis Cluster: no wipe, one master killed (its replica takes over). */
export const CLUSTER_FAULT_KINDS: readonly FaultKind[] = [...FAULT_KINDS.filter((k) => k !== 'redis-wiped'), ...CLUSTER_ONLY_FAULT_KINDS];

/** The kinds a run injects by default on one Redis or on a cluster. */
export const faultKindsFor = (redis: 'single' | 'cluster'): readonly FaultKind[] => (redis === 'cluster' ? CLUSTER_FAULT_KINDS : FAULT_KINDS);

export interface PlannedFault {
  /** Milliseconds after the fault window opened. */
  atMs: number;
  kind: FaultKind;
  /** Which worker slot a worker fault aims at (the next live one is taken if that one is down). */
  worker: number;
  /**
   * How long the fault lasts: a freeze (kept past the job lock on purpose),
   * a gateway fault window, or the pause before a killed worker is restarted.
   */
  holdMs: number;
  /** For gateway faults: the probability per request (per new refund for `refunds-failing`) while the window is open. */
  rate: number;
}

export interface FaultPlanOptions {
  seed: number;
  windowMs: number;
  workers: number;
  /** `each-once`: every kind exactly once (the short test run); `mixed`: every kind, then random ones every `everyMs`. */
  mode: 'each-once' | 'mixed';
  everyMs?: number;
  /** A freeze lasts at least this long, so the frozen worker's job locks expire. */
  lockMs: number;
  /** Only these kinds (to narrow down a failure); FAULT_KINDS by default. */
  kinds?: readonly FaultKind[];
}

/**
 * Relative weights of the repeated faults in a mixed run. Redis is wiped only
 * once per run, and one master killed: a second kill could take the master
 * that lost its replica in the first, and the cluster would be down for good.
 */
const WEIGHTS: Record<FaultKind, number> = {
  'worker-killed': 3,
  'worker-frozen': 3,
  'broker-connections-closed': 2,
  'redis-clients-killed': 2,
  'redis-wiped': 0,
  'postgres-sessions-terminated': 2,
  'gateway-errors': 2,
  'gateway-hangs': 1,
  'gateway-lost-responses': 2,
  'refunds-failing': 1,
  'redis-master-killed': 0,
};

export function planFaults(o: FaultPlanOptions): PlannedFault[] {
  const random = createPrng(o.seed ^ 0x5eed);
  const allowed = o.kinds ?? FAULT_KINDS;
  const kinds = shuffle([...allowed], random);
  if (o.mode === 'mixed') {
    const total = Math.max(kinds.length, Math.floor(o.windowMs / (o.everyMs ?? 2500)));
    while (kinds.length < total) {
      const kind = weighted(random, allowed);
      if (!kind) break;
      kinds.push(kind);
    }
  }
  // Faults land between 5% and 85% of the window: orders are flowing, and the tail lets windows close.
  const times = kinds.map(() => Math.round(o.windowMs * (0.05 + 0.8 * random()))).sort((a, b) => a - b);
  const plan = kinds.map((kind, i) => ({
    atMs: times[i]!,
    kind,
    worker: Math.floor(random() * o.workers),
    holdMs: holdFor(kind, random, o.lockMs),
    rate: kind === 'gateway-hangs' ? 0.15 + 0.15 * random() : 0.2 + 0.3 * random(),
  }));
  return placeMasterKill(placeWipe(plan, o), o);
}

/**
 * The one master kill lands while orders flow, at 40% of the window: about a
 * third of the orders settled, the rest queued or in flight on every shard.
 */
function placeMasterKill(plan: PlannedFault[], o: FaultPlanOptions): PlannedFault[] {
  const kill = plan.find((f) => f.kind === 'redis-master-killed');
  if (!kill) return plan;
  kill.atMs = Math.round(o.windowMs * 0.4);
  return plan.sort((a, b) => a.atMs - b.atMs);
}

/**
 * Where the one Redis wipe goes. While orders still flow (55% of the window,
 * 70% in a mixed run), a second after a gateway-errors window opened: most
 * attempts fail meanwhile, so retries wait in Redis when it loses its data (a
 * wipe with nothing queued would lose nothing). And no worker restarts from
 * shortly before the wipe on: a process that starts declares its queues and
 * schedules again, which would hide what the wipe lost for good. A kill that
 * would restart too late moves earlier (the only kill of a run) or becomes a
 * freeze.
 */
function placeWipe(plan: PlannedFault[], o: FaultPlanOptions): PlannedFault[] {
  const wipe = plan.find((f) => f.kind === 'redis-wiped');
  if (!wipe) return plan;
  const wipeAt = Math.round(o.windowMs * (o.mode === 'mixed' ? 0.7 : 0.55));
  const kills = plan.filter((f) => f.kind === 'worker-killed');
  for (const kill of kills) {
    const latest = wipeAt - kill.holdMs - RESTART_MS;
    if (kill.atMs <= latest) continue;
    if (kills.length === 1) kill.atMs = Math.max(0, latest);
    else Object.assign(kill, { kind: 'worker-frozen', holdMs: Math.round(o.lockMs * 1.5) });
  }
  wipe.atMs = wipeAt;
  const errors = plan.filter((f) => f.kind === 'gateway-errors').pop();
  if (errors) Object.assign(errors, { atMs: wipeAt - 1000, rate: 0.8 });
  return plan.sort((a, b) => a.atMs - b.atMs);
}

/** About how long a worker process takes to start and say it is ready. */
const RESTART_MS = 8000;

function holdFor(kind: FaultKind, random: Random, lockMs: number): number {
  switch (kind) {
    case 'worker-frozen':
      return Math.round(lockMs * (1.25 + 1.25 * random()));
    case 'worker-killed':
      return Math.round(200 + 1500 * random());
    case 'gateway-errors':
    case 'refunds-failing':
      return Math.round(4000 + 2000 * random());
    case 'gateway-hangs':
    case 'gateway-lost-responses':
      return Math.round(2000 + 4000 * random());
    default:
      return 0;
  }
}

/** A kind drawn by weight among `allowed`; undefined when none of them repeats. */
function weighted(random: Random, allowed: readonly FaultKind[]): FaultKind | undefined {
  const total = allowed.reduce((sum, kind) => sum + WEIGHTS[kind], 0);
  let roll = random() * total;
  for (const kind of allowed) {
    roll -= WEIGHTS[kind];
    if (WEIGHTS[kind] > 0 && roll < 0) return kind;
  }
  return undefined;
}
