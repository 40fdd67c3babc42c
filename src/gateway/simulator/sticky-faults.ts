/**
 * Simulator-only test tokens whose every confirmation meets the same fault,
 * so a test can make some payments fail on every attempt while others pass
 * (the SIM_*_RATE faults hit requests at random instead). Stripe has no such
 * tokens; each charges like `pm_card_visa` whenever the charge runs.
 *   pm_card_sim_lostResponse  charges, then drops the connection: the caller never hears
 *   pm_card_sim_timeout       never answered and never charged
 *   pm_card_sim_lateCharge    never answered; charges LATE_CHARGE_MS later, unless the
 *                             intent was cancelled by then (a confirm still in flight
 *                             at the gateway after the caller gave up on it)
 */
export type StickyFault = 'lose-response' | 'timeout' | 'late-charge';

const TOKENS: Record<string, StickyFault> = {
  pm_card_sim_lostResponse: 'lose-response',
  pm_card_sim_timeout: 'timeout',
  pm_card_sim_lateCharge: 'late-charge',
};

export const STICKY_FAULT_TOKENS: readonly string[] = Object.keys(TOKENS);

/** Longer than any sensible client timeout in tests, short enough for a run to see it land. */
export const LATE_CHARGE_MS = 3000;

const CONFIRM = /^\/v1\/payment_intents\/([\w-]+)\/confirm\/?$/;

/** The sticky fault of a confirmation request, from the method it passes or the intent's own. */
export function stickyFaultOf(
  method: string,
  path: string,
  body: Record<string, unknown> | undefined,
  paymentMethodOf: (intentId: string) => string | null | undefined,
): StickyFault | undefined {
  const confirm = method === 'POST' ? CONFIRM.exec(path) : null;
  if (!confirm) return undefined;
  const passed = typeof body?.payment_method === 'string' ? body.payment_method : undefined;
  return TOKENS[passed ?? paymentMethodOf(confirm[1]!) ?? ''];
}
