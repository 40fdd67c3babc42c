import type { Channel, Message, Options } from 'amqplib';
import type { AmqpConnection } from './amqp-connection.js';

/**
 * `confirmed`: the broker took responsibility for the message (routed to at
 * least one queue). `returned`: the broker confirmed it but no queue was bound
 * to take it (basic.return): for us that is a failure, not a delivery.
 */
export type PublishOutcome = 'confirmed' | 'returned';

export interface ConfirmedPublish {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  /** Identifies this message among those in flight; `returnKey` must find it in a returned copy. */
  key: string;
}

export interface ConfirmedPublisher {
  /** Resolves once the broker confirmed (or returned) the message; rejects on a nack or the timeout. */
  publish(message: ConfirmedPublish): Promise<PublishOutcome>;
  close(): Promise<void>;
}

export interface ConfirmedPublisherOptions {
  name: string;
  /** How to find a returned message's key (e.g. its messageId). */
  returnKey: (returned: Message) => string | undefined;
  timeoutMs: number;
  /** Declares what this publisher sends to, on every (re)connect. */
  declare: (channel: Channel) => Promise<void>;
}

/**
 * Publishes on a confirm channel with `mandatory`, so an unroutable message is
 * noticed. RabbitMQ sends basic.return before the basic.ack of the same
 * message on the same channel, so by the time a confirm arrives its return,
 * if any, has been seen.
 */
export function createConfirmedPublisher(connection: AmqpConnection, o: ConfirmedPublisherOptions): ConfirmedPublisher {
  const returned = new Set<string>();
  const channel = connection.createChannel({
    name: o.name,
    confirm: true,
    publishTimeoutMs: o.timeoutMs,
    setup: async (ch) => {
      await o.declare(ch);
      ch.on('return', (message: Message) => {
        const key = o.returnKey(message);
        if (key !== undefined) returned.add(key);
      });
    },
  });
  return {
    async publish(m) {
      try {
        await channel.publish(m.exchange, m.routingKey, m.content, { ...m.options, mandatory: true });
        return returned.has(m.key) ? 'returned' : 'confirmed';
      } finally {
        returned.delete(m.key);
      }
    },
    close: () => channel.close(),
  };
}
