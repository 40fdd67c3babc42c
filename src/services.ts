import net from 'node:net';
import type { ClusterNode, RedisTarget } from './redis.js';
import { amqpUrlsOf } from './queues/amqp-urls.js';

/** A backing service the worker needs, and how a person starts it. */
export interface ServiceCheck {
  name: 'PostgreSQL' | 'Redis' | 'RabbitMQ' | 'gateway simulator';
  composeService: string;
  host: string;
  port: number;
  /** A cluster's other nodes: the service is reachable when any node answers (it learns the rest from it). */
  others?: ClusterNode[];
}

export function servicesOf(config: { DATABASE_URL: string; REDIS_URL: string; AMQP_URL: string } & Pick<RedisTarget, 'REDIS_CLUSTER_NODES'>): ServiceCheck[] {
  const at = (raw: string, fallbackPort: number) => {
    const u = new URL(raw);
    return { host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(u.port) || fallbackPort };
  };
  const [first, ...others] = config.REDIS_CLUSTER_NODES ?? [];
  return [
    { name: 'PostgreSQL', composeService: 'postgres', ...at(config.DATABASE_URL, 5432) },
    first ? { name: 'Redis', composeService: 'redis', ...first, others } : { name: 'Redis', composeService: 'redis', ...at(config.REDIS_URL, 6379) },
    rabbitmqOf(amqpUrlsOf(config.AMQP_URL).map((u) => at(u, 5672))),
  ];
}

/** AMQP_URL's nodes: any one answering is enough, a client moves to the next when one fails. */
function rabbitmqOf(nodes: Array<{ host: string; port: number }>): ServiceCheck {
  const [first, ...others] = nodes;
  return { name: 'RabbitMQ', composeService: 'rabbitmq', ...first!, ...(others.length ? { others } : {}) };
}

/** True when something accepts TCP connections at host:port within the timeout. */
export function isListening(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function unreachable(services: ServiceCheck[]): Promise<ServiceCheck[]> {
  const answers = async (s: ServiceCheck) => (await Promise.all([s, ...(s.others ?? [])].map((n) => isListening(n.host, n.port)))).some(Boolean);
  const results = await Promise.all(services.map(async (s) => ((await answers(s)) ? null : s)));
  return results.filter((s): s is ServiceCheck => s !== null);
}

/** The one line a person reads when a service is down. */
export function howToStart(s: ServiceCheck): string {
  return (
    `${s.name} is not answering at ${[s, ...(s.others ?? [])].map((n) => `${n.host}:${n.port}`).join(', ')}: start it ` +
    `(\`docker compose up -d ${s.composeService}\`, or your system's service manager) ` +
    `or point the service elsewhere with its URL variable`
  );
}
