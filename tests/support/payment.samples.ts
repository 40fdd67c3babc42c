import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { paymentMachine, type PaymentEvent, type PaymentInput } from '../../src/machines/payment.machine.js';

/**
 * Shared sample input and events for the pure machine tests. Nothing here runs
 * an effect: `step` returns the effect names the worker would run.
 */

export type PaymentSnapshot = SnapshotFrom<typeof paymentMachine>;
type EventOf<K extends PaymentEvent['type']> = Extract<PaymentEvent, { type: K }>;

export const sampleInput: PaymentInput = {
  orderId: '9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10',
  paymentId: '3b0c5a1e-8d7f-4e2a-9c61-5f4d2e1a0b93',
  amountMinor: '4999',
  currency: 'USD',
  maxAttempts: 3,
};

/** One well-formed event of every type the machine knows. */
export const sampleEvents: { [K in PaymentEvent['type']]: EventOf<K> } = {
  START: { type: 'START' },
  REJECT: { type: 'REJECT', code: 'invalid_request', reason: 'amount "49.9" must have exactly 2 decimal digit(s)' },
  CHARGE_SUCCEEDED: { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_3Ok1sim', gateway: 'stripe' },
  CHARGE_DECLINED: { type: 'CHARGE_DECLINED', code: 'card_declined', reason: 'Your card was declined.', gateway: 'stripe' },
  CHARGE_FAILED_TRANSIENTLY: { type: 'CHARGE_FAILED_TRANSIENTLY', code: 'gateway_timeout', reason: 'no answer in 10000 ms' },
  ROUTE: { type: 'ROUTE', gateway: 'secondary', intentId: 'pi_3Ok2sim', cleared: ['stripe'] },
  GIVE_UP: { type: 'GIVE_UP', reason: 'gateway unreachable after 3 attempts, no charge found' },
  CANCEL: { type: 'CANCEL', reason: 'customer cancelled the order', refundId: 'cancel-3b0c5a1e' },
  CHARGE_VOIDED: { type: 'CHARGE_VOIDED', cleared: ['stripe'] },
  REFUND_REQUESTED: { type: 'REFUND_REQUESTED', refundId: '7c2e4b1a-5d6f-4a8b-9c0d-1e2f3a4b5c6d', amountMinor: '1000', reason: 'damaged item' },
  REFUND_PENDING: { type: 'REFUND_PENDING', refundId: '7c2e4b1a-5d6f-4a8b-9c0d-1e2f3a4b5c6d', gatewayRefundId: 're_1sim' },
  REFUND_SUCCEEDED: { type: 'REFUND_SUCCEEDED', refundId: '7c2e4b1a-5d6f-4a8b-9c0d-1e2f3a4b5c6d', gatewayRefundId: 're_1sim' },
  REFUND_FAILED: {
    type: 'REFUND_FAILED',
    refundId: '7c2e4b1a-5d6f-4a8b-9c0d-1e2f3a4b5c6d',
    code: 'expired_or_canceled_card',
    reason: 'the card was closed',
    gatewayRefundId: 're_1sim',
  },
  DISPUTE_OPENED: { type: 'DISPUTE_OPENED', disputeId: 'dp_1sim', amountMinor: '4999', reason: 'fraudulent' },
  STRAY_CHARGE_FOUND: { type: 'STRAY_CHARGE_FOUND', refundId: '5e1d2c3b-4a59-5687-9a0b-1c2d3e4f5a6b', intentId: 'pi_3Ok9dup', amountMinor: '4999', reason: 'reconciliation: duplicate_charge' },
  GATEWAY_REFUND_FOUND: { type: 'GATEWAY_REFUND_FOUND', refundId: '6f2e3d4c-5b6a-5798-8b1c-2d3e4f5a6b7c', gatewayRefundId: 're_1dash', amountMinor: '999', reason: 'reconciliation: refund made at the gateway' },
};

export const EVENT_TYPES = Object.keys(sampleEvents) as PaymentEvent['type'][];

export interface Stepped {
  snapshot: PaymentSnapshot;
  /** Names of the actions the worker would run; xstate's built-ins (assign) are not effects. */
  effects: string[];
}

export function start(input: PaymentInput = sampleInput): PaymentSnapshot {
  return initialTransition(paymentMachine, input)[0];
}

export function step(snapshot: PaymentSnapshot, event: PaymentEvent): Stepped {
  const [next, actions] = transition(paymentMachine, snapshot, event);
  return { snapshot: next, effects: actions.map((a) => a.type).filter((t) => !t.startsWith('xstate.')) };
}

/** The snapshot after sending `events` in order from a new payment. */
export function reach(events: PaymentEvent[], input: PaymentInput = sampleInput): PaymentSnapshot {
  return events.reduce((snapshot, event) => step(snapshot, event).snapshot, start(input));
}

/** Events that lead a new payment to Success. */
export function toSuccess(): PaymentEvent[] {
  return [sampleEvents.START, sampleEvents.CHARGE_SUCCEEDED];
}

/** Events that lead a new payment into Processing after `failures` transient failures. */
export function toProcessing(failures = 0): PaymentEvent[] {
  return [sampleEvents.START, ...Array.from({ length: failures }, () => sampleEvents.CHARGE_FAILED_TRANSIENTLY)];
}
