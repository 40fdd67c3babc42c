import { createPrng, type Random } from '../../src/gateway/simulator/prng.js';

/**
 * The faults a chaos run injects, and when. Pure: the same seed and window
 * give the same plan, so a failing run can be repeated with `--seed`.
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
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

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
  /** For gateway faults: the probability per request while the window is open. */
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
  /** Only these kinds (to narrow down a failure); all by default. */
  kinds?: readonly FaultKind[];
}

/** Relative weights of the repeated faults in a mixed run; Redis is wiped only once per run. */
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
  placeWipe(kinds);
  // Faults land between 5% and 85% of the window: orders are flowing, and the tail lets windows close.
  const times = kinds.map(() => Math.round(o.windowMs * (0.05 + 0.8 * random()))).sort((a, b) => a - b);
  const plan = kinds.map((kind, i) => ({
    atMs: times[i]!,
    kind,
    worker: Math.floor(random() * o.workers),
    holdMs: holdFor(kind, random, o.lockMs),
    rate: kind === 'gateway-hangs' ? 0.15 + 0.15 * random() : 0.2 + 0.3 * random(),
  }));
  return wipeDuringErrors(plan);
}

/**
 * The wipe comes after the last kill: a process that starts re-creates in
 * Redis whatever it declares at start, which would hide what the wipe lost
 * for good (the injector also waits for restarts in progress). And it comes
 * during a gateway-errors window, while retries wait in Redis: a wipe with
 * nothing queued would lose nothing.
 */
function placeWipe(kinds: FaultKind[]): void {
  const wipe = kinds.indexOf('redis-wiped');
  if (wipe < 0) return;
  kinds.splice(wipe, 1);
  const errors = kinds.lastIndexOf('gateway-errors');
  if (errors >= 0) kinds.splice(errors, 1);
  const pair: FaultKind[] = errors >= 0 ? ['gateway-errors', 'redis-wiped'] : ['redis-wiped'];
  kinds.splice(kinds.lastIndexOf('worker-killed') + 1, 0, ...pair);
}

/** The wipe lands a second after its gateway-errors window opened, and well after the last restart began. */
function wipeDuringErrors(plan: PlannedFault[]): PlannedFault[] {
  const wipe = plan.findIndex((f) => f.kind === 'redis-wiped');
  if (wipe < 0) return plan;
  const lastKill = plan.slice(0, wipe).filter((f) => f.kind === 'worker-killed').pop();
  const notBefore = lastKill ? lastKill.atMs + lastKill.holdMs + RESTART_MS : 0;
  const errors = plan[wipe - 1]?.kind === 'gateway-errors' ? plan[wipe - 1]! : undefined;
  const opensAt = Math.max(errors?.atMs ?? plan[wipe]!.atMs - 1000, notBefore);
  // Most attempts fail meanwhile, so retries wait in Redis when it loses its data.
  if (errors) plan[wipe - 1] = { ...errors, atMs: opensAt, rate: 0.8 };
  plan[wipe] = { ...plan[wipe]!, atMs: opensAt + 1000 };
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

export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
