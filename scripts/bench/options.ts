/** `npm run bench -- [options]`: what the run measures and how big it is. */
export interface BenchOptions {
  orders: number;
  quick: boolean;
  /** Offered rate for the zero-latency steady-load phases (2 workers and 1); default half the flat-out rate of each. */
  rate?: number;
  /** WORKER_CONCURRENCY for the zero-latency runs. */
  concurrency: number;
  /** WORKER_CONCURRENCY for the gateway-latency runs (throughput there is concurrency / latency). */
  latencyConcurrency: number;
  latency: string;
  logLevel: string;
  /** Orders for a memory soak instead of the benchmark (0: no soak). */
  soak: number;
  /** A diagnostic run: CPU profile of a worker, SQL round trips, Redis commands per payment. */
  profile: boolean;
  /** SIM_LATENCY_MS for the profile run (default 0). */
  profileLatency: string;
  /** Only these parts (ceilings, naive, p2, p1, latency; pipeline = p2 + p1). */
  only?: Set<string>;
  keepLogs: boolean;
  /** Seconds each PostgreSQL commit loop runs. */
  pgSeconds: number;
  /** Extra worker variables (--worker-env KEY=VALUE, repeatable): experiments such as GATEWAY=mock or AMQP_PREFETCH=50. */
  workerEnv: Record<string, string>;
}

export const USAGE = `npm run bench -- [--quick] [--orders N] [--rate N] [--concurrency N] [--latency-concurrency N]
                      [--latency 50-300] [--log-level info] [--soak N [--rate N]] [--profile [--profile-latency 0] [--rate N]] [--only ceilings,naive,p2,p1,latency] [--worker-env KEY=VALUE]... [--keep-logs]`;

export class UsageError extends Error {}

export function parseOptions(argv: string[]): BenchOptions {
  const o: BenchOptions = {
    orders: 10_000, quick: false, concurrency: 20, latencyConcurrency: 20, latency: '50-300',
    logLevel: 'info', soak: 0, profile: false, profileLatency: '0', keepLogs: false, pgSeconds: 5, workerEnv: {},
  };
  let ordersGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const count = () => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag} must be a whole number above 0, not ${JSON.stringify(v)}`);
      return Number(v);
    };
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--orders': o.orders = count(); ordersGiven = true; break;
      case '--rate': o.rate = count(); break;
      case '--concurrency': o.concurrency = count(); break;
      case '--latency-concurrency': o.latencyConcurrency = count(); break;
      case '--latency': o.latency = value(); break;
      case '--log-level': o.logLevel = value(); break;
      case '--soak': o.soak = count(); break;
      case '--profile': o.profile = true; break;
      case '--profile-latency': o.profileLatency = value(); break;
      case '--keep-logs': o.keepLogs = true; break;
      case '--worker-env': {
        const [k, ...v] = value().split('=');
        if (!k || !v.length) throw new UsageError(`--worker-env takes KEY=VALUE`);
        o.workerEnv[k] = v.join('=');
        break;
      }
      case '--only': o.only = new Set(value().split(',').map((s) => s.trim())); break;
      case '--help': case '-h': throw new UsageError(USAGE);
      default: throw new UsageError(`unknown option ${arg}\n${USAGE}`);
    }
  }
  // The .cpuprofile is what a profile run is for: keep it (and the process logs) for a closer look.
  if (o.profile) o.keepLogs = true;
  if (o.quick) {
    if (!ordersGiven) o.orders = 2000;
    o.pgSeconds = 2;
  }
  return o;
}
