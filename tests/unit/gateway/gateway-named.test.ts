import { describe, expect, it } from 'vitest';
import { createMockGateway, gatewayNamed, UnknownGatewayError } from '../../../src/gateway/index.js';

describe('the gateway a payment names', () => {
  const gateways = [createMockGateway(), { ...createMockGateway(), name: 'stripe@secondary' }];

  it('when a payment names a configured gateway, then that gateway is the one returned, wherever it is in failover order', () => {
    expect(gatewayNamed(gateways, 'stripe@secondary')).toBe(gateways[1]);
    expect(gatewayNamed(gateways, 'mock')).toBe(gateways[0]);
  });

  it('when a payment names a gateway no longer configured, then the error names it, the configured ones and the remedy', () => {
    const lookUp = () => gatewayNamed(gateways, 'stripe@old');
    expect(lookUp).toThrow(UnknownGatewayError);
    expect(lookUp).toThrow(
      "no gateway named 'stripe@old' is configured (GATEWAYS has 'mock', 'stripe@secondary'); add it back to GATEWAYS to reach the charges it holds",
    );
  });
});
