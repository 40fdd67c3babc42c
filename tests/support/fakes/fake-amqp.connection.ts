import type { Channel, Message, Options } from 'amqplib';
import type { AmqpConnectionManager, ChannelWrapper } from 'amqp-connection-manager';
import type { AmqpConnection, ChannelOptions } from '../../../src/queues/amqp-connection.js';
import { createChanges } from './changes.js';

/**
 * How the broker answers the next publish: `confirm` routes it; `return` confirms
 * it but no queue was bound (basic.return, then the ack); `nack` rejects it;
 * `hold` answers only when the test calls `answerHeld(outcome)`.
 */
export type BrokerAnswer = 'confirm' | 'return' | 'nack' | 'hold';

export interface PublishedMessage {
  channel: string;
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  answer: Exclude<BrokerAnswer, 'hold'> | 'pending';
}

/** What the publishers use of a channel wrapper. */
type ChannelPort = Pick<ChannelWrapper, 'publish' | 'close'>;
/** What the relay and the publishers use of the connection: everything but the manager they never touch. */
type ConnectionPort = Omit<AmqpConnection, 'manager' | 'createChannel'> & { createChannel(options: ChannelOptions): ChannelPort };

/**
 * An AMQP connection and its confirm channels in memory: every channel's
 * `setup` runs against a fake amqplib channel (so declarations and the
 * `return` listener are installed as on a real connect), and each publish is
 * answered as scripted with `answer(...)` (default: confirm).
 */
export function createFakeAmqpConnection({ up: initiallyUp = true }: { up?: boolean } = {}) {
  let up = initiallyUp;
  const listeners = new Set<(up: boolean) => void>();
  const script: BrokerAnswer[] = [];
  const published: PublishedMessage[] = [];
  const declared: string[] = [];
  const held: Array<(answer: Exclude<BrokerAnswer, 'hold'>) => void> = [];
  const closedChannels: string[] = [];
  const changes = createChanges();

  function createChannel(options: ChannelOptions): ChannelPort {
    const returnListeners: Array<(message: Message) => void> = [];
    const amqplibChannel = {
      async assertExchange(exchange: string) {
        declared.push(exchange);
        return { exchange };
      },
      on(event: string, listener: (message: Message) => void) {
        if (event === 'return') returnListeners.push(listener);
        return amqplibChannel;
      },
    };
    const ready = Promise.resolve(options.setup?.(amqplibChannel as unknown as Channel));

    const settle = (message: PublishedMessage, answer: Exclude<BrokerAnswer, 'hold'>): boolean => {
      message.answer = answer;
      changes.notify();
      if (answer === 'nack') throw new Error(`the broker nacked the message on channel ${options.name}`);
      if (answer === 'return') {
        const returned = { content: message.content, fields: { exchange: message.exchange, routingKey: message.routingKey }, properties: message.options };
        for (const listener of returnListeners) listener(returned as unknown as Message);
      }
      return true;
    };

    return {
      async publish(exchange: string, routingKey: string, content: unknown, publishOptions?: Options.Publish) {
        await ready;
        if (!up) throw new Error(`channel ${options.name} is closed: the broker is down`);
        const message: PublishedMessage = { channel: options.name, exchange, routingKey, content: content as Buffer, options: publishOptions ?? {}, answer: 'pending' };
        published.push(message);
        changes.notify();
        const answer = script.shift() ?? 'confirm';
        if (answer !== 'hold') return settle(message, answer);
        return new Promise<boolean>((resolve, reject) => {
          held.push((late) => {
            try {
              resolve(settle(message, late));
            } catch (err) {
              reject(err);
            }
          });
          changes.notify();
        });
      },
      async close() {
        closedChannels.push(options.name);
      },
    };
  }

  const port: ConnectionPort = {
    isUp: () => up,
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitUntilUp: () => changes.until(() => up),
    createChannel,
    async close() {
      up = false;
    },
  };

  return {
    /**
     * The relay's deps name the whole AmqpConnection (with amqp-connection-manager's
     * manager and ChannelWrapper), though only the port's members are used.
     */
    connection: port as unknown as AmqpConnection & { manager: AmqpConnectionManager },
    /** Every publish the broker saw, in order, with how it was answered. */
    published,
    declared,
    closedChannels,
    /** Scripts the answers to the next publishes, in order. */
    answer(...answers: BrokerAnswer[]): void {
      script.push(...answers);
    },
    /** Answers every held publish. */
    answerHeld(answer: Exclude<BrokerAnswer, 'hold'> = 'confirm'): void {
      for (const release of held.splice(0)) release(answer);
    },
    setUp(next: boolean): void {
      up = next;
      for (const listener of listeners) listener(next);
      changes.notify();
    },
    /** Resolves once `n` publishes have reached the broker. */
    whenPublished: (n: number) => changes.until(() => published.length >= n),
    /** Resolves once `n` publishes are held, waiting for their answer. */
    whenHeld: (n: number) => changes.until(() => held.length >= n),
  };
}

export type FakeAmqpConnection = ReturnType<typeof createFakeAmqpConnection>;
