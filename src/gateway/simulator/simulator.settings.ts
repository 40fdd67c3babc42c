import { z } from 'zod';

/**
 * What the simulator does per request: the success rate of unnamed test
 * payment methods, the fault probabilities of CONTRACT.md section 5, and
 * Stripe's documented search lag and idempotency key lifetime.
 * One schema serves the environment (`npm run gateway`), `POST /_sim/faults`
 * and the in-process `setFaults`, so every entry point validates alike.
 */
export interface LatencyRange {
  min: number;
  max: number;
}

export interface SimulatorSettings {
  /** Probability that a payment method other than the named test ones succeeds. */
  successRate: number;
  /** A 500 before charging. */
  errorRate: number;
  /** No answer before charging: the request is held open and never charges. */
  timeoutRate: number;
  /** Charges, records the charge, then drops the connection without answering. */
  lostResponseRate: number;
  /** A 429 before charging. */
  rateLimitRate: number;
  latencyMs: LatencyRange;
  /** Search shows each payment intent as it was this long ago (Stripe: under a minute, up to an hour in outages). */
  searchLagMs: number;
  /** An idempotency key older than this (by the simulator's clock) is forgotten, as Stripe prunes keys after 24 hours. */
  idempotencyTtlS: number;
  /** A new refund is `pending`, and settles after `refundSettleMs`. */
  refundPendingRate: number;
  /** A new refund fails: at once, or when it settles if it was pending. Its amount is refundable again. */
  refundFailRate: number;
  refundSettleMs: number;
  /** A webhook event is never sent to an endpoint. */
  webhookDropRate: number;
  /** A webhook event is sent twice to an endpoint, as Stripe may. */
  webhookDuplicateRate: number;
  /** A random wait before each webhook delivery, so events can arrive out of order. */
  webhookDelayMs: LatencyRange;
  /** How long a delivery is retried (with backoff) until the endpoint answers 2xx. */
  webhookRetryS: number;
}

export const DEFAULT_SETTINGS: Readonly<SimulatorSettings> = Object.freeze({
  successRate: 0.8,
  errorRate: 0,
  timeoutRate: 0,
  lostResponseRate: 0,
  rateLimitRate: 0,
  latencyMs: { min: 0, max: 0 },
  searchLagMs: 0,
  idempotencyTtlS: 86_400,
  refundPendingRate: 0,
  refundFailRate: 0,
  refundSettleMs: 2000,
  webhookDropRate: 0,
  webhookDuplicateRate: 0,
  webhookDelayMs: { min: 0, max: 0 },
  webhookRetryS: 60,
});

/** Upper bounds: a day of search lag (Stripe documents up to an hour), a year of key lifetime. */
export const MAX_SEARCH_LAG_MS = 86_400_000;
const MAX_IDEMPOTENCY_TTL_S = 31_536_000;
/** Stripe retries a webhook for three days. */
const MAX_WEBHOOK_RETRY_S = 259_200;
const MAX_REFUND_SETTLE_MS = 3_600_000;

const probability = z.coerce
  .number({ message: 'must be a probability between 0 and 1' })
  .min(0, { message: 'must be a probability between 0 and 1' })
  .max(1, { message: 'must be a probability between 0 and 1' });

function wholeNumber(min: number, max: number, unit: string) {
  const message = `must be whole ${unit} from ${min} to ${max}`;
  return z.coerce.number({ message }).int({ message }).min(min, { message }).max(max, { message });
}

const LATENCY_MESSAGE = 'must be milliseconds ("50") or a range ("50-300") up to 600000';

/** `"50"`, `"50-300"`, `50` or `{ min, max }`. */
const millisecondRange = z
  .union([z.string(), z.number(), z.object({ min: z.number(), max: z.number() })])
  .transform((value, ctx): LatencyRange => {
    const range = toLatencyRange(value);
    if (!range) {
      ctx.addIssue({ code: 'custom', message: LATENCY_MESSAGE });
      return z.NEVER;
    }
    return range;
  });

function toLatencyRange(value: string | number | LatencyRange): LatencyRange | undefined {
  let range: LatencyRange | undefined;
  if (typeof value === 'number') range = { min: value, max: value };
  else if (typeof value === 'object') range = value;
  else {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value);
    if (match) range = { min: Number(match[1]), max: Number(match[2] ?? match[1]) };
  }
  const valid =
    range && Number.isInteger(range.min) && Number.isInteger(range.max) && range.min >= 0 && range.min <= range.max && range.max <= 600_000;
  return valid ? range : undefined;
}

export const settingsPatchSchema = z
  .object({
    successRate: probability,
    errorRate: probability,
    timeoutRate: probability,
    lostResponseRate: probability,
    rateLimitRate: probability,
    latencyMs: millisecondRange,
    searchLagMs: wholeNumber(0, MAX_SEARCH_LAG_MS, 'milliseconds'),
    idempotencyTtlS: wholeNumber(1, MAX_IDEMPOTENCY_TTL_S, 'seconds'),
    refundPendingRate: probability,
    refundFailRate: probability,
    refundSettleMs: wholeNumber(0, MAX_REFUND_SETTLE_MS, 'milliseconds'),
    webhookDropRate: probability,
    webhookDuplicateRate: probability,
    webhookDelayMs: millisecondRange,
    webhookRetryS: wholeNumber(0, MAX_WEBHOOK_RETRY_S, 'seconds'),
  })
  .partial()
  .strict();

/** What `setFaults` and `POST /_sim/faults` accept; latency may be written as in the environment. */
export type SettingsPatch = z.input<typeof settingsPatchSchema>;

export class SimulatorSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid simulator settings: ${problems.join('; ')}`);
    this.name = 'SimulatorSettingsError';
  }
}

export function applySettingsPatch(current: SimulatorSettings, patch: unknown): SimulatorSettings {
  const parsed = settingsPatchSchema.safeParse(patch);
  if (!parsed.success) {
    throw new SimulatorSettingsError(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`));
  }
  return mergeDefined(current, parsed.data);
}

function mergeDefined(current: SimulatorSettings, patch: Partial<SimulatorSettings>): SimulatorSettings {
  const defined = Object.entries(patch).filter(([, v]) => v !== undefined);
  return { ...current, ...Object.fromEntries(defined) };
}

const ENV_KEYS = {
  SIM_SUCCESS_RATE: 'successRate',
  SIM_ERROR_RATE: 'errorRate',
  SIM_TIMEOUT_RATE: 'timeoutRate',
  SIM_LOST_RESPONSE_RATE: 'lostResponseRate',
  SIM_RATE_LIMIT_RATE: 'rateLimitRate',
  SIM_LATENCY_MS: 'latencyMs',
  SIM_SEARCH_LAG_MS: 'searchLagMs',
  SIM_IDEMPOTENCY_TTL_S: 'idempotencyTtlS',
  SIM_REFUND_PENDING_RATE: 'refundPendingRate',
  SIM_REFUND_FAIL_RATE: 'refundFailRate',
  SIM_REFUND_SETTLE_MS: 'refundSettleMs',
  SIM_WEBHOOK_DROP_RATE: 'webhookDropRate',
  SIM_WEBHOOK_DUPLICATE_RATE: 'webhookDuplicateRate',
  SIM_WEBHOOK_DELAY_MS: 'webhookDelayMs',
  SIM_WEBHOOK_RETRY_S: 'webhookRetryS',
} as const satisfies Record<string, keyof SimulatorSettings>;

const WEBHOOK_URL_MESSAGE = 'must be http(s) URLs separated by commas';

/** `SIM_WEBHOOK_URL`: one or more endpoints, each of which receives every event. */
const webhookUrls = z.string().transform((value, ctx): string[] => {
  const urls = value.split(',').map((url) => url.trim());
  if (urls.some((url) => !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))) {
    ctx.addIssue({ code: 'custom', message: WEBHOOK_URL_MESSAGE });
    return z.NEVER;
  }
  return urls;
});

const envSchema = z
  .object({
    GATEWAY_PORT: z.coerce.number().int().min(0).max(65_535).default(12_111),
    SIM_SEED: z.coerce.number().int().min(0).max(4_294_967_295).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SIM_WEBHOOK_URL: webhookUrls.optional(),
    SIM_WEBHOOK_SECRET: z.string().optional(),
  })
  .refine((env) => env.SIM_WEBHOOK_URL === undefined || env.SIM_WEBHOOK_SECRET !== undefined, {
    path: ['SIM_WEBHOOK_SECRET'],
    message: 'must be set when SIM_WEBHOOK_URL is (the whsec_ secret events are signed with)',
  });

/** Where events go and the secret that signs them; kept apart from the settings so `GET /_sim/faults` never shows the secret. */
export interface WebhookEndpoints {
  urls: string[];
  secret: string;
}

export interface SimulatorEnvConfig {
  port: number;
  seed?: number;
  logLevel: string;
  settings: SimulatorSettings;
  webhooks?: WebhookEndpoints;
}

/** Reads `GATEWAY_PORT`, `SIM_*` and `LOG_LEVEL`; throws SimulatorSettingsError naming every bad value. */
export function loadSimulatorConfig(env: NodeJS.ProcessEnv = process.env): SimulatorEnvConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const problems: string[] = [];
  const base = envSchema.safeParse(present);
  if (!base.success) {
    problems.push(...base.error.issues.map((i) => `${String(i.path[0])}=${JSON.stringify(present[String(i.path[0])] ?? '')} ${i.message}`));
  }
  const patch = Object.fromEntries(
    Object.entries(ENV_KEYS)
      .filter(([envKey]) => present[envKey] !== undefined)
      .map(([envKey, key]) => [key, present[envKey]]),
  );
  const settings = settingsPatchSchema.safeParse(patch);
  if (!settings.success) {
    const envKeyOf = (key: unknown) => Object.entries(ENV_KEYS).find(([, k]) => k === key)?.[0] ?? String(key);
    problems.push(
      ...settings.error.issues.map((i) => `${envKeyOf(i.path[0])}=${JSON.stringify(patch[String(i.path[0])])} ${i.message}`),
    );
  }
  if (!base.success || !settings.success) throw new SimulatorSettingsError(problems);
  const { SIM_WEBHOOK_URL: urls, SIM_WEBHOOK_SECRET: secret } = base.data;
  return {
    port: base.data.GATEWAY_PORT,
    seed: base.data.SIM_SEED,
    logLevel: base.data.LOG_LEVEL,
    settings: mergeDefined({ ...DEFAULT_SETTINGS }, settings.data),
    ...(urls && secret !== undefined ? { webhooks: { urls, secret } } : {}),
  };
}
