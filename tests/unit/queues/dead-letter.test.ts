import { describe, expect, it } from 'vitest';
import { redactAmqpUrl } from '../../../src/queues/amqp-connection.js';
import { CARD_DATA_REASON, deadLetterCopy } from '../../../src/queues/dead-letter.js';

const original = {
  content: Buffer.from('{"not":"valid'),
  fields: { exchange: 'inventory.events', routingKey: 'inventory.reserved' },
  properties: {
    messageId: 'm-1',
    type: 'InventoryReserved',
    contentType: 'application/cloudevents+json',
    correlationId: 'c-1',
    appId: 'inventory-service',
    timestamp: 1_790_000_000,
    priority: 3,
    expiration: '60000',
    userId: 'inventory',
    headers: { traceparent: '00-abc-def-01', 'x-delivery-count': 2 },
  },
};

describe('the dead-letter copy', () => {
  it('when a message is dead-lettered, then the body, properties and headers are kept, persistent, with the reason and origin', () => {
    const copy = deadLetterCopy(original, 'body is not JSON');
    expect(copy.content.equals(original.content)).toBe(true);
    expect(copy.options).toMatchObject({
      persistent: true,
      messageId: 'm-1',
      type: 'InventoryReserved',
      contentType: 'application/cloudevents+json',
      correlationId: 'c-1',
      appId: 'inventory-service',
      timestamp: 1_790_000_000,
      priority: 3,
      headers: {
        traceparent: '00-abc-def-01',
        'x-delivery-count': 2,
        'x-error': 'body is not JSON',
        'x-original-exchange': 'inventory.events',
        'x-original-routing-key': 'inventory.reserved',
      },
    });
  });

  it('when the original could expire or names a user, then the copy does neither but keeps both in headers', () => {
    const copy = deadLetterCopy(original, 'reason');
    expect(copy.options.expiration).toBeUndefined();
    expect(copy.options.userId).toBeUndefined();
    expect(copy.options.headers).toMatchObject({ 'x-original-expiration': '60000', 'x-original-user-id': 'inventory' });
  });

  it('when card data is masked, then no card number is left in the body, headers or properties', () => {
    const withCard = {
      ...original,
      content: Buffer.from('{"data":{"paymentMethod":"4111111111111111"}}'),
      properties: { ...original.properties, correlationId: '4242 4242 4242 4242', headers: { note: '4111-1111-1111-1111' } },
    };
    const copy = deadLetterCopy(withCard, CARD_DATA_REASON, { maskCardData: true });
    expect(JSON.parse(copy.content.toString())).toEqual({ data: { paymentMethod: '************1111' } });
    expect(copy.options.correlationId).toBe('**** **** **** 4242');
    expect(copy.options.headers).toMatchObject({ note: '****-****-****-1111', 'x-error': 'card data not accepted' });
  });
});

describe('the broker address in logs', () => {
  it('when the URL has a password, then it is replaced', () => {
    expect(redactAmqpUrl('amqp://guest:s3cret@rabbit:5672/pay')).toBe('amqp://guest:***@rabbit:5672/pay');
  });

  it('when the URL cannot be parsed, then nothing of it is shown', () => {
    expect(redactAmqpUrl('not a url :s3cret')).not.toContain('s3cret');
  });
});
