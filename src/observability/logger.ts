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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
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
