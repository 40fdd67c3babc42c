import pino, { type Logger } from 'pino';

/**
 * Structured logs. `redact` removes anything a card thief or an attacker would
 * want even if a caller logs a whole object by mistake.
 */
export const REDACT_PATHS = [
  // Gateway tokens: a payment method is never card data here, but it is still the customer's.
  'paymentMethod',
  '*.paymentMethod',
  '*.*.paymentMethod',
  'payment_method',
  '*.payment_method',
  '*.*.payment_method',
  // Secrets and keys, by the names this code and its libraries give them.
  'apiKey',
  '*.apiKey',
  'STRIPE_API_KEY',
  '*.STRIPE_API_KEY',
  'ADMIN_TOKEN',
  '*.ADMIN_TOKEN',
  'adminToken',
  '*.adminToken',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'password',
  '*.password',
  // A Stripe PaymentIntent's client_secret lets a browser confirm it.
  'client_secret',
  '*.client_secret',
  '*.*.client_secret',
  'clientSecret',
  '*.clientSecret',
  // Authorisation headers, however a request object is logged.
  'authorization',
  '*.authorization',
  'Authorization',
  '*.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  '*.headers["x-api-key"]',
  '*.headers["stripe-account"]',
];

/**
 * Lines go to stdout asynchronously: a line is written at once when no write
 * is in flight, and lines logged meanwhile go out together in the next write,
 * so a busy worker does not make one blocking write per line (in the
 * benchmark's profile those writes were a tenth of a payment's CPU). pino
 * flushes what is pending when the process exits; a SIGKILL can lose the last
 * few milliseconds of lines, never a payment.
 */
export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ dest: 1, sync: false })): Logger {
  return pino(
    {
      level,
      base: { service: 'payment-service', pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
