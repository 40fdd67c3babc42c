import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { redactForDisplay } from './display.redact.js';
import { baseQueueName } from '../queues/queue-shards.js';

export const BULL_BOARD_PATH = '/admin/queues';

export interface BullBoardOptions {
  /** Every queue the board shows, in this order (the payments queues first, shard by shard, then `compensations`). */
  queues: readonly Queue[];
  /** Off by default: a retry from the dashboard is a new charge or refund attempt. */
  readWrite: boolean;
}

/** What each queue's jobs are, and what a retry from the board does to money. */
const QUEUE_PURPOSE: Record<string, { jobs: string; retry: string }> = {
  payments: { jobs: 'Charges to run, one job per order.', retry: 'a retry is a new charge attempt' },
  compensations: {
    jobs: 'Cancellations and refunds to carry out, one job per OrderCancelled or RefundRequested.',
    retry: 'a retry asks the gateway for the refund again',
  },
};

function describeQueue(name: string, readWrite: boolean): string {
  const purpose = QUEUE_PURPOSE[baseQueueName(name)] ?? { jobs: `Jobs of the ${name} queue.`, retry: 'a retry runs the job again' };
  return readWrite ? `${purpose.jobs} Read-write: ${purpose.retry}.` : `${purpose.jobs} Read-only (ADMIN_READ_WRITE=false).`;
}

/** Where a job's payment is explained: every job's data carries the order id (a charge's job id is the order id too). */
export function paymentUrlOf(job: { id?: string | number | null; data?: unknown }): string | undefined {
  const orderId = (job.data as { orderId?: unknown } | null)?.orderId ?? String(job.id ?? '');
  return typeof orderId === 'string' && orderId.length > 0 ? `/payments/${encodeURIComponent(orderId)}` : undefined;
}

export function createBoardAdapter(queue: Queue, readWrite: boolean): BullMQAdapter {
  const adapter = new BullMQAdapter(queue, {
    readOnlyMode: !readWrite,
    allowRetries: readWrite,
    description: describeQueue(queue.name, readWrite),
    externalJobUrl: (job) => {
      const href = paymentUrlOf(job);
      return href ? { href, displayText: 'Payment timeline' } : { href: '/machines/payment', displayText: 'State chart' };
    },
  });
  adapter.setFormatter('data', (data) => redactForDisplay(data));
  adapter.setFormatter('returnValue', (value) => redactForDisplay(value));
  return adapter;
}

/**
 * Bull Board's page asks Google Fonts for its typeface. The ops pages fetch
 * nothing from the internet (offline networks would wait on it, and it tells
 * a third party each time someone opens the dashboard): the link is dropped
 * and the board falls back to its own local font stack.
 */
export function withoutRemoteFonts(html: string): string {
  return html.replace(/<link[^>]*href="https:\/\/fonts\.(googleapis|gstatic)\.com[^>]*>\s*/g, '');
}

/** Bull Board under /admin/queues, inside its own Fastify scope (its view engine and error handler stay there). */
export function registerBullBoard(app: FastifyInstance, options: BullBoardOptions): void {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: options.queues.map((queue) => createBoardAdapter(queue, options.readWrite)),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Payments',
        miscLinks: [
          { text: 'State chart', url: '/machines/payment' },
          { text: 'Metrics', url: '/metrics' },
        ],
      },
    },
  });
  // Loaded with the server (ready/listen/inject), like any Fastify plugin.
  void app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply, payload) => {
      const type = String(reply.getHeader('content-type') ?? '');
      return typeof payload === 'string' && type.startsWith('text/html') ? withoutRemoteFonts(payload) : payload;
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}
