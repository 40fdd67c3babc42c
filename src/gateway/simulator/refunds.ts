import { createCreationIndex, type CreationIndex } from './creation-index.js';
import type { Publish } from './events.js';
import { resourceMissing, stripeError, type SimResponse } from './http-io.js';
import { listPage } from './list-page.js';
import type { PaymentIntent, PaymentIntentStore } from './payment-intents.js';
import type { Random } from './prng.js';
import { newRefund, settled, type Refund, type RefundStatus } from './refund-object.js';
import { parseRefund } from './refund-params.js';
import type { SimulatorSettings } from './simulator.settings.js';
import type { Timers } from './timers.js';

/**
 * Stripe's Refunds API over the simulator's payment intents. What is still
 * refundable is the amount received less every refund that has not failed
 * (a pending refund holds its amount; a failed one gives it back), checked
 * when the request runs on the single-threaded server, so concurrent refunds
 * never add up to more than the charge.
 */

/** One refund as `GET /_sim/refunds` lists it. */
export interface RefundLedgerEntry {
  id: string;
  paymentIntent: string;
  orderId: string | null;
  /** Minor units as a decimal string. */
  amount: string;
  /** ISO 4217, upper case, as the charges ledger. */
  currency: string;
  status: RefundStatus;
  /** Unix seconds. */
  created: number;
}

export interface RefundStoreDeps {
  intents: Pick<PaymentIntentStore, 'get' | 'charge'>;
  /** Unix seconds on the simulator's clock. */
  unixSeconds: () => number;
  /** Draws the pending and failure dice, two per refund. */
  random: Random;
  settings: () => Pick<SimulatorSettings, 'refundPendingRate' | 'refundFailRate' | 'refundSettleMs'>;
  publish: Publish;
  /** Stripe's charge object for `charge.refunded`, with this refund counted. */
  chargeObject: (chargeId: string) => unknown;
  timers: Timers;
}

export function createRefundStore({ intents, unixSeconds, random, settings, publish, chargeObject, timers }: RefundStoreDeps) {
  const refunds = new Map<string, Refund>();
  const listOrder = createCreationIndex();
  // Each intent's own refunds, so its list and what is left to refund do not scan every refund.
  const listOrderOf = new Map<string, CreationIndex>();

  const refundsOf = (intentId: string): Refund[] => (listOrderOf.get(intentId)?.ids() ?? []).map((id) => refunds.get(id)!);
  const refundedOf = (intentId: string): number =>
    refundsOf(intentId).reduce((sum, refund) => (refund.status === 'failed' ? sum : sum + refund.amount), 0);

  function create(body: Record<string, unknown>): SimResponse {
    const params = parseRefund(body);
    if ('status' in params) return params;
    const intentId = params.paymentIntent ?? intents.charge(params.charge!)?.paymentIntent;
    const intent = intentId === undefined ? undefined : intents.get(intentId);
    if (!intent) return params.paymentIntent ? missing('payment_intent', params.paymentIntent) : missing('charge', params.charge!);
    if (params.charge !== undefined && params.charge !== intent.latest_charge) {
      return stripeError(400, {
        type: 'invalid_request_error',
        param: 'charge',
        message: `Charge ${params.charge.slice(0, 80)} did not succeed: only a successful charge can be refunded.`,
      });
    }
    const refusal = refusalFor(intent, params.amount);
    if (refusal) return refusal;
    const [pendingRoll, failRoll] = [random(), random()];
    const { refundPendingRate, refundFailRate, refundSettleMs } = settings();
    const pending = pendingRoll < refundPendingRate;
    const fails = failRoll < refundFailRate;
    const refund = newRefund({
      amount: params.amount ?? intent.amount_received - refundedOf(intent.id),
      charge: intent.latest_charge!,
      currency: intent.currency,
      paymentIntent: intent.id,
      paymentMethod: intent.payment_method,
      metadata: params.metadata,
      reason: params.reason,
      status: pending ? 'pending' : fails ? 'failed' : 'succeeded',
      created: unixSeconds(),
    });
    refunds.set(refund.id, refund);
    index(refund);
    if (refund.status === 'failed') publish('refund.failed', refund);
    else publish('charge.refunded', chargeObject(refund.charge));
    if (pending) timers.after(refundSettleMs, () => settle(refund.id, fails ? 'failed' : 'succeeded'));
    return { status: 200, body: refund };
  }

  function index(refund: Refund): void {
    listOrder.add(refund.id, refund.created);
    let ofIntent = listOrderOf.get(refund.payment_intent);
    if (!ofIntent) listOrderOf.set(refund.payment_intent, (ofIntent = createCreationIndex()));
    ofIntent.add(refund.id, refund.created);
  }

  /** Stripe's refusals, in the order Stripe checks them: nothing charged, nothing left, too much asked. */
  function refusalFor(intent: PaymentIntent, amount: number | undefined): SimResponse | undefined {
    if (intent.status !== 'succeeded' || !intent.latest_charge) {
      return stripeError(400, {
        type: 'invalid_request_error',
        param: 'payment_intent',
        message: `This PaymentIntent (${intent.id}) does not have a successful charge to refund.`,
      });
    }
    const left = intent.amount_received - refundedOf(intent.id);
    if (left <= 0) {
      return stripeError(400, {
        type: 'invalid_request_error',
        code: 'charge_already_refunded',
        message: `Charge ${intent.latest_charge} has already been refunded.`,
      });
    }
    if (amount !== undefined && amount > left) {
      const unit = `${intent.currency.toUpperCase()} minor units`;
      return stripeError(400, {
        type: 'invalid_request_error',
        code: 'amount_too_large',
        param: 'amount',
        message: `Refund amount (${amount} ${unit}) is greater than unrefunded amount on charge (${left} ${unit})`,
      });
    }
    return undefined;
  }

  function settle(id: string, status: 'succeeded' | 'failed'): void {
    const refund = refunds.get(id);
    if (!refund || refund.status !== 'pending') return;
    const next = settled(refund, status);
    refunds.set(id, next);
    publish('refund.updated', next, { status: 'pending' });
    if (status === 'failed') publish('refund.failed', next);
  }

  function retrieve(id: string): SimResponse {
    const refund = refunds.get(id);
    return refund ? { status: 200, body: refund } : missing('refund', id);
  }

  /** Stripe's list, newest first; `payment_intent` narrows it to one intent's refunds. */
  function list(query: URLSearchParams): SimResponse {
    const intentId = query.get('payment_intent');
    const order = intentId ? (listOrderOf.get(intentId) ?? createCreationIndex()) : listOrder;
    return listPage(order, (id) => refunds.get(id), query, '/v1/refunds', 'refund');
  }

  function ledger(): RefundLedgerEntry[] {
    return [...refunds.values()].map((refund) => ({
      id: refund.id,
      paymentIntent: refund.payment_intent,
      orderId: intents.get(refund.payment_intent)?.metadata.orderId ?? null,
      amount: String(refund.amount),
      currency: refund.currency.toUpperCase(),
      status: refund.status,
      created: refund.created,
    }));
  }

  return { create, retrieve, list, ledger, refundsOf, refundedOf };
}

export type RefundStore = ReturnType<typeof createRefundStore>;

const missing = (resource: string, id: string, param = resource): SimResponse => resourceMissing(resource, id, param);
