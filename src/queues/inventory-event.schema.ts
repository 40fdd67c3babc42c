import type { MessageProperties } from 'amqplib';
import { z } from 'zod';
import { containsCardNumber, containsCardNumberDeep } from './card-data.js';
import { checkPaymentData, type UsablePaymentData } from './inventory-payment-data.js';

/**
 * Sorts one raw InventoryReserved delivery into what CONTRACT.md's bad-input
 * table does with it. Card data is looked for first, on the raw bytes, before
 * anything could log or store them.
 */

export const MAX_BODY_BYTES = 64 * 1024;
const UNICODE_ESCAPE = Buffer.from('\\u');
export const MAX_TEXT_LENGTH = 255;
export const ACCEPTED_TYPE = 'InventoryReserved';

export interface InventoryReserved {
  eventId: string;
  /** Lower case, as PostgreSQL prints a uuid, so job ids and rows agree. */
  orderId: string;
  /** The decimal string as given ("49.99"). */
  amount: string;
  amountMinor: bigint;
  currency: string;
  customerId: string | null;
  paymentMethod: string;
  /** W3C trace context (`traceparent`, `tracestate`) from the message headers or the event. */
  traceHeaders: Record<string, string>;
}

/** Attributable to an order, but its payment data is invalid: the order gets a Failed payment. */
export interface InvalidPayment {
  kind: 'invalid-payment';
  eventId: string;
  orderId: string;
  field: string;
  reason: string;
  /** The parts of the payment data that are valid (null where not), for the Failed row. */
  usable: UsablePaymentData;
  /** Amount and currency as given, as text (for the payment's history). */
  given: { amount: string; currency: string };
  traceHeaders: Record<string, string>;
}

export type InventoryDelivery =
  | { kind: 'card-data' }
  | { kind: 'dead-letter'; reason: string }
  | InvalidPayment
  | { kind: 'valid'; event: InventoryReserved };

const nonEmpty = (what: string) =>
  z.string({ error: (i) => (i.input === undefined ? `is missing: ${what} is expected` : `must be ${what}`) }).min(1, {
    error: `must be ${what}`,
  });

const envelopeSchema = z.looseObject({
  specversion: z.literal('1.0', { error: 'must be "1.0"' }),
  id: nonEmpty('a non-empty string'),
  source: nonEmpty('a non-empty URI-reference'),
  type: nonEmpty('a non-empty string'),
  time: z
    .string({ error: 'must be an RFC 3339 timestamp' })
    .refine((t) => !Number.isNaN(Date.parse(t)), { error: 'must be an RFC 3339 timestamp' })
    .optional(),
  datacontenttype: z
    .string()
    .regex(/^application\/([\w.-]+\+)?json\s*(;.*)?$/i, { error: 'must be application/json' })
    .optional(),
  data: z.record(z.string(), z.unknown(), {
    error: (i) => (i.input === undefined ? 'is missing: an object is expected' : 'must be an object'),
  }),
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const attributionSchema = z.looseObject({
  orderId: z
    .string({ error: (i) => (i.input === undefined ? 'is missing: a UUID is expected' : 'must be a UUID string') })
    .regex(UUID, { error: 'must be a UUID' }),
});

export function parseInventoryDelivery(body: Buffer, properties: Partial<MessageProperties> = {}): InventoryDelivery {
  if (carriesCardData(body, properties)) return { kind: 'card-data' };
  const decoded = decodeJson(body);
  if (!decoded.ok) return { kind: 'dead-letter', reason: decoded.reason };
  // Decoding changes a string only at its escapes, and of those only \uXXXX can
  // make a digit, a space or a dash: without one, the raw scan saw it all.
  if (body.includes(UNICODE_ESCAPE) && containsCardNumberDeep(decoded.value)) return { kind: 'card-data' };

  const envelope = envelopeSchema.safeParse(decoded.value);
  if (!envelope.success) return deadLetter(`not a CloudEvents 1.0 envelope: ${describeIssue(envelope.error)}`);
  const event = envelope.data;
  if (event.type !== ACCEPTED_TYPE) {
    return deadLetter(`type "${event.type}" is not accepted: only "${ACCEPTED_TYPE}" is`);
  }
  const tooLong = findLongText(event, '');
  if (tooLong) return deadLetter(`${tooLong.path} is ${tooLong.length} characters long: at most ${MAX_TEXT_LENGTH} are accepted`);
  const attribution = attributionSchema.safeParse(event.data);
  if (!attribution.success) return deadLetter(`data.${describeIssue(attribution.error)}`);

  const eventId = event.id;
  const orderId = attribution.data.orderId.toLowerCase();
  const traceHeaders = traceContext(properties.headers, event);
  const payment = checkPaymentData(event.data);
  if (!payment.ok) {
    const { field, reason, usable } = payment;
    const given = { amount: asText(event.data.amount), currency: asText(event.data.currency) };
    return { kind: 'invalid-payment', eventId, orderId, field, reason, usable, given, traceHeaders };
  }
  return { kind: 'valid', event: { eventId, orderId, ...payment.value, traceHeaders } };
}

function deadLetter(reason: string): InventoryDelivery {
  return { kind: 'dead-letter', reason };
}

/** The raw body (as bytes, so even non-UTF-8 is scanned) and every string property or header. */
function carriesCardData(body: Buffer, properties: Partial<MessageProperties>): boolean {
  if (containsCardNumber(body.toString('latin1'))) return true;
  return containsCardNumberDeep(scannable(properties));
}

/** Header values may be byte arrays (Buffers): scanned as latin1 text, like the body. */
function scannable(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (Array.isArray(value)) return value.map(scannable);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scannable(v)]));
  return value;
}

function decodeJson(body: Buffer): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (body.length > MAX_BODY_BYTES) {
    return { ok: false, reason: `body is ${body.length} bytes: at most ${MAX_BODY_BYTES} (64 KiB) are accepted` };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { ok: false, reason: 'body is not valid UTF-8: a CloudEvents JSON document is expected' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    // V8 quotes part of the input in its message: cut it, the reason is logged.
    const why = (err as Error).message.replace(/,?\s*".*$/s, '').slice(0, 120);
    return { ok: false, reason: `body is not JSON (${why}): a CloudEvents JSON document is expected` };
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path} ${issue.message}` : `the body must be a JSON object (${issue.message})`;
}

/** The first string anywhere in the event longer than MAX_TEXT_LENGTH, with its path. */
function findLongText(value: unknown, path: string): { path: string; length: number } | undefined {
  if (typeof value === 'string') return value.length > MAX_TEXT_LENGTH ? { path, length: value.length } : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found = findLongText(child, path ? `${path}.${key}` : key);
    if (found) return found;
  }
  return undefined;
}

/** Card data was refused and text is at most 255 characters by now, so this is safe to keep. */
function asText(value: unknown): string {
  if (value === undefined) return '(missing)';
  return (typeof value === 'string' ? value : JSON.stringify(value)).slice(0, MAX_TEXT_LENGTH);
}

const TRACE_KEYS = ['traceparent', 'tracestate'] as const;

function traceContext(headers: MessageProperties['headers'], event: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of TRACE_KEYS) {
    const value = headers?.[key] ?? event[key];
    const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
    if (typeof text === 'string' && text.length > 0 && text.length <= 512) out[key] = text;
  }
  return out;
}
