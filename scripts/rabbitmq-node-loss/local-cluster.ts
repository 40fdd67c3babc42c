import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isListening } from '../../src/services.js';

/**
 * Three RabbitMQ nodes on this machine, without Docker: the installed
 * rabbitmq-server run three times, each with its own node name, ports, data
 * and log directories under one temporary directory, sharing one Erlang
 * cookie through a HOME of their own. Nothing of the system's RabbitMQ
 * (rabbit@localhost, 5672, /etc/rabbitmq, /var/lib/rabbitmq) is read or touched.
 */
const run = promisify(execFile);
const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
const EPMD_PORT = 4369;

export interface LocalNode {
  name: string;
  amqpPort: number;
  distPort: number;
  amqpUrl: string;
}

export interface LocalCluster {
  nodes: LocalNode[];
  /** The node whose quorum queue replica leads, as a surviving node `asker` sees it. */
  leaderOf(queue: string, asker: LocalNode): Promise<string>;
  /** The one node a classic queue lives on. */
  homeOf(queue: string, asker: LocalNode): Promise<string>;
  /**
   * Starts watching, on `asker`, for a leader other than `old`: `watching`
   * resolves once the node polls (every 10 ms), `seen` with the time (epoch
   * ms) it first knew another leader.
   */
  watchLeader(queue: string, old: string, asker: LocalNode, timeoutMs: number): { watching: Promise<void>; seen: Promise<number> };
  /** kill -9 of the node's Erlang VM, no shutdown; resolves with the time (epoch ms) of the kill. */
  kill(node: LocalNode): Promise<number>;
  /** Starts a killed node again on its data directory: it rejoins the cluster. */
  restart(node: LocalNode): Promise<void>;
  /** Stops every node this started and removes the temporary directory. */
  stop(): Promise<void>;
}

/** Why the three nodes cannot run here, or undefined when they can. */
export async function cannotRunHere(nodes: LocalNode[]): Promise<string | undefined> {
  try {
    await access(path.join(RABBITMQ_BIN, 'rabbitmq-server'));
  } catch {
    return `no RabbitMQ server at ${RABBITMQ_BIN} (Debian's rabbitmq-server package)`;
  }
  for (const port of nodes.flatMap((n) => [n.amqpPort, n.distPort])) {
    if (await isListening('127.0.0.1', port)) return `port ${port} is taken: pick other ports with --base-port`;
  }
  return undefined;
}

export function localNodes(basePort: number): LocalNode[] {
  return ['a', 'b', 'c'].map((letter, i) => ({
    name: `rabbit-${letter}@localhost`,
    amqpPort: basePort + i,
    distPort: basePort + i + 20_000,
    amqpUrl: `amqp://guest:guest@127.0.0.1:${basePort + i}`,
  }));
}

export async function startLocalCluster(nodes: LocalNode[]): Promise<LocalCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rabbitmq-node-loss-'));
  const home = path.join(dir, 'home');
  await mkdir(home);
  await writeFile(path.join(home, '.erlang.cookie'), randomBytes(20).toString('hex'));
  await chmod(path.join(home, '.erlang.cookie'), 0o400);
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  await writeFile(path.join(dir, 'rabbitmq-env.conf'), '');
  // An epmd already running (the system RabbitMQ's) is shared; one the first node starts is ours to stop.
  const epmdWasRunning = await isListening('127.0.0.1', EPMD_PORT);
  const processes = new Map<string, ChildProcess>();

  const envOf = (node: LocalNode) => {
    const nodeDir = path.join(dir, node.name.split('@')[0]!);
    return {
      ...process.env,
      HOME: home,
      RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: path.join(nodeDir, 'rabbitmq.conf'),
      RABBITMQ_CONFIG_FILES: path.join(nodeDir, 'conf.d'),
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(nodeDir, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
      RABBITMQ_NODENAME: node.name,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(node.amqpPort),
      RABBITMQ_DIST_PORT: String(node.distPort),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      RABBITMQ_MNESIA_BASE: path.join(nodeDir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(nodeDir, 'log'),
      RABBITMQ_PID_FILE: path.join(nodeDir, 'pid'),
    };
  };
  const ctl = async (tool: string, node: LocalNode, ...args: string[]) =>
    (await run(path.join(RABBITMQ_BIN, tool), ['-n', node.name, ...args], { env: envOf(node), timeout: 120_000 })).stdout;
  const evalOn = (node: LocalNode, expression: string) => ctl('rabbitmqctl', node, 'eval', expression).then((out) => out.trim());

  const boot = async (node: LocalNode) => {
    const nodeDir = path.join(dir, node.name.split('@')[0]!);
    await mkdir(path.join(nodeDir, 'conf.d'), { recursive: true });
    await writeFile(path.join(nodeDir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${node.amqpPort}\n`);
    await rm(path.join(nodeDir, 'pid'), { force: true }); // a killed node's is stale
    const child = spawn(path.join(RABBITMQ_BIN, 'rabbitmq-server'), [], { env: envOf(node), stdio: 'ignore', detached: true });
    processes.set(node.name, child);
    await ctl('rabbitmqctl', node, 'wait', '--timeout', '120', path.join(nodeDir, 'pid'));
    await ctl('rabbitmqctl', node, 'await_startup');
  };
  const beamPid = async (node: LocalNode) => Number((await readFile(path.join(dir, node.name.split('@')[0]!, 'pid'), 'utf8')).trim());

  const cluster: LocalCluster = {
    nodes,
    async leaderOf(queue, asker) {
      return (await evalOn(asker, `${raMembers(queue)}, {ok, _, {_, Leader}} = ra:members({RaName, node()}), Leader.`)).replace(/'/g, '');
    },
    async homeOf(queue, asker) {
      return (await evalOn(asker, `${lookup(queue)}, node(amqqueue:get_pid(Q)).`)).replace(/'/g, '');
    },
    watchLeader(queue, old, asker, timeoutMs) {
      const marker = path.join(dir, `watching-${Date.now()}`);
      const seen = evalOn(asker, `${raMembers(queue)}, ${waitForNewLeader(old, marker, timeoutMs)}`).then((out) => {
        if (!/^\d+$/.test(out)) throw new Error(`${asker.name} saw no new leader of ${queue} within ${timeoutMs} ms (${out})`);
        return Number(out);
      });
      const watching = (async () => {
        for (;;) {
          if (await access(marker).then(() => true, () => false)) return;
          await Promise.race([seen, new Promise((resolve) => setTimeout(resolve, 20))]);
        }
      })();
      return { watching, seen };
    },
    async kill(node) {
      const pid = await beamPid(node);
      process.kill(pid, 'SIGKILL');
      return Date.now();
    },
    restart: (node) => boot(node),
    async stop() {
      await Promise.all([...processes.values()].map(stopProcessGroup));
      if (!epmdWasRunning) await run('epmd', ['-kill']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const node of nodes) await boot(node);
    for (const node of nodes.slice(1)) {
      await ctl('rabbitmqctl', node, 'stop_app');
      await ctl('rabbitmqctl', node, 'join_cluster', nodes[0]!.name);
      await ctl('rabbitmqctl', node, 'start_app');
    }
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Binds Q to the queue `queue` of vhost "/". */
function lookup(queue: string): string {
  return `{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"${queue}">>))`;
}

/** Binds RaName to the Raft cluster name of the quorum queue `queue`. */
function raMembers(queue: string): string {
  return `${lookup(queue)}, {RaName, _} = amqqueue:get_pid(Q)`;
}

/**
 * An Erlang expression that writes `marker` (so the caller knows it is
 * polling), then polls the local replica every 10 ms: the epoch ms it first
 * knows a leader other than `old`.
 */
function waitForNewLeader(old: string, marker: string, timeoutMs: number): string {
  return `Deadline = erlang:system_time(millisecond) + ${timeoutMs},
    ok = file:write_file("${marker}", <<>>),
    Poll = fun Loop() ->
      Now = erlang:system_time(millisecond),
      case catch ra:members({RaName, node()}, 100) of
        {ok, _, {_, L}} when L =/= '${old}' -> Now;
        _ when Now > Deadline -> timeout;
        _ -> timer:sleep(10), Loop()
      end
    end,
    Poll().`;
}

/** SIGTERM to the node's process group (the VM and its port programs), SIGKILL if it is still there after 30 s. */
async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}
