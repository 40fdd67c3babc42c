import type { Config } from '../config.js';
import { UnknownGatewayError } from './gateway.errors.js';
import type { PaymentGateway } from './gateway.port.js';
import { createMockGateway } from './mock.gateway.js';
import { createStripeGateway } from './stripe.gateway.js';

export type GatewayConfig = Pick<Config, 'GATEWAY' | 'GATEWAY_URL' | 'STRIPE_API_KEY' | 'GATEWAY_TIMEOUT_MS'>;

/** The gateway the configuration names: the Stripe adapter (Stripe or the simulator) or the seed's in-process mock. */
export function createGateway(config: GatewayConfig): PaymentGateway {
  if (config.GATEWAY === 'mock') return createMockGateway();
  return createStripeGateway({ apiKey: config.STRIPE_API_KEY, url: config.GATEWAY_URL, timeoutMs: config.GATEWAY_TIMEOUT_MS });
}

/**
 * Every gateway, in failover order (the first is the primary). Without
 * GATEWAYS this is the one gateway of GATEWAY / GATEWAY_URL.
 */
export function createGateways(config: GatewayConfig & Pick<Config, 'GATEWAYS'>, env: NodeJS.ProcessEnv = process.env): PaymentGateway[] {
  if (!config.GATEWAYS?.length) return [createGateway(config)];
  return config.GATEWAYS.map((g) => {
    if (g.kind === 'mock') return { ...createMockGateway(), name: g.name };
    const apiKey = env[`STRIPE_API_KEY_${g.name.toUpperCase().replace(/-/g, '_')}`] || config.STRIPE_API_KEY;
    return createStripeGateway({ apiKey, url: g.url!, timeoutMs: config.GATEWAY_TIMEOUT_MS, name: g.name });
  });
}

/**
 * The gateway a payment's charge lives on, by the name recorded on its row
 * (`stripe`, `stripe@secondary`): a refund or a look-up must go there, not to
 * whichever gateway is first today. Throws UnknownGatewayError when this
 * process has no gateway by that name.
 */
export function gatewayNamed<G extends Pick<PaymentGateway, 'name'>>(gateways: readonly G[], name: string): G {
  const found = gateways.find((g) => g.name === name);
  if (!found) throw new UnknownGatewayError(name, gateways.map((g) => g.name));
  return found;
}

export type {
  ChargeLookup,
  ChargeRequest,
  ChargeSucceeded,
  PaymentGateway,
  RefundLookup,
  RefundLookupRequest,
  RefundOutcome,
  RefundRequest,
} from './gateway.port.js';
export { PermanentGatewayError, TransientGatewayError, UnknownGatewayError } from './gateway.errors.js';
export type { Outcome, PermanentCode, TransientCode } from './gateway.errors.js';
export { classifyGatewayError, classifyRefundError } from './error-classification.js';
export { createMockGateway, type MockGateway, type MockGatewayOptions } from './mock.gateway.js';
export { createStripeGateway, type StripeGatewayOptions } from './stripe.gateway.js';
