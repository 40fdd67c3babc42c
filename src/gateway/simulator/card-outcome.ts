import { STICKY_FAULT_TOKENS } from './sticky-faults.js';
/**
 * Whether a confirmation charges or is declined: Stripe's named test tokens
 * (CONTRACT.md section 5) always do the same; any other token succeeds with
 * the success rate, decided by the request's own roll.
 */
export interface Decline {
  code: string;
  decline_code: string;
  message: string;
}

const DECLINING_METHODS: Record<string, Decline> = {
  pm_card_chargeDeclined: { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: {
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
};

const ALWAYS_SUCCEEDS = new Set(['pm_card_visa', ...STICKY_FAULT_TOKENS]);

/** The decline, or undefined when the charge succeeds. */
export function decideCharge(paymentMethod: string, successRoll: number, successRate: number): Decline | undefined {
  if (ALWAYS_SUCCEEDS.has(paymentMethod)) return undefined;
  const named = DECLINING_METHODS[paymentMethod];
  if (named) return named;
  return successRoll < successRate ? undefined : DECLINING_METHODS.pm_card_chargeDeclined;
}
