import net from 'node:net';
import path from 'node:path';
import type { Isolated } from '../lib/isolation.js';
import { startChild, type Child } from './child.js';

/** What runs for one scenario: the simulator and the worker processes (or the naive peer). */
export interface BenchDeployment {
  simulator?: Child;
  gatewayUrl?: string;
  /** Worker processes (`src/main.ts`), or the one naive-peer process. */
  workers: Child[];
  /** Each worker's ops server (GET /metrics), in the order of `workers`. */
  httpUrls: string[];
  stop(): Promise<void>;
}

export interface DeploySpec {
  kind: 'pipeline' | 'naive';
  /** The naive peer also charges each order through the simulator (the pipeline always does). */
  gateway?: boolean;
  workers: number;
  /** SIM_LATENCY_MS: "0" or a range like "50-300". */
  latency: string;
  concurrency: number;
  logLevel: string;
  logDir: string;
  label: string;
  /** Extra node options for worker processes (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Overrides for the worker environment (e.g. DATABASE_URL through a counting proxy). */
  env?: Record<string, string>;
}

/** A port nobody listens on right now (the ops server's, when its log line will not say it). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Below info the worker does not log "worker ready on …": then its ops server is asked instead. */
async function waitUntilHealthy(child: Child, url: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ok) return `worker ready on ${url}"`;
    if (child.child.exitCode !== null) throw new Error(`${child.name} exited before it was ready; last lines:\n${child.tail()}`);
    if (Date.now() > deadline) throw new Error(`${child.name}: not ready within ${timeoutMs} ms; last lines:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every child started and not yet stopped, so Ctrl-C can stop them all. */
export const liveChildren = new Set<Child>();

function track(c: Child): Child {
  liveChildren.add(c);
  void c.exited.then(() => liveChildren.delete(c));
  return c;
}

export async function deploy(iso: Isolated, spec: DeploySpec): Promise<BenchDeployment> {
  const log = (name: string) => path.join(spec.logDir, `${spec.label}-${name}.log`);
  const started: Child[] = [];
  try {
    let simulator: Child | undefined;
    let gatewayUrl: string | undefined;
    if (spec.kind === 'pipeline' || spec.gateway) {
      simulator = track(startChild({ name: 'simulator', entry: 'src/gateway/simulator/main.ts', logFile: log('simulator'), env: { GATEWAY_PORT: '0', SIM_LATENCY_MS: spec.latency, LOG_LEVEL: 'info' } }));
      started.push(simulator);
      gatewayUrl = String(JSON.parse(await simulator.waitForLine(/simulator listening/)).url);
    }
    const env: Record<string, string> = {
      ...iso.env,
      GATEWAY: 'stripe',
      GATEWAY_URL: gatewayUrl ?? 'http://127.0.0.1:1',
      HTTP_PORT: '0',
      MIGRATE_ON_START: 'false',
      WORKER_CONCURRENCY: String(spec.concurrency),
      // The benchmark's workers share one host's cores: the deployment worker standby is for (README).
      WORKER_STANDBY: 'true',
      LOG_LEVEL: spec.logLevel,
      ...(spec.kind === 'naive' && spec.gateway ? { NAIVE_GATEWAY_URL: gatewayUrl! } : {}),
      ...spec.env,
    };
    const entry = spec.kind === 'pipeline' ? 'src/main.ts' : 'scripts/bench/naive-main.ts';
    const ready = spec.kind === 'pipeline' ? /worker ready on (http:\/\/\S+?)["\s]/ : /naive peer ready/;
    const logsReady = spec.kind === 'naive' || ['info', 'debug', 'trace'].includes(spec.logLevel);
    const ports = await Promise.all(Array.from({ length: spec.workers }, () => (logsReady ? 0 : freePort())));
    const workers = ports.map((port, i) => {
      const name = spec.kind === 'pipeline' ? `worker-${i + 1}` : 'naive';
      const w = track(startChild({ name, entry, env: { ...env, HTTP_PORT: String(port) }, logFile: log(name), ...(spec.nodeArgs ? { nodeArgs: spec.nodeArgs } : {}) }));
      started.push(w);
      return w;
    });
    const lines = await Promise.all(workers.map((w, i) => (logsReady ? w.waitForLine(ready, 90_000) : waitUntilHealthy(w, `http://127.0.0.1:${ports[i]}`, 90_000))));
    const httpUrls = lines.map((l) => ready.exec(l)?.[1]?.replace('0.0.0.0', '127.0.0.1')).filter((u): u is string => !!u);
    return {
      simulator,
      gatewayUrl,
      workers,
      httpUrls,
      async stop() {
        // SIGTERM: the workers drain and exit 0 (and write a --cpu-prof profile).
        await Promise.allSettled(workers.map((w) => w.stop('SIGTERM')));
        await simulator?.stop('SIGTERM');
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((c) => c.stop('SIGKILL')));
    throw err;
  }
}
