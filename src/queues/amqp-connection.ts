import type { Channel } from 'amqplib';
import { AmqpConnectionManagerClass, type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Logger } from '../observability/logger.js';
import { amqpUrlsOf, startingAt } from './amqp-urls.js';

/**
 * One RabbitMQ connection per process, kept alive by amqp-connection-manager:
 * after a broker restart or a forced close it reconnects and re-runs every
 * channel's setup, so topology, consumers and publishers come back by
 * themselves. Given a cluster's nodes, it is connected to one of them at a
 * time and reconnects to the next when that one fails or goes away.
 */
export interface AmqpConnection {
  /** True while a broker connection is open (the readiness check's answer). */
  isUp(): boolean;
  /** Calls `listener(up)` on every connect and disconnect; returns an unsubscribe function. */
  onStateChange(listener: (up: boolean) => void): () => void;
  /** Resolves once connected; rejects after `timeoutMs` (reconnecting goes on in the background). */
  waitUntilUp(timeoutMs: number): Promise<void>;
  /**
   * A channel whose `setup` runs on every (re)connect (declare what the
   * channel needs there). `confirm: true` gives a confirm channel (publishers).
   */
  createChannel(options: ChannelOptions): ChannelWrapper;
  close(): Promise<void>;
  readonly manager: AmqpConnectionManager;
}

export interface ChannelOptions {
  name: string;
  confirm: boolean;
  setup?: (channel: Channel) => Promise<void>;
  /** Publishes not confirmed by then are rejected (so a caller never waits forever on a dead broker). */
  publishTimeoutMs?: number;
}

export interface AmqpConnectionOptions {
  /** `AMQP_URL`: one broker, or a cluster's nodes comma-separated. */
  url: string;
  /** The node (index into the list) tried first; default a random one, so a fleet's connections spread over the cluster. */
  firstNode?: number;
  logger: Logger;
  heartbeatS?: number;
  reconnectS?: number;
}

/** The URL without its password, for logs. */
export function redactAmqpUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable AMQP URL)';
  }
}

export function createAmqpConnection(o: AmqpConnectionOptions): AmqpConnection {
  const urls = amqpUrlsOf(o.url);
  const where = urls.map(redactAmqpUrl).join(',');
  const log = o.logger.child({ component: 'amqp', broker: where });
  // Round robin: each failed or dropped connection moves on to the next node.
  const manager = new AmqpConnectionManagerClass(startingAt(urls, o.firstNode ?? Math.floor(Math.random() * urls.length)), {
    heartbeatIntervalInSeconds: o.heartbeatS ?? 5,
    reconnectTimeInSeconds: o.reconnectS ?? 1,
    // A socket option passed to amqplib's connect: without it Nagle's algorithm
    // holds small frames (acks, confirms, small messages) back for tens of ms.
    connectionOptions: { noDelay: true },
  });
  manager.on('connect', ({ connection, url }) => {
    coalesceFrameWrites(connection);
    log.info({ node: typeof url === 'string' ? redactAmqpUrl(url) : undefined }, 'connected to RabbitMQ');
  });
  manager.on('disconnect', ({ err }) => log.warn({ reason: err?.message }, 'disconnected from RabbitMQ; reconnecting'));
  manager.on('connectFailed', ({ err, url }) =>
    log.warn({ reason: err?.message, node: typeof url === 'string' ? redactAmqpUrl(url) : undefined }, 'cannot connect to RabbitMQ; retrying'),
  );
  manager.on('blocked', ({ reason }) => log.warn({ reason }, 'RabbitMQ blocked this connection (resource alarm)'));
  manager.on('unblocked', () => log.info('RabbitMQ unblocked this connection'));
  manager.connect().catch(() => {
    // Reported through 'connectFailed'; amqp-connection-manager keeps retrying.
  });

  return {
    manager,
    isUp: () => manager.isConnected(),
    onStateChange(listener) {
      const up = () => listener(true);
      const down = () => listener(false);
      manager.on('connect', up);
      manager.on('disconnect', down);
      return () => {
        manager.removeListener('connect', up);
        manager.removeListener('disconnect', down);
      };
    },
    waitUntilUp: (timeoutMs) => waitUntilUp(manager, where, timeoutMs),
    createChannel: (options) => createChannel(manager, log, options),
    close: () => manager.close(),
  };
}

/** The parts of amqplib's connection (2.x, lib/connection.js and lib/mux.js) that `coalesceFrameWrites` touches. */
interface FrameMux {
  out?: { cork?: () => void; uncork?: () => void };
  _readIncoming?: () => void;
}

/**
 * amqplib hands every frame group (a publish, an ack) to the socket in a write
 * of its own: its multiplexer drains the channels' queues in one pass, one
 * `socket.write` per message, so the events one group commit settles cost a
 * system call each, and on loopback each of those also runs the broker's
 * receive path. Corking the socket for the pass sends them in one `writev`.
 * Frames, their order and flow control are unchanged: the multiplexer still
 * stops at the socket's high-water mark and resumes on 'drain'. Only the
 * private `_readIncoming` is wrapped; on an amqplib whose insides differ this
 * does nothing and every write goes out as before.
 */
export function coalesceFrameWrites(model: unknown): boolean {
  const mux = (model as { connection?: { muxer?: FrameMux } } | undefined)?.connection?.muxer;
  const read = mux?._readIncoming;
  const out = mux?.out;
  if (!mux || typeof read !== 'function' || typeof out?.cork !== 'function' || typeof out.uncork !== 'function') return false;
  mux._readIncoming = function readCorked(this: FrameMux) {
    out.cork!();
    try {
      read.call(this);
    } finally {
      out.uncork!();
    }
  };
  return true;
}

function waitUntilUp(manager: AmqpConnectionManager, where: string, timeoutMs: number): Promise<void> {
  if (manager.isConnected()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      manager.removeListener('connect', onConnect);
      reject(new Error(`RabbitMQ at ${where} did not accept a connection within ${timeoutMs} ms`));
    }, timeoutMs);
    const onConnect = () => {
      clearTimeout(timer);
      resolve();
    };
    manager.once('connect', onConnect);
  });
}

function createChannel(manager: AmqpConnectionManager, log: Logger, o: ChannelOptions): ChannelWrapper {
  const retry = setupRetry(manager, log, o.name);
  const wrapper = manager.createChannel({
    name: o.name,
    confirm: o.confirm,
    publishTimeout: o.publishTimeoutMs,
    setup: async (channel: Channel) => {
      const state = { ready: false };
      watchChannelErrors(manager, log, o.name, channel, state);
      try {
        await o.setup?.(channel);
      } catch (err) {
        retry.failed();
        throw err;
      }
      state.ready = true;
      retry.succeeded();
    },
  });
  // Without a listener the wrapper's 'error' event would crash the process.
  wrapper.on('error', (err: Error) => log.error({ channel: o.name, reason: err.message }, 'channel error'));
  return wrapper;
}

/**
 * A channel whose setup failed (two processes declaring the same queue at
 * once, a broker still starting) stays dead until the next reconnect, which
 * a healthy connection never brings. So a failed setup schedules one, after a
 * delay that doubles each time (a setup that can never succeed, like a queue
 * declared elsewhere with other arguments, must not turn into a tight loop).
 */
function setupRetry(manager: AmqpConnectionManager, log: Logger, name: string) {
  let delayMs = 1_000;
  return {
    failed() {
      const connection = manager.connection;
      log.error({ channel: name, retryInMs: delayMs }, 'channel setup failed; reconnecting later to try again');
      const timer = setTimeout(() => {
        // Only if no reconnect happened meanwhile (which has re-run the setup already).
        if (manager.connection !== connection || !connection) return;
        try {
          manager.reconnect();
        } catch {
          // Closed for good.
        }
      }, delayMs);
      timer.unref();
      delayMs = Math.min(delayMs * 2, 60_000);
    },
    succeeded() {
      delayMs = 1_000;
    },
  };
}

/**
 * amqp-connection-manager recreates channels only when the connection comes
 * back. A working channel the broker closes on its own (a deleted exchange, a
 * stale delivery tag) while the connection stays up would stay dead, so such
 * an error forces a reconnect, which re-runs every setup. An error during the
 * setup is left to `setupRetry`, which waits before reconnecting.
 */
function watchChannelErrors(
  manager: AmqpConnectionManager,
  log: Logger,
  name: string,
  channel: Channel,
  state: { ready: boolean },
): void {
  channel.on('error', (err: Error) => {
    log.error({ channel: name, reason: err.message }, 'RabbitMQ closed a channel');
    if (!state.ready || !manager.isConnected()) return;
    log.warn({ channel: name }, 'reconnecting to recreate the closed channel');
    try {
      manager.reconnect();
    } catch {
      // The connection is being closed for good: nothing to recreate.
    }
  });
}
