import { z } from 'zod';
import { loadRiskRules, RiskRulesError, type RiskRules } from './risk/rule-file.js';
import { hashTagOf, MAX_QUEUE_SHARDS } from './queues/queue-shards.js';
import { amqpUrlsOf, vhostOf } from './queues/amqp-urls.js';
import { maskedClusterNodes, parseClusterNodes } from './redis-cluster-nodes.js';

/**
 * The one place environment variables are read. `loadConfig` validates every
 * key, reports all problems at once, and returns a frozen typed object.
 * Only entry points call it; everything else receives the values it needs.
 */

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` });

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** docker-compose.yml's default ADMIN_TOKEN, refused unless ALLOW_DEV_ADMIN_TOKEN is set. */
export const DEV_ADMIN_TOKEN = 'local-dev-admin-token-change-me';

const schema = z.object({
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  /**
   * `host:port,host:port,…` of a Redis Cluster (any of its nodes; the client finds the rest), or
   * `redis[s]://[user:password@]host:port` entries, all alike, for AUTH and TLS (src/redis-cluster-nodes.ts).
   * Set: used instead of REDIS_URL. Parsed into REDIS_CLUSTER_NODES (the nodes) and REDIS_CLUSTER_AUTH.
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .transform((v, ctx) => {
      const parsed = parseClusterNodes(v);
      for (const message of parsed.problems) ctx.addIssue({ code: 'custom', message });
      return parsed;
    })
    .optional(),
  /**
   * One broker, or a cluster's nodes comma-separated (src/queues/amqp-urls.ts).
   * Each entry is checked on its own and a bad one is named; all must name one vhost.
   */
  AMQP_URL: z
    .string()
    .superRefine((value, ctx) => {
      const entries = amqpUrlsOf(value);
      if (!entries.length) ctx.addIssue({ code: 'custom', message: 'must name at least one amqp:// or amqps:// URL' });
      const amqpUrl = url(['amqp:', 'amqps:']);
      const vhosts = new Set<string>();
      entries.forEach((entry, i) => {
        const checked = amqpUrl.safeParse(entry);
        if (checked.success) vhosts.add(vhostOf(new URL(entry)));
        else if (entries.length === 1) ctx.addIssue({ code: 'custom', message: checked.error.issues[0]!.message });
        else ctx.addIssue({ code: 'custom', message: `entry ${i + 1} ${JSON.stringify(withoutCredentials(entry))} ${checked.error.issues[0]!.message}` });
      });
      if (vhosts.size > 1) {
        ctx.addIssue({ code: 'custom', message: `names ${vhosts.size} vhosts (${[...vhosts].join(', ')}): every node of one cluster must name the same vhost` });
      }
    })
    .default('amqp://guest:guest@127.0.0.1:5672'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/payments'),
  /**
   * PostgreSQL connections per process. Jobs hold one only for a short
   * transaction, so a few serve many concurrent jobs; keep processes x this
   * under the server's max_connections. More is not faster: on the benchmark's
   * 2 cores, 2 workers with 10 each made PostgreSQL spend about half as much
   * CPU again per payment as with 4 each (contention among idle-then-busy
   * backends). Raise it with the database's cores.
   */
  DATABASE_POOL_MAX: int(1, 500).default(4),
  /**
   * The per-payment statements as named prepared statements (parsed once per
   * connection). False behind a pooler that cannot keep them: PgBouncer before
   * 1.21 in transaction mode (README, "Behind PgBouncer").
   */
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  GATEWAY: z.enum(['stripe', 'mock']).default('stripe'),
  GATEWAY_URL: url(['http:', 'https:']).default('http://127.0.0.1:12111'),
  STRIPE_API_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_\S+$/, { message: 'must be a Stripe secret key (sk_test_… or sk_live_…)' })
    .default('sk_test_simulator'),
  /**
   * The signing secret of the Stripe endpoint that posts to POST /webhooks/stripe
   * (Dashboard or `stripe listen`). Unset: the route answers 404.
   */
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\S+$/, { message: "must be a Stripe webhook signing secret (whsec_…, the endpoint's signing secret)" })
    .optional(),
  GATEWAY_TIMEOUT_MS: int(1, 600_000).default(10_000),
  HTTP_PORT: int(0, 65_535).default(3000),
  WORKER_CONCURRENCY: int(1, 1000).default(50),
  /**
   * Pull no jobs while another process takes the input and has free slots
   * (src/workers/worker-standby.ts). Off by default: on N hosts every process
   * should pull jobs, and a standing-by process also pauses its stalled-job
   * checker. On for several processes sharing one host's cores, where one
   * process doing the work shares its round trips (docs/performance.md).
   */
  WORKER_STANDBY: bool.default(false),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  ADMIN_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /** Lets ADMIN_TOKEN be the compose file's published default: for a laptop only. */
  ALLOW_DEV_ADMIN_TOKEN: bool.default(false),
  ADMIN_READ_WRITE: bool.default(false),
  MIGRATE_ON_START: bool.default(true),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(30_000),
  /** BullMQ key prefix; the braces are a Redis Cluster hash tag so every key of a queue lands in one slot. */
  QUEUE_PREFIX: z.string().min(1).default('{payment-service}'),
  /**
   * Payments (and compensations) spread over this many BullMQ queues, each its own hash tag and so its own
   * cluster slot, by a stable hash of the order id (src/queues/queue-shards.ts). 1: today's one queue.
   * Every process serves every shard, WORKER_CONCURRENCY split among them.
   */
  QUEUE_SHARDS: int(1, MAX_QUEUE_SHARDS).default(1),
  JOB_ATTEMPTS: int(1, 100).default(8),
  JOB_BACKOFF_MS: int(1, 3_600_000).default(500),
  /** Finished jobs are kept this long so a redelivered event is a no-op `add`. */
  JOB_RETENTION_S: int(1).default(86_400),
  /** A job's lock lives this long without renewal: a frozen or killed worker hands its job back after it. */
  JOB_LOCK_MS: int(1000, 600_000).default(30_000),
  AMQP_PREFETCH: int(1, 10_000).default(200),
  OUTBOX_POLL_MS: int(5, 60_000).default(200),
  OUTBOX_BATCH: int(1, 10_000).default(200),
  // Each process publishes its own events right after their commit; the relay's passes take what is older than this.
  OUTBOX_GRACE_MS: int(0, 600_000).default(2_000),
  SWEEPER_INTERVAL_MS: int(100).default(15_000),
  /** A payment not terminal after this long, with no live job, is re-enqueued. */
  SWEEPER_STALE_AFTER_MS: int(100).default(60_000),
  /**
   * Failover: an ordered list `name=stripe:URL` or `name=mock`, comma-separated
   * (e.g. `primary=stripe:http://127.0.0.1:12111,secondary=stripe:http://127.0.0.1:12112`).
   * Unset: the one gateway of GATEWAY / GATEWAY_URL. A gateway's key is
   * STRIPE_API_KEY_<NAME> when set, else STRIPE_API_KEY.
   */
  GATEWAYS: z
    .string()
    .transform((v, ctx) => {
      const entries = v.split(',').map((e) => e.trim()).filter(Boolean).map((entry) => {
        const m = /^([a-z][a-z0-9_-]{0,30})=(mock|stripe:(https?:\/\/\S+))$/i.exec(entry);
        if (!m) {
          ctx.addIssue({ code: 'custom', message: `entry "${entry}" must be name=stripe:http(s)://host:port or name=mock` });
          return undefined;
        }
        return { name: m[1]!, kind: m[2] === 'mock' ? ('mock' as const) : ('stripe' as const), url: m[3] ?? null };
      });
      const names = entries.map((e) => e?.name);
      if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', message: 'gateway names must be unique' });
      return entries.filter((e): e is NonNullable<typeof e> => e !== undefined);
    })
    .optional(),
  /** Transient gateway failures, across all workers, that open a gateway's circuit breaker. */
  BREAKER_FAILURES: int(1, 1000).default(5),
  /** ...and at least this percentage of the calls in the window. */
  BREAKER_FAILURE_PERCENT: int(1, 100).default(50),
  BREAKER_WINDOW_MS: int(100).default(10_000),
  /** How long an open breaker waits before probes may pass. */
  BREAKER_OPEN_MS: int(100).default(5_000),
  /** Probes a half-open breaker lets through; one success closes it, this many failures open it again. */
  BREAKER_HALF_OPEN_PROBES: int(1, 100).default(5),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']).optional(),
  /** Set: one process at a time runs a reconciliation pass (with its safe repairs) over the last day this often (CONTRACT.md §9). */
  RECONCILE_INTERVAL_MS: int(1000).optional(),
  /** A payment or charge that changed more recently than this is in flight, not a discrepancy (the worker may be settling it). */
  RECONCILE_SETTLE_GRACE_MS: int(0, 86_400_000).default(60_000),
  /**
   * A JSON file of risk rules (CONTRACT.md section 10), read and validated here so a bad
   * rule stops the process at start. Unset: payments are not screened.
   */
  RISK_RULES: z
    .string()
    .transform((path, ctx): { path: string; rules: RiskRules } => {
      try {
        return { path, rules: loadRiskRules(path) };
      } catch (err) {
        if (!(err instanceof RiskRulesError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.problem });
        return z.NEVER;
      }
    })
    .optional(),
}).superRefine((c, ctx) => {
  // A cluster runs a BullMQ queue's scripts only when all its keys share a slot: the prefix's hash tag does that.
  if (c.REDIS_CLUSTER_NODES?.nodes.length && !hashTagOf(c.QUEUE_PREFIX)) {
    ctx.addIssue({ code: 'custom', path: ['QUEUE_PREFIX'], message: 'must hold a Redis Cluster hash tag (e.g. {payment-service}) when REDIS_CLUSTER_NODES is set' });
  }
  // Anyone who has read docker-compose.yml knows this one: it must not open a real deployment.
  if (c.ADMIN_TOKEN === DEV_ADMIN_TOKEN && !c.ALLOW_DEV_ADMIN_TOKEN) {
    ctx.addIssue({
      code: 'custom',
      path: ['ADMIN_TOKEN'],
      message: 'is the published default of docker-compose.yml: set a token of your own (e.g. `openssl rand -hex 32`), or ALLOW_DEV_ADMIN_TOKEN=true on a laptop',
    });
  }
}).transform(({ REDIS_CLUSTER_NODES: cluster, ...rest }) => ({
  ...rest,
  // The nodes keep their plain shape for everything that lists or checks them; the credentials are said once, beside them.
  ...(cluster ? { REDIS_CLUSTER_NODES: cluster.nodes } : {}),
  ...(cluster?.auth ? { REDIS_CLUSTER_AUTH: cluster.auth } : {}),
}));

export type Config = Readonly<z.infer<typeof schema>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * A URL-ish value with any `user:password@` removed, so a bad URL never prints
 * its password; in a comma-separated list (AMQP_URL's cluster nodes) every entry's.
 */
function withoutCredentials(value: string | undefined): string | undefined {
  return value
    ?.split(',')
    .map((entry) => entry.replace(/\/\/[^/@\s]*@/, '//***@').replace(/^(\s*[a-z]+:)[^/@\s]*@/i, '$1***@'))
    .join(',');
}

const SECRET_KEYS = new Set(['STRIPE_API_KEY', 'ADMIN_TOKEN', 'STRIPE_WEBHOOK_SECRET']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as shells and compose files produce them.
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const key = String(i.path[0]);
      const mask = key === 'REDIS_CLUSTER_NODES' ? maskedClusterNodes : withoutCredentials;
      const shown = SECRET_KEYS.has(key) ? '(hidden)' : JSON.stringify(mask(env[key]));
      return `${key}=${shown} ${i.message}`;
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(parsed.data);
}
