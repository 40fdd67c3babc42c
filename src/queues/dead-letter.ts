import { randomUUID } from 'node:crypto';
import type { MessageProperties, Options } from 'amqplib';
import type { AmqpConnection } from './amqp-connection.js';
import { maskCardNumbers } from './card-data.js';
import { decodeUtf8, maskCardDataInBody } from './card-data-body.js';
import { numberDigits } from './json-walk.js';
import { createConfirmedPublisher } from './confirmed-publisher.js';
import { DEAD_LETTER_QUEUE, declareDeadLetterQueue } from './topology.js';

/** The part of a delivery that is dead-lettered. */
export interface DeadLetterMessage {
  content: Buffer;
  fields: { exchange: string; routingKey: string };
  properties: Partial<MessageProperties>;
}

/** Resolves only once the broker confirmed the copy is in the dead-letter queue. */
export type DeadLetter = (message: DeadLetterMessage, reason: string) => Promise<void>;

export const CARD_DATA_REASON = 'card data not accepted';
const ID_HEADER = 'x-dead-letter-id';

/** The dead-letter queue is missing, so the copy was not kept: the original must not be acked. */
export class DeadLetterNotRoutedError extends Error {
  constructor() {
    super(`the dead-letter queue ${DEAD_LETTER_QUEUE} does not exist: the copy was returned unrouted`);
    this.name = 'DeadLetterNotRoutedError';
  }
}

/**
 * The copy kept in the dead-letter queue: the body whole, the original
 * properties and headers, plus why and where it came from. Card numbers are
 * masked in every copy (body, header keys and values, numbers included, and
 * every string property): a message refused for its size or its shape was
 * never fully scanned, and masking a copy without one changes nothing.
 * `expiration` would let the copy expire and `userId` is checked by the broker
 * against our own user, so both move to headers instead.
 */
export function deadLetterCopy(message: DeadLetterMessage, reason: string): { content: Buffer; options: Options.Publish; id: string } {
  const mask = <T>(value: T) => maskStrings(value, 0) as T;
  const p = message.properties;
  const id = randomUUID();
  const headers: Record<string, unknown> = {
    ...maskedHeaders(p.headers),
    'x-error': reason,
    'x-original-exchange': message.fields.exchange,
    'x-original-routing-key': mask(message.fields.routingKey),
    [ID_HEADER]: id,
  };
  if (p.expiration !== undefined) headers['x-original-expiration'] = String(p.expiration);
  if (p.userId !== undefined) headers['x-original-user-id'] = mask(String(p.userId));
  const publish: Options.Publish = {
    persistent: true,
    headers,
    contentType: mask(p.contentType),
    contentEncoding: mask(p.contentEncoding),
    priority: p.priority,
    correlationId: mask(p.correlationId),
    replyTo: mask(p.replyTo),
    messageId: mask(p.messageId),
    timestamp: p.timestamp,
    type: mask(p.type),
    appId: mask(p.appId),
  };
  const content = maskCardDataInBody(message.content);
  return { content, options: dropUndefined(publish), id };
}

/** A header table that cannot even be walked (the reason it is dead-lettered, maybe) is left out, not let fail the copy. */
function maskedHeaders(headers: unknown): Record<string, unknown> {
  try {
    return maskStrings(headers ?? {}, 0) as Record<string, unknown>;
  } catch {
    return { 'x-original-headers': 'left out: they could not be read' };
  }
}

/** Deeper header tables than this are dropped from the copy, not walked. */
const MAX_HEADER_DEPTH = 32;

function maskStrings(value: unknown, depth: number): unknown {
  if (depth > MAX_HEADER_DEPTH) return '(nested too deep: dropped)';
  if (typeof value === 'string') return maskCardNumbers(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    const digits = numberDigits(value);
    const masked = maskCardNumbers(digits);
    return masked === digits ? value : masked;
  }
  if (Buffer.isBuffer(value)) {
    const utf8 = decodeUtf8(value);
    return utf8 === undefined ? Buffer.from(maskCardNumbers(value.toString('latin1')), 'latin1') : Buffer.from(maskCardNumbers(utf8));
  }
  if (Array.isArray(value)) return value.map((v) => maskStrings(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [maskCardNumbers(k), maskStrings(v, depth + 1)]));
  }
  return value;
}

function dropUndefined(o: Options.Publish): Options.Publish {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Options.Publish;
}

/** Publishes dead-letter copies through the default exchange, with publisher confirms. */
export function createDeadLetterPublisher(deps: { connection: AmqpConnection; timeoutMs?: number }): {
  deadLetter: DeadLetter;
  close(): Promise<void>;
} {
  const publisher = createConfirmedPublisher(deps.connection, {
    name: 'dead-letter',
    declare: declareDeadLetterQueue,
    timeoutMs: deps.timeoutMs ?? 10_000,
    returnKey: (m) => {
      const id = m.properties.headers?.[ID_HEADER];
      return typeof id === 'string' ? id : undefined;
    },
  });
  return {
    async deadLetter(message, reason) {
      const copy = deadLetterCopy(message, reason);
      const outcome = await publisher.publish({
        exchange: '',
        routingKey: DEAD_LETTER_QUEUE,
        content: copy.content,
        options: copy.options,
        key: copy.id,
      });
      if (outcome === 'returned') throw new DeadLetterNotRoutedError();
    },
    close: () => publisher.close(),
  };
}
