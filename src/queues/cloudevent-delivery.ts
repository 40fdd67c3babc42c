import type { MessageProperties } from 'amqplib';
import { z } from 'zod';
import { containsCardNumber } from './card-data.js';
import { cardNumberIn, decodeUtf8 } from './card-data-body.js';
import { walkJson } from './json-walk.js';

/**
 * What every input queue does first with a raw delivery, before its event type
 * is looked at (CONTRACT.md §3's bad-input table, the part every type shares).
 * The size is checked first, so a body of megabytes is never scanned or
 * parsed; then card data is looked for, in the text and in every header, key
 * and parsed value (numbers as their digits), before anything could log or
 * store them; then the CloudEvents envelope, the accepted types, the length of
 * every text and the order id. Every walk is iterative and capped
 * (json-walk.ts): no message can overflow the stack here.
 */

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_TEXT_LENGTH = 255;
/** Header values that are kept (trace context, history) must be printable ASCII. */
export const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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

export type EventEnvelope = z.infer<typeof envelopeSchema>;

/** A string field that must be a UUID: the schema that names what is wrong with it. */
export const uuidField = () =>
  z
    .string({ error: (i) => (i.input === undefined ? 'is missing: a UUID is expected' : 'must be a UUID string') })
    .regex(UUID, { error: 'must be a UUID' });

const attributionSchema = z.looseObject({ orderId: uuidField() });

/** An event of an accepted type, attributable to an order; its data is for the type's own parser. */
export interface AttributedEvent {
  kind: 'event';
  event: EventEnvelope;
  eventId: string;
  /** Lower case, as PostgreSQL prints a uuid, so job ids and rows agree. */
  orderId: string;
  /** W3C trace context (`traceparent`, `tracestate`) from the message headers or the event. */
  traceHeaders: Record<string, string>;
}

export type ScreenedDelivery = { kind: 'card-data' } | { kind: 'dead-letter'; reason: string } | AttributedEvent;

/** Refuses what no type can use; `acceptedTypes` are the CloudEvents types this input takes. */
export function screenDelivery(
  body: Buffer,
  properties: Partial<MessageProperties>,
  acceptedTypes: readonly string[],
): ScreenedDelivery {
  if (body.length > MAX_BODY_BYTES) return deadLetter(`body is ${body.length} bytes: at most ${MAX_BODY_BYTES} (64 KiB) are accepted`);
  const inProperties = cardNumberIn(properties);
  if (inProperties === true) return { kind: 'card-data' };
  if (inProperties !== false) return deadLetter(`the message properties: ${inProperties.tooComplex}`);
  const text = decodeUtf8(body);
  // Not UTF-8: scanned as latin1, so every byte is seen.
  if (containsCardNumber(text ?? body.toString('latin1'))) return { kind: 'card-data' };
  if (text === undefined) return deadLetter('body is not valid UTF-8: a CloudEvents JSON document is expected');
  const decoded = decodeJson(text);
  if (!decoded.ok) return deadLetter(decoded.reason);
  // Numbers ("41111111111111110e-1") only show their digits once parsed. Strings
  // and keys are as the text scan saw them unless an escape changed one.
  const inBody = cardNumberIn(decoded.value, { numbers: !text.includes('\\') });
  if (inBody === true) return { kind: 'card-data' };
  if (inBody !== false) return deadLetter(`the body ${inBody.tooComplex}`);
  return attribute(decoded.value, properties, acceptedTypes);
}

function attribute(value: unknown, properties: Partial<MessageProperties>, acceptedTypes: readonly string[]): ScreenedDelivery {
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) return deadLetter(`not a CloudEvents 1.0 envelope: ${describeIssue(envelope.error)}`);
  const event = envelope.data;
  // The type is not quoted back: a refused value is never repeated.
  if (!acceptedTypes.includes(event.type)) return deadLetter(`type is not accepted: ${onlyThese(acceptedTypes)}`);
  const tooLong = findLongText(event);
  if (tooLong) return deadLetter(`${tooLong.what} is ${tooLong.length} characters long: at most ${MAX_TEXT_LENGTH} are accepted`);
  const attribution = attributionSchema.safeParse(event.data);
  if (!attribution.success) return deadLetter(`data.${describeIssue(attribution.error)}`);
  const orderId = attribution.data.orderId.toLowerCase();
  return { kind: 'event', event, eventId: event.id, orderId, traceHeaders: traceContext(properties.headers, event) };
}

function onlyThese(types: readonly string[]): string {
  const quoted = types.map((t) => `"${t}"`);
  return quoted.length === 1 ? `only ${quoted[0]} is` : `only ${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)} are`;
}

function deadLetter(reason: string): ScreenedDelivery {
  return { kind: 'dead-letter', reason };
}

function decodeJson(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    // V8 quotes part of the input in its message: cut it, the reason is logged.
    const why = (err as Error).message.replace(/,?\s*".*$/s, '').slice(0, 120);
    return { ok: false, reason: `body is not JSON (${why}): a CloudEvents JSON document is expected` };
  }
}

/** The first issue, as "<path> <message>": paths are schema keys, messages quote nothing of the input. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path} ${issue.message}` : `the body must be a JSON object (${issue.message})`;
}

/** A field path made of plain names is shown; any other is not (it came from the message). */
const PLAIN_PATH = /^[A-Za-z0-9_.-]{1,100}$/;

/** The first key or string anywhere in the event longer than MAX_TEXT_LENGTH, named by its path. */
function findLongText(value: unknown): { what: string; length: number } | undefined {
  let found: { what: string; length: number } | undefined;
  walkJson(value, (v) => {
    if (v.kind === 'other' || v.text.length <= MAX_TEXT_LENGTH) return false;
    const path = v.path();
    const where = PLAIN_PATH.test(path) ? path : 'a field';
    found = { what: v.kind === 'key' ? `a key in ${path ? where : 'the event'}` : where, length: v.text.length };
    return true;
  });
  return found;
}

/** Card data was refused and text is at most 255 characters by now; only printable ASCII is kept, as written. */
export function asText(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = (typeof value === 'string' ? value : JSON.stringify(value)).slice(0, MAX_TEXT_LENGTH);
  return PRINTABLE_ASCII.test(text) ? text : '(not shown: not printable ASCII)';
}

const TRACE_KEYS = ['traceparent', 'tracestate'] as const;

function traceContext(headers: MessageProperties['headers'], event: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of TRACE_KEYS) {
    const value = headers?.[key] ?? event[key];
    const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
    if (typeof text === 'string' && text.length > 0 && text.length <= 512 && PRINTABLE_ASCII.test(text)) out[key] = text;
  }
  return out;
}
