import pino, { type Logger } from 'pino';

/**
 * Structured logs. Keys that name something a card thief or an attacker would
 * want are written as `[redacted]` at any depth, even if a caller logs a whole
 * object by mistake.
 */
export const REDACTED_KEYS: ReadonlySet<string> = new Set([
  // Gateway tokens: a payment method is never card data here, but it is still the customer's.
  'paymentMethod',
  'payment_method',
  // Secrets and keys, by the names this code and its libraries give them.
  'apiKey',
  'STRIPE_API_KEY',
  'ADMIN_TOKEN',
  'STRIPE_WEBHOOK_SECRET',
  'stripe-signature',
  'adminToken',
  'token',
  'secret',
  'password',
  // A Stripe PaymentIntent's client_secret lets a browser confirm it.
  'client_secret',
  'clientSecret',
  // Authorisation headers, however a request object is logged.
  'authorization',
  'Authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'stripe-account',
]);

const CENSOR = '[redacted]';
const CIRCULAR = '[Circular]';
/** Deeper than anything this code logs; a deeper value is written as it is. */
const MAX_DEPTH = 8;

/**
 * `value` with every redacted key's value replaced, copied only where
 * something changed: the caller's object is never touched, and a line
 * without secrets (nearly all of them) costs one walk over its keys.
 *
 * Why not pino's `redact` (@pinojs/redact): it takes paths, so "any depth"
 * needs wildcard paths, and with this list's wildcards it cost about 20 µs per
 * line and per child logger: with three children and two lines per payment,
 * a twentieth of the worker's CPU in the benchmark's profile.
 */
export function redactSecrets<T>(value: T): T {
  return censorIn(value, 0, new Map()) as T;
}

/**
 * `done` maps each object already walked to what it became, so an object
 * referenced twice is walked once and a cycle ends: a reference back to an
 * object still being walked is written "[Circular]" (never the original,
 * which would carry its secrets past the copy). The cost stays linear in the
 * number of distinct objects, whatever their shape.
 */
function censorIn(value: unknown, depth: number, done: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || Buffer.isBuffer(value) || value instanceof Date) return value;
  if (done.has(value)) return done.get(value);
  done.set(value, CIRCULAR); // met again while walking its own insides: a cycle
  let result: unknown = value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const censored = censorIn(item, depth + 1, done);
      if (censored !== item) (copy ??= [...value])[i] = censored;
    });
    result = copy ?? value;
  } else {
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      const censored = REDACTED_KEYS.has(key) ? CENSOR : censorIn(item, depth + 1, done);
      if (censored !== item) (copy ??= shallowCopy(value))[key] = censored;
    }
    result = copy ?? value;
  }
  done.set(value, result);
  return result;
}

/** Own enumerable properties; an Error keeps its class, message and stack so pino's err serializer still reads it. */
function shallowCopy(value: object): Record<string, unknown> {
  if (!(value instanceof Error)) return { ...value };
  const copy = Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>;
  Object.defineProperties(copy, {
    message: { value: value.message, enumerable: false, writable: true, configurable: true },
    stack: { value: value.stack, enumerable: false, writable: true, configurable: true },
    ...('cause' in value ? { cause: { value: value.cause, enumerable: false, writable: true, configurable: true } } : {}),
  });
  return Object.assign(copy, value);
}

/** The longest a logged line waits in the process before it is written. */
export const LOG_FLUSH_MS = 200;

/**
 * Lines go to stdout asynchronously and gathered: they are written once 4 KB
 * have gathered or 200 ms have passed, whichever comes first, so a busy worker
 * makes one write per ten lines or so instead of one per line or two (in the
 * benchmark's profile, writing lines as they came still cost a fortieth of the
 * worker's CPU; a blocking write per line cost a tenth). pino flushes what is
 * pending when the process exits, however it exits short of SIGKILL; a SIGKILL
 * can lose the last 200 ms of lines, never a payment.
 */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: LOG_FLUSH_MS }),
): Logger {
  const root = pino(
    {
      level,
      base: { service: 'payment-service', pid: process.pid },
      formatters: { log: redactSecrets },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  // pino gives a child's bindings no formatter; every child inherits from the
  // root (Object.create), so this one override covers children of children too.
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as typeof root.child;
  return root;
}

export type { Logger };
