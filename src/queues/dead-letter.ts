import { randomUUID } from 'node:crypto';
import type { MessageProperties, Options } from 'amqplib';
import type { AmqpConnection } from './amqp-connection.js';
import { maskCardDataInBody, maskCardNumbers } from './card-data.js';
import { createConfirmedPublisher } from './confirmed-publisher.js';
import { DEAD_LETTER_QUEUE, declareDeadLetterQueue } from './topology.js';

/** The part of a delivery that is dead-lettered. */
export interface DeadLetterMessage {
  content: Buffer;
  fields: { exchange: string; routingKey: string };
  properties: Partial<MessageProperties>;
}

export interface DeadLetterOptions {
  /** Mask card numbers in the body and headers before the copy is kept (CONTRACT.md). */
  maskCardData?: boolean;
}

/** Resolves only once the broker confirmed the copy is in the dead-letter queue. */
export type DeadLetter = (message: DeadLetterMessage, reason: string, options?: DeadLetterOptions) => Promise<void>;

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
 * The copy kept in the dead-letter queue: the body whole (masked only for card
 * data), the original properties and headers, plus why and where it came from.
 * `expiration` would let the copy expire and `userId` is checked by the broker
 * against our own user, so both move to headers instead.
 */
export function deadLetterCopy(
  message: DeadLetterMessage,
  reason: string,
  options: DeadLetterOptions = {},
): { content: Buffer; options: Options.Publish; id: string } {
  const mask = options.maskCardData ? maskStrings : <T>(v: T) => v;
  const p = message.properties;
  const id = randomUUID();
  const headers: Record<string, unknown> = {
    ...(mask(p.headers ?? {}) as Record<string, unknown>),
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
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    priority: p.priority,
    correlationId: mask(p.correlationId),
    replyTo: mask(p.replyTo),
    messageId: mask(p.messageId),
    timestamp: p.timestamp,
    type: mask(p.type),
    appId: mask(p.appId),
  };
  const content = options.maskCardData ? maskCardDataInBody(message.content) : message.content;
  return { content, options: dropUndefined(publish), id };
}

function maskStrings<T>(value: T): T {
  if (typeof value === 'string') return maskCardNumbers(value) as T;
  if (Buffer.isBuffer(value)) return Buffer.from(maskCardNumbers(value.toString('latin1')), 'latin1') as T;
  if (Array.isArray(value)) return value.map(maskStrings) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskStrings(v)])) as T;
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
    async deadLetter(message, reason, options) {
      const copy = deadLetterCopy(message, reason, options);
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
