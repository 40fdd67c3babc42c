import pino, { type Logger } from 'pino';

/**
 * Structured logs. `redact` removes anything a card thief or an attacker would
 * want even if a caller logs a whole object by mistake.
 */
export const REDACT_PATHS = [
  'paymentMethod',
  '*.paymentMethod',
  '*.*.paymentMethod',
  'payment_method',
  '*.payment_method',
  'apiKey',
  '*.apiKey',
  'STRIPE_API_KEY',
  '*.STRIPE_API_KEY',
  'ADMIN_TOKEN',
  '*.ADMIN_TOKEN',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'password',
  '*.password',
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
