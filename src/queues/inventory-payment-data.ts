import { MoneyError, currencyExponent, parseAmount } from '../money.js';

/** The payment part of an InventoryReserved event, once valid. */
export interface PaymentData {
  amount: string;
  amountMinor: bigint;
  currency: string;
  customerId: string | null;
  paymentMethod: string;
}

/** What of an invalid event's payment data is itself valid (null where not): all a Failed row can honestly hold. */
export interface UsablePaymentData {
  amount: string | null;
  amountMinor: bigint | null;
  currency: string | null;
  customerId: string | null;
  paymentMethod: string | null;
}

export type PaymentDataCheck =
  | { ok: true; value: PaymentData }
  | { ok: false; field: string; reason: string; usable: UsablePaymentData };

/**
 * A gateway's payment-method token: Stripe's `pm_…` (and its older `tok_`,
 * `card_`, `src_` objects). Anything else is refused: the service never
 * handles raw card details (card numbers are caught before this check).
 */
const GATEWAY_TOKEN = /^(pm|tok|card|src)_[A-Za-z0-9_]+$/;
const TOKEN_EXAMPLE = '"pm_card_visa"';
/**
 * A customer id is the caller's opaque reference ("cus_123", an account
 * number, a UUID): letters, digits, "_" and "-" only, as Stripe and most
 * systems write theirs. Anything else (spaces, dots, other scripts' digits,
 * fullwidth forms) is refused before it could reach the payments row, Stripe's
 * metadata or a log.
 */
export const CUSTOMER_ID = /^[A-Za-z0-9_-]{1,255}$/;

/** Checks amount, currency, payment method and customer id; the reason names the field and what is expected. */
export function checkPaymentData(data: Record<string, unknown>): PaymentDataCheck {
  const fail = (field: string, reason: string): PaymentDataCheck => ({ ok: false, field, reason, usable: usableParts(data) });
  let amountMinor: bigint;
  try {
    amountMinor = parseAmount(data.amount, data.currency);
  } catch (err) {
    if (err instanceof MoneyError) return fail(err.field, withoutGivenValue(err.message, data[err.field]));
    throw err;
  }
  const method = data.paymentMethod;
  if (method === undefined || method === null || method === '') {
    return fail('paymentMethod', `paymentMethod is missing: a gateway token such as ${TOKEN_EXAMPLE} is expected`);
  }
  if (!isGatewayToken(method)) {
    return fail('paymentMethod', `paymentMethod must be a gateway token such as ${TOKEN_EXAMPLE}, never card details`);
  }
  const customerId = data.customerId ?? null;
  if (customerId !== null && !isCustomerId(customerId)) {
    return fail('customerId', 'customerId must be 1 to 255 letters, digits, "_" or "-", such as "cus_123", when given');
  }
  return {
    ok: true,
    value: { amount: data.amount as string, amountMinor, currency: data.currency as string, customerId, paymentMethod: method },
  };
}

export function isCustomerId(value: unknown): value is string {
  return typeof value === 'string' && CUSTOMER_ID.test(value);
}

/**
 * money.ts names the value it refused (`amount "1.5" must have…`); the reason
 * goes into the payment's history and its PaymentFailed, where nothing the
 * sender wrote is repeated: the quoted value (whole, or as money.ts cut it) is taken out.
 */
export function withoutGivenValue(message: string, given: unknown): string {
  if (typeof given !== 'string') return message;
  let out = message;
  for (const quoted of [given, given.slice(0, 40)]) out = out.split(` "${quoted}" `).join(' ');
  return out;
}

export function isGatewayToken(value: unknown): value is string {
  return typeof value === 'string' && GATEWAY_TOKEN.test(value);
}

function usableParts(data: Record<string, unknown>): UsablePaymentData {
  const currency = typeof data.currency === 'string' && currencyExponent(data.currency) !== undefined ? data.currency : null;
  let amountMinor: bigint | null = null;
  try {
    amountMinor = parseAmount(data.amount, data.currency);
  } catch {
    // Not usable: the Failed row records no amount.
  }
  return {
    currency,
    amount: amountMinor === null ? null : (data.amount as string),
    amountMinor,
    customerId: isCustomerId(data.customerId) ? data.customerId : null,
    paymentMethod: isGatewayToken(data.paymentMethod) ? data.paymentMethod : null,
  };
}
