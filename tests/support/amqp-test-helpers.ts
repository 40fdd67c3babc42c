import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib, { type ChannelModel, type ConfirmChannel, type GetMessage, type Options } from 'amqplib';
import pino from 'pino';

const run = promisify(execFile);

/** A plain amqplib connection for the test's own publishing and reading (Nagle off, as everywhere). */
export async function openTestChannel(url: string): Promise<{ connection: ChannelModel; channel: ConfirmChannel }> {
  const connection = await amqplib.connect(url, { noDelay: true });
  const channel = await connection.createConfirmChannel();
  // A failed check (e.g. checkQueue on a missing queue) closes the channel: the caller sees the rejection.
  connection.on('error', () => undefined);
  channel.on('error', () => undefined);
  return { connection, channel };
}

export async function publishConfirmed(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Buffer | string,
  options: Options.Publish = {},
): Promise<void> {
  channel.publish(exchange, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body), { persistent: true, ...options });
  await channel.waitForConfirms();
}

/** Every message now in the queue, acked. */
export async function drainQueue(channel: ConfirmChannel, queue: string): Promise<GetMessage[]> {
  const messages: GetMessage[] = [];
  for (;;) {
    const m = await channel.get(queue, { noAck: false });
    if (!m) return messages;
    channel.ack(m);
    messages.push(m);
  }
}

/** Polls until `check` returns a value other than undefined/false, or fails after the deadline. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args);
  return stdout;
}

export const silentLogger = () => pino({ level: 'silent' });
