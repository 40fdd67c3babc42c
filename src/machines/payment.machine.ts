import { assign, enqueueActions, setup } from 'xstate';
import { failureOf, isRefundOutcome, REFUSAL_REASONS, routeOf, type RefusalCode, type Settles } from './payment.events.js';
import type { ChargedStatus } from './payment.refunds.js';
import {
  acceptsOutcome,
  adoptFound,
  applyOutcome,
  armCancellationRefund,
  cancellationStep,
  foundRefundFits,
  isKnownRefund,
  isStray,
  refundRefusal,
  reserveStray,
  statusByRefunded,
  strayChargeRefusal,
  type Refund,
} from './payment.refunds.js';
import type { PaymentContext, PaymentEvent, PaymentInput } from './payment.types.js';

export * from './payment.types.js';
export type { Cancellation, ChargedStatus, Dispute, Refund, RefundStatus } from './payment.refunds.js';

/**
 * One payment's life: Initiated → Processing → Success | Failed, then, once
 * charged, PartiallyRefunded, Refunded or Disputed as refunds and disputes arrive.
 *
 * Pure: no I/O here. The machine tells the worker what to do and the worker
 * sends the outcome back as an event. What is owed is state, not a one-off
 * action (`chargeOwed`, `voidOwed`, `refundsOwed` in payment.snapshot.ts read it
 * from the state and context), so a re-drive days later still knows it; the
 * events to publish are named effects (PAYMENT_EFFECTS), which the worker writes
 * to the outbox with the transition. So the persisted snapshot never holds a
 * half-run promise, and every transition is testable alone.
 *
 * Bump PAYMENT_MACHINE_VERSION whenever states or context change shape, and add
 * a step to `payment.snapshot.ts` that migrates the previous version.
 */
export const PAYMENT_MACHINE_VERSION = 5;

export const paymentMachine = setup({
  types: {
    context: {} as PaymentContext,
    events: {} as PaymentEvent,
    input: {} as PaymentInput,
  },
  actions: {
    // Named effects (PAYMENT_EFFECTS): the worker executes these; the machine only announces them.
    emitPaymentCompleted: () => {},
    emitPaymentFailed: () => {},
    emitPaymentCancelled: () => {},
    emitPaymentRefunded: () => {},
    emitRefundFailed: () => {},
    emitPaymentDisputed: () => {},
    countAttempt: assign({
      attempts: ({ context }) => context.attempts + 1,
    }),
    recordRoute: assign({
      gateways: ({ context, event }) => {
        const route = routeOf(event);
        if (!route) return context.gateways;
        const next = { ...context.gateways };
        for (const g of route.cleared) next[g] = 'not_charged';
        if (route.handle) next[route.handle.gateway] = 'maybe_charged';
        return next;
      },
      // A cleared gateway's handle is dropped: it cannot charge (cancelled or never confirmed), the next route there prepares anew.
      intents: ({ context, event }) => {
        const route = routeOf(event);
        if (!route) return context.intents;
        const next = { ...context.intents };
        for (const g of route.cleared) delete next[g];
        if (route.handle) next[route.handle.gateway] = route.handle.intentId;
        return next;
      },
      intentSeq: ({ context, event }) => context.intentSeq + (routeOf(event)?.handle ? 1 : 0),
    }),
    recordTransientError: assign({
      failures: ({ context }) => context.failures + 1,
      lastError: ({ event }) => (event.type === 'CHARGE_FAILED_TRANSIENTLY' ? `${event.code}: ${event.reason}` : null),
    }),
    recordSuccess: assign({
      transactionId: ({ event }) => (event.type === 'CHARGE_SUCCEEDED' ? event.transactionId : null),
      gateway: ({ event, context }) => (event.type === 'CHARGE_SUCCEEDED' ? event.gateway : context.gateway),
    }),
    recordFailure: assign({
      failureCode: ({ context, event }) => failureOf(context, event)?.code ?? null,
      failureReason: ({ context, event }) => failureOf(context, event)?.reason ?? null,
      gateway: ({ event, context }) => (event.type === 'CHARGE_DECLINED' && event.gateway ? event.gateway : context.gateway),
    }),
    recordCancellation: assign({
      cancellation: ({ context, event }) =>
        event.type === 'CANCEL' ? { refundId: event.refundId, reason: event.reason, answered: event.answered ?? false } : context.cancellation,
    }),
    answerCancellation: assign({
      cancellation: ({ context }) => context.cancellation && { ...context.cancellation, answered: true },
    }),
    /** PaymentCancelled, unless the cancellation was answered already (an order cancelled before it had a payment). */
    answerCancellationOnce: enqueueActions(({ context, enqueue }) => {
      if (!context.cancellation?.answered) enqueue('emitPaymentCancelled');
      enqueue('answerCancellation');
    }),
    reserveRefund: assign({
      refunds: ({ context, event }) => {
        if (event.type !== 'REFUND_REQUESTED') return context.refunds;
        const { refundId, amountMinor, reason } = event;
        const reserved: Refund = { amountMinor, status: 'requested', reason, cancel: false, attempt: 1, gatewayRefundId: null, failureCode: null, failureReason: null };
        return { ...context.refunds, [refundId]: reserved };
      },
    }),
    // Refunds that will never be sent: for their amount, because nothing was charged, or because the charge is disputed.
    refuseRefund: assign({ refunds: ({ context, event }) => refused(context, event) }),
    refuseNotCharged: assign({ refunds: ({ context, event }) => refused(context, event, 'not_charged') }),
    refuseDisputed: assign({ refunds: ({ context, event }) => refused(context, event, 'charge_disputed') }),
    settleRefund: assign(({ context, event }) => (isRefundOutcome(event) ? applyOutcome(context, event) : {})),
    /** After any change to the money held: (re)arm the cancellation's refund, or answer the cancellation. */
    followCancellation: enqueueActions(({ context, enqueue }) => {
      const next = cancellationStep(context);
      if (next === 'arm') enqueue.assign({ refunds: armCancellationRefund(context) });
      if (next === 'answer') enqueue('answerCancellationOnce');
    }),
    // Reconciliation's repairs: a stray charge's refund to send, a refund made outside the service taken in.
    reserveStrayRefund: assign({
      refunds: ({ context, event }) => (event.type === 'STRAY_CHARGE_FOUND' ? reserveStray(context, event) : context.refunds),
    }),
    adoptFoundRefund: assign(({ context, event }) => (event.type === 'GATEWAY_REFUND_FOUND' ? adoptFound(context, event) : {})),
    recordDispute: assign({
      dispute: ({ context, event }) =>
        event.type === 'DISPUTE_OPENED' ? { disputeId: event.disputeId, amountMinor: event.amountMinor, reason: event.reason } : context.dispute,
    }),
  },
  guards: {
    hasTransactionId: ({ event }) => event.type === 'CHARGE_SUCCEEDED' && event.transactionId.length > 0,
    attemptsExhausted: ({ context }) => context.failures >= context.maxAttempts,
    cancelRequested: ({ context }) => context.cancellation !== null,
    notCancelled: ({ context }) => context.cancellation === null,
    exhaustedAndCancelled: ({ context }) => context.failures >= context.maxAttempts && context.cancellation !== null,
    isNewRefund: ({ context, event }) => event.type === 'REFUND_REQUESTED' && !isKnownRefund(context, event.refundId),
    newRefundFits: ({ context, event }) =>
      event.type === 'REFUND_REQUESTED' && !isKnownRefund(context, event.refundId) && refundRefusal(context, event.amountMinor) === null,
    strayChargeIsNew: ({ context, event }) => event.type === 'STRAY_CHARGE_FOUND' && strayChargeRefusal(context, event) === null,
    /** An outcome of a stray charge's refund: it moves no money of the payment's own charge, so no status changes. */
    straySettles: ({ context, event }) => isRefundOutcome(event) && acceptsOutcome(context, event) && isStray(context.refunds[event.refundId]!),
    foundRefundSettles: ({ context, event }, params: { to: ChargedStatus }) =>
      event.type === 'GATEWAY_REFUND_FOUND' && foundRefundFits(context, event) && statusByRefunded({ ...context, ...adoptFound(context, event) }) === params.to,
    refundSettles: ({ context, event }, params: Settles | undefined) => {
      if (!isRefundOutcome(event) || !acceptsOutcome(context, event)) return false;
      if (params?.cancel !== undefined && context.refunds[event.refundId]!.cancel !== params.cancel) return false;
      return params?.to === undefined || statusByRefunded({ ...context, ...applyOutcome(context, event) }) === params.to;
    },
  },
}).createMachine({
  id: 'payment',
  initial: 'Initiated',
  context: ({ input }) => ({
    ...input,
    attempts: 0,
    failures: 0,
    transactionId: null,
    gateway: null,
    failureCode: null,
    failureReason: null,
    lastError: null,
    gateways: {},
    intents: {},
    intentSeq: 0,
    legacyCharge: false,
    refunds: {},
    amountRefundedMinor: '0',
    cancellation: null,
    dispute: null,
  }),
  states: {
    Initiated: {
      // The charge phase: a charge is owed here unless a cancellation asks for a void (payment.snapshot.ts chargeOwed).
      tags: ['chargeOwed'],
      on: {
        START: { target: 'Processing', actions: 'recordRoute' },
        REJECT: { target: 'Failed', actions: 'recordFailure' },
        // Nothing was ever sent: PaymentFailed(order_cancelled) is the order's terminal event, PaymentCancelled the answer.
        CANCEL: { target: 'Failed', actions: ['recordCancellation', 'recordFailure', 'answerCancellationOnce'] },
      },
    },
    Processing: {
      tags: ['chargeOwed'],
      entry: ['countAttempt'],
      on: {
        // Charged despite a cancellation: PaymentCompleted stands and the refund of everything follows (followCancellation).
        CHARGE_SUCCEEDED: { guard: 'hasTransactionId', target: 'Success', actions: ['recordSuccess', 'emitPaymentCompleted', 'followCancellation'] },
        CHARGE_DECLINED: [
          { guard: 'cancelRequested', target: 'Failed', actions: ['recordFailure', 'answerCancellationOnce'] },
          { target: 'Failed', actions: 'recordFailure' },
        ],
        CHARGE_FAILED_TRANSIENTLY: [
          // Settling a cancellation's void failed for now: no new charge is asked for, so no attempt is counted.
          { guard: 'cancelRequested', actions: ['recordTransientError', 'recordRoute'] },
          // Re-entering Processing counts the next attempt and asks for another charge.
          { target: 'Processing', reenter: true, actions: ['recordTransientError', 'recordRoute'] },
        ],
        // Once cancelled, no new handle may be prepared: only voiding the known ones is owed.
        ROUTE: { guard: 'notCancelled', actions: 'recordRoute' },
        GIVE_UP: [
          { guard: 'exhaustedAndCancelled', target: 'Failed', actions: ['recordFailure', 'answerCancellationOnce'] },
          { guard: 'attemptsExhausted', target: 'Failed', actions: 'recordFailure' },
        ],
        // The outcome is unknown: record the cancellation; the worker voids instead of charging (voidOwed).
        CANCEL: { guard: 'notCancelled', actions: 'recordCancellation' },
        CHARGE_VOIDED: { guard: 'cancelRequested', target: 'Failed', actions: ['recordRoute', 'recordFailure', 'answerCancellationOnce'] },
      },
    },
    Success: {
      on: {
        ...charged(),
        GATEWAY_REFUND_FOUND: [
          { guard: { type: 'foundRefundSettles', params: { to: 'Refunded' } }, target: 'Refunded', actions: ['adoptFoundRefund', 'emitPaymentRefunded', 'followCancellation'] },
          { guard: { type: 'foundRefundSettles', params: { to: 'PartiallyRefunded' } }, target: 'PartiallyRefunded', actions: ['adoptFoundRefund', 'emitPaymentRefunded', 'followCancellation'] },
        ],
        REFUND_SUCCEEDED: [
          { guard: 'straySettles', actions: 'settleRefund' },
          { guard: { type: 'refundSettles', params: { to: 'Refunded' } }, target: 'Refunded', actions: ['settleRefund', 'emitPaymentRefunded', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { to: 'PartiallyRefunded' } }, target: 'PartiallyRefunded', actions: ['settleRefund', 'emitPaymentRefunded', 'followCancellation'] },
        ],
        // Only a refund still in flight can fail here: nothing was refunded, so the payment stays Success.
        REFUND_FAILED: [
          { guard: 'straySettles', actions: 'settleRefund' },
          { guard: { type: 'refundSettles', params: { cancel: true } }, actions: ['settleRefund', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { cancel: false } }, actions: ['settleRefund', 'emitRefundFailed', 'followCancellation'] },
        ],
      },
    },
    PartiallyRefunded: {
      on: {
        ...charged(),
        GATEWAY_REFUND_FOUND: [
          { guard: { type: 'foundRefundSettles', params: { to: 'Refunded' } }, target: 'Refunded', actions: ['adoptFoundRefund', 'emitPaymentRefunded', 'followCancellation'] },
          { guard: { type: 'foundRefundSettles', params: { to: 'PartiallyRefunded' } }, actions: ['adoptFoundRefund', 'emitPaymentRefunded', 'followCancellation'] },
        ],
        REFUND_SUCCEEDED: [
          { guard: 'straySettles', actions: 'settleRefund' },
          { guard: { type: 'refundSettles', params: { to: 'Refunded' } }, target: 'Refunded', actions: ['settleRefund', 'emitPaymentRefunded', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { to: 'PartiallyRefunded' } }, actions: ['settleRefund', 'emitPaymentRefunded', 'followCancellation'] },
        ],
        REFUND_FAILED: [
          { guard: 'straySettles', actions: 'settleRefund' },
          // The only succeeded refund turned failed (Stripe allows it): nothing is refunded any more.
          { guard: { type: 'refundSettles', params: { to: 'Success', cancel: true } }, target: 'Success', actions: ['settleRefund', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { to: 'Success', cancel: false } }, target: 'Success', actions: ['settleRefund', 'emitRefundFailed', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { cancel: true } }, actions: ['settleRefund', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { cancel: false } }, actions: ['settleRefund', 'emitRefundFailed', 'followCancellation'] },
        ],
      },
    },
    Refunded: {
      on: {
        ...charged(),
        // Nothing of its own is in flight once all is refunded: a stray charge's refund settles, or a succeeded refund turns failed.
        REFUND_SUCCEEDED: { guard: 'straySettles', actions: 'settleRefund' },
        REFUND_FAILED: [
          { guard: 'straySettles', actions: 'settleRefund' },
          { guard: { type: 'refundSettles', params: { to: 'Success', cancel: true } }, target: 'Success', actions: ['settleRefund', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { to: 'Success', cancel: false } }, target: 'Success', actions: ['settleRefund', 'emitRefundFailed', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { cancel: true } }, target: 'PartiallyRefunded', actions: ['settleRefund', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { cancel: false } }, target: 'PartiallyRefunded', actions: ['settleRefund', 'emitRefundFailed', 'followCancellation'] },
        ],
      },
    },
    Disputed: {
      // The network holds the disputed funds and the gateway refuses to refund a disputed charge:
      // refunds already in flight still settle, new ones are refused, a cancellation is answered PaymentCancelled.
      on: {
        CANCEL: { guard: 'notCancelled', actions: ['recordCancellation', 'followCancellation'] },
        REFUND_REQUESTED: { guard: 'isNewRefund', actions: ['refuseDisputed', 'emitRefundFailed'] },
        REFUND_PENDING: { guard: 'refundSettles', actions: 'settleRefund' },
        STRAY_CHARGE_FOUND: { guard: 'strayChargeIsNew', actions: 'reserveStrayRefund' },
        REFUND_SUCCEEDED: [
          { guard: 'straySettles', actions: 'settleRefund' },
          { guard: 'refundSettles', actions: ['settleRefund', 'emitPaymentRefunded', 'followCancellation'] },
        ],
        REFUND_FAILED: [
          { guard: 'straySettles', actions: 'settleRefund' },
          { guard: { type: 'refundSettles', params: { cancel: true } }, actions: ['settleRefund', 'followCancellation'] },
          { guard: { type: 'refundSettles', params: { cancel: false } }, actions: ['settleRefund', 'emitRefundFailed', 'followCancellation'] },
        ],
      },
    },
    Failed: {
      // Entered only from the charge phase, and left never: PaymentFailed is emitted once.
      entry: 'emitPaymentFailed',
      on: {
        CANCEL: { guard: 'notCancelled', actions: ['recordCancellation', 'answerCancellationOnce'] },
        REFUND_REQUESTED: { guard: 'isNewRefund', actions: ['refuseNotCharged', 'emitRefundFailed'] },
        // Charged after all (reconciliation found it): the money goes back, and the saga, told PaymentFailed, hears PaymentRefunded.
        STRAY_CHARGE_FOUND: { guard: 'strayChargeIsNew', actions: 'reserveStrayRefund' },
        REFUND_PENDING: { guard: 'straySettles', actions: 'settleRefund' },
        REFUND_SUCCEEDED: { guard: 'straySettles', actions: ['settleRefund', 'emitPaymentRefunded'] },
        // Nobody asked for it, so there is no one to answer RefundFailed: the next pass reports the charge again.
        REFUND_FAILED: { guard: 'straySettles', actions: 'settleRefund' },
      },
    },
  },
});

/**
 * The refunds with this request recorded as refused, so the same refundId again is
 * absorbed: refused for `code`, or (none given) for what the amount check finds.
 */
function refused(context: PaymentContext, event: PaymentEvent, code?: RefusalCode): PaymentContext['refunds'] {
  if (event.type !== 'REFUND_REQUESTED') return context.refunds;
  const { refundId, amountMinor, reason } = event;
  const why: RefusalCode = code ?? refundRefusal(context, amountMinor) ?? 'exceeds_refundable';
  const refund: Refund = {
    amountMinor,
    status: 'failed',
    reason,
    cancel: false,
    attempt: 0,
    gatewayRefundId: null,
    failureCode: why,
    failureReason: REFUSAL_REASONS[why](amountMinor, context.amountMinor),
  };
  return { ...context.refunds, [refundId]: refund };
}

/** What every charged, undisputed state accepts alike: a cancellation, a new refund, a refund going pending, a stray charge to refund, a dispute. */
function charged() {
  return {
    CANCEL: { guard: 'notCancelled', actions: ['recordCancellation', 'followCancellation'] },
    REFUND_REQUESTED: [
      { guard: 'newRefundFits', actions: 'reserveRefund' },
      { guard: 'isNewRefund', actions: ['refuseRefund', 'emitRefundFailed'] },
    ],
    REFUND_PENDING: { guard: 'refundSettles', actions: 'settleRefund' },
    STRAY_CHARGE_FOUND: { guard: 'strayChargeIsNew', actions: 'reserveStrayRefund' },
    DISPUTE_OPENED: { target: 'Disputed', actions: ['recordDispute', 'emitPaymentDisputed'] },
  } as const;
}

export type PaymentMachine = typeof paymentMachine;
