import { startProcess, type Proc } from '../lib/processes.js';

/**
 * The worker processes of a chaos run, one per slot, started as `npm start`
 * would. A killed worker is restarted after a pause, as a supervisor would;
 * every exit the run did not cause is recorded: no process may exit because
 * of its input or a lost connection.
 */
export interface WorkerIncarnation {
  name: string;
  proc: Proc;
  httpUrl?: string;
  /** The run killed it (SIGKILL) or stopped it (SIGTERM at the end). */
  endedByRun: boolean;
  /** Counters from its last /metrics scrape (a killed worker keeps those it reported until then). */
  counters: Map<string, number>;
}

export interface UnexpectedExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  lastLines: string[];
}

type SlotState = 'starting' | 'running' | 'frozen' | 'down';

interface Slot {
  index: number;
  state: SlotState;
  current?: WorkerIncarnation;
}

export interface WorkerPool {
  readonly incarnations: WorkerIncarnation[];
  readonly unexpectedExits: UnexpectedExit[];
  start(): Promise<void>;
  /** The first running slot from `preferred` on, or undefined when none runs. */
  pickRunning(preferred: number): number | undefined;
  /** SIGKILL now; a new process starts after `restartAfterMs` (in the background, see `quiesce`); `restarted` settles once it is ready. */
  kill(slot: number, restartAfterMs: number): { name: string; restarted: Promise<unknown> };
  /** SIGSTOP now, SIGCONT after `ms` (in the background). */
  freeze(slot: number, ms: number): string;
  /** Pids of every process alive (running or frozen). */
  pids(): number[];
  /** Waits for pending thaws and restarts: every slot runs afterwards. */
  quiesce(): Promise<void>;
  /** Waits for restarts in progress (not for thaws). */
  restarted(): Promise<void>;
  scrape(): Promise<void>;
  /** SIGTERM to each worker; the exit codes. */
  stopAll(timeoutMs: number): Promise<Array<{ name: string; code: number | null; signal: NodeJS.Signals | null }>>;
  /** SIGKILL whatever is left (cleanup). */
  killAll(): Promise<void>;
}

/** Told when a slot's worker is ready (its ops server's address) and when the run takes it down. */
export interface SlotHooks {
  ready?(slot: number, httpUrl: string): void;
  down?(slot: number): void;
}

export function createWorkerPool(size: number, env: Record<string, string>, hooks: SlotHooks = {}): WorkerPool {
  const slots: Slot[] = Array.from({ length: size }, (_, index) => ({ index, state: 'down' }));
  const incarnations: WorkerIncarnation[] = [];
  const unexpectedExits: UnexpectedExit[] = [];
  const pending = new Set<Promise<unknown>>();
  const restarts = new Set<Promise<unknown>>();
  let closing = false;

  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };

  async function launch(slot: Slot): Promise<void> {
    for (let tries = 1; ; tries++) {
      slot.state = 'starting';
      const name = `worker-${slot.index + 1}.${incarnations.filter((i) => i.name.startsWith(`worker-${slot.index + 1}.`)).length + 1}`;
      const inc: WorkerIncarnation = { name, proc: startProcess(name, 'src/main.ts', env), endedByRun: false, counters: new Map() };
      incarnations.push(inc);
      slot.current = inc;
      void inc.proc.exited.then((e) => {
        if (inc.endedByRun) return;
        unexpectedExits.push({ name, code: e.code, signal: e.signal, lastLines: inc.proc.lines.slice(-20) });
        // Like a supervisor: bring the slot back, so the run can still settle (the exit is reported).
        if (!closing && slot.current === inc && slot.state === 'running') track(launch(slot));
      });
      try {
        const ready = await inc.proc.waitForLine(/"msg":"worker ready/, 90_000);
        inc.httpUrl = String((JSON.parse(ready) as { http?: string }).http ?? '').replace('0.0.0.0', '127.0.0.1');
        slot.state = 'running';
        hooks.ready?.(slot.index, inc.httpUrl);
        return;
      } catch (err) {
        if (closing || tries >= 5) throw err;
      }
    }
  }

  function aliveProcs(): Proc[] {
    return slots.flatMap((s) => (s.current && s.current.proc.child.exitCode === null && s.current.proc.child.signalCode === null ? [s.current.proc] : []));
  }

  return {
    incarnations,
    unexpectedExits,
    async start() {
      await Promise.all(slots.map((s) => launch(s)));
    },
    pickRunning(preferred) {
      for (let i = 0; i < size; i++) {
        const slot = slots[(preferred + i) % size]!;
        if (slot.state === 'running') return slot.index;
      }
      return undefined;
    },
    kill(index, restartAfterMs) {
      const slot = slots[index]!;
      const inc = slot.current!;
      inc.endedByRun = true;
      slot.state = 'down';
      hooks.down?.(index);
      inc.proc.child.kill('SIGKILL');
      const restart = track(inc.proc.exited.then(() => sleep(restartAfterMs)).then(() => (closing ? undefined : launch(slot))));
      restarts.add(restart);
      void restart.finally(() => restarts.delete(restart)).catch(() => undefined);
      return { name: inc.name, restarted: restart };
    },
    freeze(index, ms) {
      const slot = slots[index]!;
      const inc = slot.current!;
      slot.state = 'frozen';
      inc.proc.child.kill('SIGSTOP');
      track(
        sleep(ms).then(() => {
          inc.proc.child.kill('SIGCONT');
          if (slot.current === inc && slot.state === 'frozen') slot.state = 'running';
        }),
      );
      return inc.name;
    },
    pids: () => aliveProcs().flatMap((p) => (p.child.pid ? [p.child.pid] : [])),
    async quiesce() {
      while (pending.size) await Promise.allSettled([...pending]);
    },
    async restarted() {
      while (restarts.size) await Promise.allSettled([...restarts]);
    },
    async scrape() {
      await Promise.allSettled(
        slots.filter((s) => s.state === 'running' && s.current?.httpUrl).map(async (s) => {
          const inc = s.current!;
          const res = await fetch(`${inc.httpUrl}/metrics`, { signal: AbortSignal.timeout(1500) });
          inc.counters = parseCounters(await res.text());
        }),
      );
    },
    async stopAll(timeoutMs) {
      closing = true;
      await Promise.allSettled([...pending]);
      const live = slots.flatMap((s) => (s.current && s.current.proc.child.exitCode === null && s.current.proc.child.signalCode === null ? [s.current] : []));
      return Promise.all(
        live.map(async (inc) => {
          inc.endedByRun = true;
          inc.proc.child.kill('SIGCONT');
          const timer = setTimeout(() => inc.proc.child.kill('SIGKILL'), timeoutMs);
          const exit = await inc.proc.stop('SIGTERM');
          clearTimeout(timer);
          return { name: inc.name, ...exit };
        }),
      );
    },
    async killAll() {
      closing = true;
      for (const inc of incarnations) inc.endedByRun = true;
      await Promise.allSettled(aliveProcs().map((p) => (p.child.kill('SIGCONT'), p.stop('SIGKILL'))));
    },
  };
}

/** The counters the report needs, keyed `name{labels}`. */
const COUNTERS = /^(sweeper_rescues_total|payment_dedupe_hits_total|inventory_events_consumed_total)(\{[^}]*\})?\s+([0-9.e+]+)$/;

export function parseCounters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = COUNTERS.exec(line.trim());
    if (m) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

/** Sums a counter over every incarnation, by label set. */
export function sumCounters(incarnations: WorkerIncarnation[], name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const inc of incarnations) {
    for (const [key, value] of inc.counters) {
      if (key.startsWith(`${name}{`) || key === name) out.set(key, (out.get(key) ?? 0) + value);
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
