import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { redactForDisplay } from './display.redact.js';

export const BULL_BOARD_PATH = '/admin/queues';

export interface BullBoardOptions {
  queue: Queue;
  /** Off by default: a retry from the dashboard is a new charge attempt. */
  readWrite: boolean;
}

/** Where a job's payment is explained: job id and data both carry the order id. */
export function paymentUrlOf(job: { id?: string | number | null; data?: unknown }): string | undefined {
  const orderId = (job.data as { orderId?: unknown } | null)?.orderId ?? String(job.id ?? '');
  return typeof orderId === 'string' && orderId.length > 0 ? `/payments/${encodeURIComponent(orderId)}` : undefined;
}

export function createPaymentsBoardAdapter({ queue, readWrite }: BullBoardOptions): BullMQAdapter {
  const adapter = new BullMQAdapter(queue, {
    readOnlyMode: !readWrite,
    allowRetries: readWrite,
    description: readWrite
      ? 'Charges to run, one job per order. Read-write: a retry is a new charge attempt.'
      : 'Charges to run, one job per order. Read-only (ADMIN_READ_WRITE=false).',
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
    queues: [createPaymentsBoardAdapter(options)],
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
