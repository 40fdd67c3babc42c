import { readFileSync } from 'node:fs';
import type { RedisClient } from '../redis.js';
import { z } from 'zod';
import { MoneyError, parseAmount } from '../money.js';
import type { RiskDecision, RiskScreen, RiskSubject } from './risk.port.js';
import { countInWindow } from './velocity.js';

/**
 * The rule file of CONTRACT.md section 10. Every key is optional; an unknown
 * key is refused, as a misspelt rule would otherwise be silently off.
 */
const rulesSchema = z.strictObject({
  /** Per currency, the largest amount allowed, as a decimal string with the currency's digits. */
  maxAmount: z
    .record(z.string(), z.unknown())
    .transform((limits, ctx) => {
      const parsed: Record<string, bigint> = {};
      for (const [currency, amount] of Object.entries(limits)) {
        try {
          parsed[currency] = parseAmount(amount, currency);
        } catch (err) {
          if (!(err instanceof MoneyError)) throw err;
          ctx.addIssue({ code: 'custom', path: [currency], message: err.message });
        }
      }
      return parsed;
    })
    .optional(),
  customerVelocity: z
    .strictObject({
      max: z.number().int().min(1),
      windowSeconds: z.number().int().min(1).max(31 * 86_400),
    })
    .optional(),
  blockedCustomers: z.array(z.string().min(1)).optional(),
  blockedPaymentMethods: z.array(z.string().min(1)).optional(),
});

export type RiskRules = z.infer<typeof rulesSchema>;

/** A rule file that cannot be used; the message is one line naming the file and each bad rule. */
export class RiskRulesError extends Error {
  override name = 'RiskRulesError';
  constructor(
    readonly source: string,
    /** What is wrong, without the file's name: `maxAmount.USD: amount "5000" must have exactly 2 decimal digit(s) …`. */
    readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
  }
}

/** Validates parsed JSON as rules; `source` names the file in the error. */
export function parseRiskRules(json: unknown, source: string): RiskRules {
  const parsed = rulesSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
  throw new RiskRulesError(source, problems.join('; '));
}

/** Reads and validates the rule file at start: a process never runs with rules it could not read. */
export function loadRiskRules(path: string): RiskRules {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RiskRulesError(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RiskRulesError(path, `is not JSON (${(err as Error).message.replace(/\s+/g, ' ')})`);
  }
  return parseRiskRules(json, path);
}

export interface RuleFileScreenDeps {
  rules: RiskRules;
  /** Needed only with customerVelocity: counts are shared by every process. */
  redis?: RedisClient;
  /** The queue prefix; velocity keys live under it. */
  prefix: string;
}

const block = (rule: string, reason: string): RiskDecision => ({ decision: 'block', rule, reason });

/**
 * Screens against the rule file. The rules that need nothing but the payment
 * come first; velocity last, so a payment already blocked is not counted.
 */
export function createRuleFileScreen({ rules, redis, prefix }: RuleFileScreenDeps): RiskScreen {
  const blockedCustomers = new Set(rules.blockedCustomers ?? []);
  const blockedMethods = new Set(rules.blockedPaymentMethods ?? []);
  const velocity = rules.customerVelocity;
  if (velocity && !redis) throw new Error('customerVelocity needs a Redis connection to count across processes');

  return {
    async screen(p: RiskSubject): Promise<RiskDecision> {
      if (p.customerId !== null && blockedCustomers.has(p.customerId)) return block('blockedCustomers', 'blocked by rule blockedCustomers');
      if (p.paymentMethod !== null && blockedMethods.has(p.paymentMethod)) return block('blockedPaymentMethods', 'blocked by rule blockedPaymentMethods');
      const max = rules.maxAmount?.[p.currency];
      if (max !== undefined && p.amountMinor > max) return block('maxAmount', `amount over maxAmount for ${p.currency}`);
      // A payment without a customer has nobody to count it against.
      if (velocity && p.customerId !== null) {
        const count = await countInWindow(redis!, prefix, p.customerId, p.orderId, velocity.windowSeconds);
        if (count > velocity.max) {
          return block('customerVelocity', `customerVelocity: more than ${velocity.max} payments in ${velocity.windowSeconds} s`);
        }
      }
      return { decision: 'allow' };
    },
  };
}
