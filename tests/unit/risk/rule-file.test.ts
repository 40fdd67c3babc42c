import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { createRuleFileScreen, loadRiskRules, parseRiskRules, RiskRulesError, type RiskRules } from '../../../src/risk/rule-file.js';
import type { RiskSubject } from '../../../src/risk/risk.port.js';

const dir = mkdtempSync(join(tmpdir(), 'risk-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ruleFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The one-line message a refused rule set gets. */
function refusal(json: unknown): string {
  try {
    parseRiskRules(json, '/etc/risk.json');
  } catch (err) {
    expect(err).toBeInstanceOf(RiskRulesError);
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(json)}`);
}

const CONTRACT_EXAMPLE = {
  maxAmount: { USD: '5000.00', EUR: '5000.00' },
  customerVelocity: { max: 5, windowSeconds: 3600 },
  blockedCustomers: ['cus_blocked'],
  blockedPaymentMethods: ['pm_card_stolen'],
};

describe('rule file validation', () => {
  it("when the file is CONTRACT.md's example, then every rule is taken and amounts are exact minor units", () => {
    expect(parseRiskRules(CONTRACT_EXAMPLE, 'x')).toEqual({ ...CONTRACT_EXAMPLE, maxAmount: { USD: 500_000n, EUR: 500_000n } });
  });

  it('when the file is an empty object, then every rule is off', () => {
    expect(parseRiskRules({}, 'x')).toEqual({});
  });

  it.each([
    [{ maxAmount: { USD: '5000' } }, /^\/etc\/risk\.json: maxAmount\.USD: amount "5000" must have exactly 2 decimal digit\(s\) for USD/],
    [{ maxAmount: { USD: 5000 } }, /^\/etc\/risk\.json: maxAmount\.USD: amount must be a decimal string/],
    [{ maxAmount: { JPY: '5000.00' } }, /^\/etc\/risk\.json: maxAmount\.JPY: amount "5000\.00" must have exactly 0 decimal digit/],
    [{ maxAmount: { DOLLARS: '1.00' } }, /^\/etc\/risk\.json: maxAmount\.DOLLARS: currency "DOLLARS" is not an ISO 4217 code$/],
    [{ customerVelocity: { max: 0, windowSeconds: 60 } }, /^\/etc\/risk\.json: customerVelocity\.max: /],
    [{ customerVelocity: { max: 5 } }, /^\/etc\/risk\.json: customerVelocity\.windowSeconds: /],
    [{ customerVelocity: { max: 1.5, windowSeconds: 60 } }, /^\/etc\/risk\.json: customerVelocity\.max: /],
    [{ blockedCustomers: 'cus_1' }, /^\/etc\/risk\.json: blockedCustomers: /],
    [{ blockedPaymentMethods: [''] }, /^\/etc\/risk\.json: blockedPaymentMethods\.0: /],
    [{ maxAmmount: { USD: '1.00' } }, /^\/etc\/risk\.json: .*maxAmmount/],
  ])('when a rule is wrong (%j), then it is named in one line', (json, expected) => {
    const message = refusal(json);
    expect(message).toMatch(expected);
    expect(message).not.toContain('\n');
  });

  it('when several rules are wrong, then each is named, still on one line', () => {
    const message = refusal({ maxAmount: { USD: '1' }, blockedCustomers: [1] });
    expect(message).toMatch(/maxAmount\.USD: .*; blockedCustomers\.0: /);
    expect(message).not.toContain('\n');
  });

  it('when the file is missing or not JSON, then the file is named with what is wrong', () => {
    expect(() => loadRiskRules(join(dir, 'absent.json'))).toThrow(/absent\.json: cannot be read \(ENOENT\)$/);
    expect(() => loadRiskRules(ruleFile('broken.json', '{ "maxAmount": '))).toThrow(/broken\.json: is not JSON \(/);
  });

  it('when RISK_RULES names a bad file, then loadConfig refuses it in one line naming the rule', () => {
    const path = ruleFile('bad.json', JSON.stringify({ maxAmount: { USD: '5000.0' } }));
    let error: unknown;
    try {
      loadConfig({ RISK_RULES: path });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([`RISK_RULES=${JSON.stringify(path)} maxAmount.USD: amount "5000.0" must have exactly 2 decimal digit(s) for USD, e.g. "12.55"`]);
  });

  it('when RISK_RULES names a good file, then the config carries its rules; unset, no screening', () => {
    const path = ruleFile('good.json', JSON.stringify(CONTRACT_EXAMPLE));
    expect(loadConfig({ RISK_RULES: path }).RISK_RULES).toEqual({ path, rules: parseRiskRules(CONTRACT_EXAMPLE, path) });
    expect(loadConfig({}).RISK_RULES).toBeUndefined();
  });
});

describe('rule file screening (rules that need no Redis)', () => {
  const subject = (over: Partial<RiskSubject> = {}): RiskSubject => ({
    orderId: 'ord_1', paymentId: 'pay_1', customerId: 'cus_ok', paymentMethod: 'pm_card_visa', amountMinor: 4999n, currency: 'USD', ...over,
  });
  const screen = (rules: RiskRules) => createRuleFileScreen({ rules, prefix: '{t}' });

  it('when no rule is set, then every payment is allowed', async () => {
    expect(await screen({}).screen(subject({ amountMinor: 99_999_999n, customerId: null, paymentMethod: null }))).toEqual({ decision: 'allow' });
  });

  it('when the customer is blocked, then the reason names the rule, not the customer', async () => {
    const decision = await screen({ blockedCustomers: ['cus_bad'] }).screen(subject({ customerId: 'cus_bad' }));
    expect(decision).toEqual({ decision: 'block', rule: 'blockedCustomers', reason: 'blocked by rule blockedCustomers' });
    expect(await screen({ blockedCustomers: ['cus_bad'] }).screen(subject())).toEqual({ decision: 'allow' });
  });

  it('when the payment method is blocked, then it is blocked by that rule', async () => {
    const rules = { blockedPaymentMethods: ['pm_card_stolen'] };
    expect(await screen(rules).screen(subject({ paymentMethod: 'pm_card_stolen' }))).toEqual({
      decision: 'block', rule: 'blockedPaymentMethods', reason: 'blocked by rule blockedPaymentMethods',
    });
    expect(await screen(rules).screen(subject({ paymentMethod: null }))).toEqual({ decision: 'allow' });
  });

  it('when the amount is one minor unit over maxAmount, then it is blocked; at the limit exactly, allowed; other currencies unlimited', async () => {
    const rules = parseRiskRules({ maxAmount: { USD: '5000.00', JPY: '700000' } }, 'x');
    expect(await screen(rules).screen(subject({ amountMinor: 500_001n }))).toEqual({ decision: 'block', rule: 'maxAmount', reason: 'amount over maxAmount for USD' });
    expect(await screen(rules).screen(subject({ amountMinor: 500_000n }))).toEqual({ decision: 'allow' });
    expect(await screen(rules).screen(subject({ amountMinor: 700_001n, currency: 'JPY' }))).toMatchObject({ decision: 'block', reason: 'amount over maxAmount for JPY' });
    expect(await screen(rules).screen(subject({ amountMinor: 99_999_999n, currency: 'EUR' }))).toEqual({ decision: 'allow' });
  });

  it('when customerVelocity is set without a Redis connection, then creating the screen fails rather than counting nothing', () => {
    expect(() => screen({ customerVelocity: { max: 1, windowSeconds: 60 } })).toThrow(/customerVelocity needs a Redis connection/);
  });
});
