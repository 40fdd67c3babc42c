/** What a screen sees of a payment before its first charge. Card data never reaches it: only the method's token. */
export interface RiskSubject {
  orderId: string;
  paymentId: string;
  customerId: string | null;
  paymentMethod: string | null;
  amountMinor: bigint;
  currency: string;
}

/** `rule` names the rule that blocked, `reason` says so in words without repeating the payment's values. */
export type RiskDecision = { decision: 'allow' } | { decision: 'block'; rule: string; reason: string };

/**
 * Screens a payment before its first charge; a block fails it without calling
 * any gateway. The processor calls `screen` again when an attempt is retried
 * before anything was committed, so an implementation must answer the same
 * order the same way and count it once (key any counting by `orderId`).
 *
 * The rule file (`rule-file.ts`) is one implementation. An external scorer
 * (Stripe Radar's outcome, a model's score) plugs in behind this same
 * interface: an adapter that calls it, maps its answer to allow/block with its
 * own `rule` name (e.g. `radar:highest_risk`), and throws on an unreachable
 * scorer so the job is retried rather than the payment charged unscreened. Two
 * screens compose by running the rule file first and the scorer only on allow.
 */
export interface RiskScreen {
  screen(payment: RiskSubject): Promise<RiskDecision>;
}
