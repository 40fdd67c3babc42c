import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observability/logger.js';

function logged(fields: Record<string, unknown>): Record<string, unknown> {
  const lines: string[] = [];
  createLogger('debug', { write: (line: string) => void lines.push(line) }).info(fields, 'test line');
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe('the logger redacts what must never be written', () => {
  it.each([
    ['a payment method token', { paymentMethod: 'pm_card_visa' }, 'paymentMethod'],
    ['a payment method inside the payment', { payment: { paymentMethod: 'pm_card_visa' } }, 'payment.paymentMethod'],
    ['a payment method inside a request of a job', { job: { request: { paymentMethod: 'pm_card_visa' } } }, 'job.request.paymentMethod'],
    ['a snake_case payment method in a gateway body', { body: { payment_method: 'pm_card_visa' } }, 'body.payment_method'],
    ['the Stripe API key in a config object', { config: { STRIPE_API_KEY: 'sk_test_123' } }, 'config.STRIPE_API_KEY'],
    ['an API key', { gateway: { apiKey: 'sk_test_123' } }, 'gateway.apiKey'],
    ['the admin token', { options: { adminToken: 'secret-admin-token-1234' } }, 'options.adminToken'],
    ['a token', { token: 'tok_123' }, 'token'],
    ['a secret', { webhook: { secret: 'whsec_123' } }, 'webhook.secret'],
    ["a PaymentIntent's client_secret", { gatewayResponse: { client_secret: 'pi_1_secret_2' } }, 'gatewayResponse.client_secret'],
    ['an authorization header', { req: { headers: { authorization: 'Bearer abc' } } }, 'req.headers.authorization'],
    ['an Authorization header, capitalised', { request: { headers: { Authorization: 'Bearer abc' } } }, 'request.headers.Authorization'],
    ['a cookie header', { req: { headers: { cookie: 'session=abc' } } }, 'req.headers.cookie'],
    ['an x-api-key header', { req: { headers: { 'x-api-key': 'abc' } } }, 'req.headers.x-api-key'],
  ])('when a line carries %s, then it is written as [redacted]', (_what, fields, path) => {
    const line = logged(fields);
    const value = path.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown>)?.[key], line);
    expect(value).toBe('[redacted]');
  });

  it('when a child logger, or its own child, is bound to a secret, then their lines carry it as [redacted]', () => {
    const lines: string[] = [];
    const log = createLogger('debug', { write: (line: string) => void lines.push(line) });
    const child = log.child({ orderId: 'o-1', gateway: { apiKey: 'sk_test_123' } });
    child.info('bound');
    child.child({ request: { headers: { cookie: 'session=abc' } } }).info('bound twice');
    expect(JSON.parse(lines[0]!)).toMatchObject({ orderId: 'o-1', gateway: { apiKey: '[redacted]' } });
    expect(JSON.parse(lines[1]!)).toMatchObject({ orderId: 'o-1', gateway: { apiKey: '[redacted]' }, request: { headers: { cookie: '[redacted]' } } });
  });

  it('when secrets sit deep, in arrays or in an error, then they are redacted there too and the error stays an error', () => {
    const err = Object.assign(new Error('gateway refused'), { config: { headers: { Authorization: 'Bearer abc' } } });
    const line = logged({ calls: [{ request: { body: { payment_method: 'pm_card_visa' } } }], err });
    expect(line).toMatchObject({
      calls: [{ request: { body: { payment_method: '[redacted]' } } }],
      err: { type: 'Error', message: 'gateway refused', config: { headers: { Authorization: '[redacted]' } } },
    });
    expect((line.err as { stack: string }).stack).toContain('gateway refused');
  });

  it("when a line is redacted, then the caller's own object is left as it was", () => {
    const fields = { payment: { paymentMethod: 'pm_card_visa', amount: '49.99' }, list: [{ token: 'tok_1' }] };
    const before = structuredClone(fields);
    expect(logged(fields)).toMatchObject({ payment: { paymentMethod: '[redacted]', amount: '49.99' }, list: [{ token: '[redacted]' }] });
    expect(fields).toEqual(before);
  });

  it('when a logged object refers to itself or shares a part, then the line is still written, its secrets redacted everywhere', () => {
    const shared = { token: 'tok_1', note: 'kept' };
    const looped: Record<string, unknown> = { name: 'outer', a: shared, b: shared };
    looped.self = looped;
    const line = logged({ looped });
    expect(line).toMatchObject({ looped: { name: 'outer', a: { token: '[redacted]', note: 'kept' }, b: { token: '[redacted]', note: 'kept' } } });
    expect(JSON.stringify(line)).not.toContain('tok_1');
  });

  it('when a job line is written, then its order, payment and job ids stay readable', () => {
    const ids = { orderId: '9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10', paymentId: 'b1c2', jobId: '9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10' };
    expect(logged(ids)).toMatchObject(ids);
  });
});
