import { assign, setup } from 'xstate';

/**
 * One payment's life: Initiated → Processing → Success | Failed.
 *
 * Pure: no I/O here. The machine tells the worker what to do and the worker
 * sends the outcome back as an event: the `chargeOwed` tag on Processing says a
 * charge is owed (the worker charges while it is there and attempts are left,
 * on this attempt or on a re-drive, so it is state, not a one-off action), and
 * the terminal states' entry actions name the event to publish
 * (`emitPaymentCompleted`, `emitPaymentFailed`), which the worker writes to the
 * outbox with the state. So the persisted snapshot never holds a half-run
 * promise, and every transition is testable alone.
 *
 * Bump PAYMENT_MACHINE_VERSION whenever states or context change shape, and add
 * a step to `payment.snapshot.ts` that migrates the previous version.
 */
export const PAYMENT_MACHINE_VERSION = 3;

export interface PaymentInput {
  orderId: string;
  paymentId: string;
  /** Minor units as a decimal integer string: bigint is not JSON, a float is not money. */
  amountMinor: string;
  currency: string;
  /** How many gateway attempts must fail transiently before the payment may give up. */
  maxAttempts: number;
}

/**
 * What we know about a gateway for this payment. `maybe_charged`: a charge was
 * sent there (or may have been) and no look-up has settled it, so the payment
 * must not move to another gateway. `not_charged`: settled, it is safe to move on.
 */
export type GatewayKnowledge = 'maybe_charged' | 'not_charged';

export interface PaymentContext extends PaymentInput {
  /** Gateway charges asked for (counted on each entry to Processing). */
  attempts: number;
  /** Of those, how many ended in a transient error. */
  failures: number;
  transactionId: string | null;
  gateway: string | null;
  failureCode: string | null;
  failureReason: string | null;
  lastError: string | null;
  /**
   * Since version 2. A gateway is recorded `maybe_charged` with its handle
   * (ROUTE), and `not_charged` once that handle is cancelled. A missing entry
   * means nothing was ever confirmed there, except for `legacyCharge` payments.
   */
  gateways: Record<string, GatewayKnowledge>;
  /**
   * Since version 3. The gateway's handle (payment intent id) of the charge
   * prepared there, committed before it is confirmed: an unknown outcome is
   * settled by reading or cancelling it, never by search.
   */
  intents: Record<string, string>;
  /** Since version 3. Handles recorded so far: numbers the next prepare's idempotency key. */
  intentSeq: number;
  /**
   * Since version 3. Migrated from an older version while Processing: a charge
   * may have gone to the primary before handles were recorded. Only search can
   * find it, and search lags, so such a payment is never failed on a miss.
   */
  legacyCharge: boolean;
}

export type PaymentEvent =
  /**
   * The worker picked the payment up: a charge is owed from now on. It usually
   * carries the handle of the charge prepared at `gateway` (recorded as ROUTE does),
   * so the first handle costs no commit of its own.
   */
  | { type: 'START'; gateway?: string; intentId?: string; cleared?: string[] }
  /** The payment data is invalid (amount, currency, method): fail without charging. */
  | { type: 'REJECT'; code: 'invalid_request'; reason: string }
  | { type: 'CHARGE_SUCCEEDED'; transactionId: string; gateway: string }
  /** A definite, permanent refusal: declined card, invalid request. Never retried. */
  | { type: 'CHARGE_DECLINED'; code: string; reason: string; gateway?: string }
  /** Transient error, or unknown outcome settled as "not charged": try again later. `cleared` gateways certainly did not charge. */
  | { type: 'CHARGE_FAILED_TRANSIENTLY'; code: string; reason: string; cleared?: string[] }
  /** The charge prepared at `gateway` has handle `intentId`: recorded before it is confirmed. */
  | { type: 'ROUTE'; gateway: string; intentId: string; cleared?: string[] }
  /** Attempts are spent and a last look-up found no charge. */
  | { type: 'GIVE_UP'; reason: string };

/** What an event says about gateways: those now certainly not charged, and a handle just prepared. */
function routeOf(event: PaymentEvent): { cleared: string[]; handle?: { gateway: string; intentId: string } } | undefined {
  if (event.type !== 'ROUTE' && event.type !== 'START' && event.type !== 'CHARGE_FAILED_TRANSIENTLY') return undefined;
  const handle = event.type !== 'CHARGE_FAILED_TRANSIENTLY' && event.gateway && event.intentId ? { gateway: event.gateway, intentId: event.intentId } : undefined;
  return { cleared: event.cleared ?? [], ...(handle ? { handle } : {}) };
}

export type PaymentStatus = 'Initiated' | 'Processing' | 'Success' | 'Failed';
export const PAYMENT_STATUSES: readonly PaymentStatus[] = ['Initiated', 'Processing', 'Success', 'Failed'];
export const TERMINAL_STATUSES: readonly PaymentStatus[] = ['Success', 'Failed'];

export const paymentMachine = setup({
  types: {
    context: {} as PaymentContext,
    events: {} as PaymentEvent,
    input: {} as PaymentInput,
  },
  actions: {
    // Named effects: the worker executes these; the machine only announces them.
    emitPaymentCompleted: () => {},
    emitPaymentFailed: () => {},
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
      failureCode: ({ event }) => {
        if (event.type === 'REJECT' || event.type === 'CHARGE_DECLINED') return event.code;
        if (event.type === 'GIVE_UP') return 'gateway_unavailable';
        return null;
      },
      failureReason: ({ event }) =>
        event.type === 'REJECT' || event.type === 'CHARGE_DECLINED' || event.type === 'GIVE_UP' ? event.reason : null,
      gateway: ({ event, context }) =>
        event.type === 'CHARGE_DECLINED' && event.gateway ? event.gateway : context.gateway,
    }),
  },
  guards: {
    hasTransactionId: ({ event }) => event.type === 'CHARGE_SUCCEEDED' && event.transactionId.length > 0,
    attemptsExhausted: ({ context }) => context.failures >= context.maxAttempts,
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
  }),
  states: {
    Initiated: {
      // Accepted and waiting for its first charge: owed as much as in Processing.
      tags: ['chargeOwed'],
      on: {
        START: { target: 'Processing', actions: 'recordRoute' },
        REJECT: { target: 'Failed', actions: 'recordFailure' },
      },
    },
    Processing: {
      // A charge is owed while here (the tag): the worker charges a payment in this state until attempts are spent.
      tags: ['chargeOwed'],
      entry: ['countAttempt'],
      on: {
        CHARGE_SUCCEEDED: { guard: 'hasTransactionId', target: 'Success', actions: 'recordSuccess' },
        CHARGE_DECLINED: { target: 'Failed', actions: 'recordFailure' },
        // Re-entering Processing counts the next attempt and asks for another charge.
        CHARGE_FAILED_TRANSIENTLY: { target: 'Processing', reenter: true, actions: ['recordTransientError', 'recordRoute'] },
        ROUTE: { actions: 'recordRoute' },
        GIVE_UP: { guard: 'attemptsExhausted', target: 'Failed', actions: 'recordFailure' },
      },
    },
    Success: { type: 'final', entry: 'emitPaymentCompleted' },
    Failed: { type: 'final', entry: 'emitPaymentFailed' },
  },
});

export type PaymentMachine = typeof paymentMachine;
