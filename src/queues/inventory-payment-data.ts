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

/** Checks amount, currency, payment method and customer id; the reason names the field and what is expected. */
export function checkPaymentData(data: Record<string, unknown>): PaymentDataCheck {
  const fail = (field: string, reason: string): PaymentDataCheck => ({ ok: false, field, reason, usable: usableParts(data) });
  let amountMinor: bigint;
  try {
    amountMinor = parseAmount(data.amount, data.currency);
  } catch (err) {
    if (err instanceof MoneyError) return fail(err.field, err.message);
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
  if (customerId !== null && typeof customerId !== 'string') {
    return fail('customerId', 'customerId must be a string such as "cus_123" when given');
  }
  return {
    ok: true,
    value: { amount: data.amount as string, amountMinor, currency: data.currency as string, customerId, paymentMethod: method },
  };
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
    customerId: typeof data.customerId === 'string' ? data.customerId : null,
    paymentMethod: isGatewayToken(data.paymentMethod) ? data.paymentMethod : null,
  };
}
