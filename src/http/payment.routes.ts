import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PaymentEventRecord } from '../persistence/outbox.repository.js';
import type { PaymentsRepository } from '../persistence/payments.repository.js';
import { BULL_BOARD_PATH } from './bull-board.routes.js';
import { paymentPath } from './chart/chart.stats.js';
import type { DrawnMachine } from './machine.routes.js';
import { paymentNotFoundPage, paymentPage } from './pages/payment.page.js';
import { isChargeSettled, type PaymentStatus } from '../machines/payment.types.js';
import { compensationOpen } from './compensation.view.js';
import { paymentView, type PaymentView } from './payment.view.js';

export interface PaymentRouteDeps {
  payments: Pick<PaymentsRepository, 'findWithHistory'>;
  /** The order's outbox rows, for "event published" on its timeline; optional so the pages work without it. */
  outbox?: PaymentEventSource;
  drawn: DrawnMachine;
  /** The Bull Board queue (the shard) an order's charge job is in. */
  queueNameOf: (orderId: string) => string;
}

export interface PaymentEventSource {
  eventsOf(orderId: string): Promise<PaymentEventRecord[]>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type PaymentRequest = FastifyRequest<{ Params: { orderId: string }; Querystring: { format?: string } }>;

/** A browser gets the page; programs (curl sends no text/html in Accept) get JSON. `?format=` overrides. */
export function wantsHtml(request: FastifyRequest<{ Querystring: { format?: string } }>): boolean {
  const format = request.query.format;
  if (format === 'json') return false;
  if (format === 'html') return true;
  return (request.headers.accept ?? '').includes('text/html');
}

/**
 * Nothing more will happen without new input: the chart's final state, or
 * (since no state is final once refunds and disputes can follow) a settled
 * charge with no refund or cancellation still to be answered. The page stops
 * reloading then.
 */
function isFinal(drawn: DrawnMachine, view: PaymentView): boolean {
  if (drawn.chart.states.find((s) => s.name === view.status)?.final) return true;
  return isChargeSettled(view.status as PaymentStatus) && !compensationOpen(view);
}

export function registerPaymentRoutes(app: FastifyInstance, deps: PaymentRouteDeps): void {
  // The search box on every page submits here.
  app.get<{ Querystring: { orderId?: string } }>('/payments', async (request, reply) => {
    const orderId = (request.query.orderId ?? '').trim();
    if (!orderId) return reply.code(400).send({ error: 'missing_order_id', message: 'give an order id: /payments/<orderId>' });
    return reply.redirect(`/payments/${encodeURIComponent(orderId)}`, 303);
  });

  app.get('/payments/:orderId', async (request: PaymentRequest, reply) => {
    const { orderId } = request.params;
    const html = wantsHtml(request);
    const refuse = (status: number, error: string, message: string) =>
      html
        ? reply.code(status).type('text/html; charset=utf-8').send(paymentNotFoundPage(orderId, message, status))
        : reply.code(status).send({ error, message, orderId });

    if (!UUID.test(orderId)) {
      return refuse(400, 'invalid_order_id', `"${orderId.slice(0, 80)}" is not an order id: order ids are UUIDs`);
    }
    const [found, events] = await Promise.all([
      deps.payments.findWithHistory(orderId),
      deps.outbox ? deps.outbox.eventsOf(orderId) : Promise.resolve([]),
    ]);
    if (!found) {
      return refuse(
        404,
        'payment_not_found',
        `no payment for order ${orderId}: its InventoryReserved event has not arrived, or was dead-lettered ` +
          '(invalid, a conflict or card data): look in the payment-service.dead-letter queue',
      );
    }
    const { payment, history } = found;
    const view = paymentView(payment, history, events, found);
    if (!html) return view;
    const path = paymentPath(deps.drawn.chart, history);
    return reply.type('text/html; charset=utf-8').send(
      paymentPage({
        view,
        layout: deps.drawn.layout,
        path,
        final: isFinal(deps.drawn, view),
        jobUrl: `${BULL_BOARD_PATH}/queue/${encodeURIComponent(deps.queueNameOf(orderId))}/${encodeURIComponent(orderId)}`,
        jsonUrl: `/payments/${orderId}?format=json`,
      }),
    );
  });
}
