import amqp from 'amqplib';
import { until } from './poll.js';

/**
 * What RabbitMQ says about the service's queues: how deep they are and who
 * consumes the input. Shared by the chaos run and the tests that must not
 * publish before the service consumes.
 */
export const INPUT_QUEUE = 'payment-service.inventory-reserved';

/**
 * Resolves once the input queue has `count` consumers: traffic starts when
 * the service consumes, not merely when its processes say they are ready.
 */
export async function waitForConsumers(amqpUrl: string, count: number, timeoutMs = 60_000): Promise<void> {
  const ok = await until(async () => (await inputConsumerCount(amqpUrl)) >= count, timeoutMs);
  if (!ok) throw new Error(`${INPUT_QUEUE} did not get ${count} consumer(s) within ${timeoutMs} ms`);
}

/** Consumers on the input queue now; rejects while the queue is not declared. */
export async function inputConsumerCount(amqpUrl: string): Promise<number> {
  return (await checkQueues(amqpUrl, [INPUT_QUEUE]))[0]!.consumerCount;
}

/** Ready messages in each queue, in order; rejects when one is not declared. */
export async function queueDepths(amqpUrl: string, queues: string[]): Promise<number[]> {
  return (await checkQueues(amqpUrl, queues)).map((q) => q.messageCount);
}

async function checkQueues(amqpUrl: string, queues: string[]): Promise<Array<{ messageCount: number; consumerCount: number }>> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  connection.on('error', () => undefined);
  try {
    const found: Array<{ messageCount: number; consumerCount: number }> = [];
    for (const queue of queues) {
      // checkQueue on a missing queue closes the channel: one channel per look.
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      found.push(await channel.checkQueue(queue));
      await channel.close();
    }
    return found;
  } finally {
    await connection.close().catch(() => undefined);
  }
}
