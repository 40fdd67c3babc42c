import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * What the kernel says about processes, read from /proc (Linux). CPU is in
 * clock ticks (USER_HZ, 100 on every Linux the benchmark targets).
 */
const TICKS_PER_S = 100;

export interface CpuSample {
  /** utime + stime of the process itself. */
  own: number;
  /** cutime + cstime: children it has reaped (PostgreSQL's backends that exited). */
  reaped: number;
}

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by one process; undefined once it is gone. */
export function cpuOf(pid: number): CpuSample | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  return { own: (Number(f[11]) + Number(f[12])) / TICKS_PER_S, reaped: (Number(f[13]) + Number(f[14])) / TICKS_PER_S };
}

function statusKb(pid: number, key: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${key}:`));
    return line ? Number(line.replace(/\D+/g, '')) : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set size in MiB (VmHWM). */
export const peakRssMb = (pid: number) => mb(statusKb(pid, 'VmHWM'));
/** Current resident set size in MiB. */
export const rssMb = (pid: number) => mb(statusKb(pid, 'VmRSS'));
const mb = (kb: number | undefined) => (kb === undefined ? undefined : kb / 1024);

/** Resets VmHWM to the current RSS (writing 5 to clear_refs), so a phase's peak is its own. */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not our process, or an old kernel: the peak then covers the process's whole life.
  }
}

/** Busy and total CPU seconds of the whole machine, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_S, total: total / TICKS_PER_S };
}

const SERVICES = { postgres: 'postgres', 'redis-server': 'redis', 'beam.smp': 'rabbitmq' } as const;
export type ServiceName = (typeof SERVICES)[keyof typeof SERVICES];

/**
 * CPU seconds used so far by each backing service, all its processes summed,
 * plus what its root process reaped from children that exited (a PostgreSQL
 * backend whose connection closed mid-run still counts).
 */
export function servicesCpu(): Record<ServiceName, number> {
  const out: Record<ServiceName, number> = { postgres: 0, redis: 0, rabbitmq: 0 };
  const procs: Array<{ pid: number; ppid: number; service: ServiceName }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    const service = SERVICES[comm as keyof typeof SERVICES];
    const f = service && statFields(Number(entry));
    if (service && f) procs.push({ pid: Number(entry), ppid: Number(f[1]), service });
  }
  const pids = new Set(procs.map((p) => p.pid));
  for (const p of procs) {
    const cpu = cpuOf(p.pid);
    if (!cpu) continue;
    out[p.service] += cpu.own + (pids.has(p.ppid) ? 0 : cpu.reaped);
  }
  return out;
}

/**
 * CPU seconds so far of each PostgreSQL backend serving `database` (its
 * command line reads "postgres: …: user <database> host(port) state"), by
 * pid. Other databases' backends, and the server's shared background
 * processes, are left out: the server is shared with whatever else runs.
 */
export function postgresBackendsCpu(database: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.startsWith('postgres:') || !cmdline.includes(` ${database} `)) continue;
    const cpu = cpuOf(Number(entry));
    if (cpu) out.set(Number(entry), cpu.own);
  }
  return out;
}

/** CPU seconds of a process including what it reaped (for our own child processes: just `own`). */
export function cpuSeconds(pid: number): number | undefined {
  return cpuOf(pid)?.own;
}

/** Seconds a thread has run and has waited, runnable, for a core (`/proc/…/schedstat`: ns, ns, timeslices). */
export interface ThreadSched {
  runS: number;
  waitS: number;
}

export function parseSchedstat(text: string): ThreadSched | undefined {
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  return Number.isFinite(run) && Number.isFinite(wait) ? { runS: run! / 1e9, waitS: wait! / 1e9 } : undefined;
}

/**
 * The main thread of a process (its thread id is the pid): how long it has run
 * and how long it has waited in the kernel's run queue. A Node.js process does
 * its work on that thread, so the wait is how long its event loop sat ready
 * with no core to run on. Undefined when the process is gone or the kernel
 * keeps no scheduler statistics.
 */
export function mainThreadSched(pid: number): ThreadSched | undefined {
  try {
    return parseSchedstat(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8'));
  } catch {
    return undefined;
  }
}
