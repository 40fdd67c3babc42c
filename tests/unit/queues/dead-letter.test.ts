import { describe, expect, it } from 'vitest';
import { redactAmqpUrl } from '../../../src/queues/amqp-connection.js';
import { containsCardNumber } from '../../../src/queues/card-data.js';
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
    const copy = deadLetterCopy(withCard, CARD_DATA_REASON);
    expect(JSON.parse(copy.content.toString())).toEqual({ data: { paymentMethod: '************1111' } });
    expect(copy.options.correlationId).toBe('**** **** **** 4242');
    expect(copy.options.headers).toMatchObject({ note: '****-****-****-1111', 'x-error': 'card data not accepted' });
  });

  it('when a card number is in a header key, a numeric header value, the content type or in another digit form, then the copy masks it too', () => {
    const withCard = {
      ...original,
      content: Buffer.from('{"data":{"note":"４１１１.１１１１_１１１１ 1111","amount":4.111111111111111e15}}'),
      properties: {
        ...original.properties,
        contentType: 'application/json; card=4111\u00a01111\u00a01111\u00a01111'.replaceAll('\\u00a0', '\u00a0'),
        headers: { 'x-4111111111111111': 'key', 'x-number': 4111111111111111, 'x-bytes': Buffer.from('٤١١١١١١١١١١١١١١١') },
      },
    };
    const copy = deadLetterCopy(withCard, CARD_DATA_REASON);
    const pieces = [
      copy.content.toString('utf8'),
      String(copy.options.contentType),
      ...Object.entries(copy.options.headers ?? {}).flatMap(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('utf8') : String(v)]),
    ];
    // Every digit form counted: only the last four of each of the body's two numbers remain.
    const digitsIn = (text: string) => [...text.normalize('NFKC')].filter((c) => /\p{Nd}/u.test(c)).length;
    expect(digitsIn(pieces[0]!)).toBe(8);
    expect(pieces.filter((p) => containsCardNumber(p))).toEqual([]);
    expect(copy.options.headers?.['x-number']).toBe('************1111');
    expect(copy.options.contentType).toBe('application/json; card=****\u00a0****\u00a0****\u00a01111'.replaceAll('\\u00a0', '\u00a0'));
    expect(copy.options.headers?.['x-error']).toBe(CARD_DATA_REASON);
  });

  it('when a body is just over 64 KiB, then the copy is masked precisely: everything else byte for byte', () => {
    const content = Buffer.from(`{"pad":"${'p'.repeat(70_000)}","card":"4111 1111 1111 1111","order":"9a6b"}`);
    const copy = deadLetterCopy({ ...original, content }, 'body is too large');
    expect(copy.content.toString()).toBe(content.toString().replace('4111 1111 1111 1111', '**** **** **** 1111'));
  });

  it('when a body is over 256 KiB, then the copy is whole but every digit in it is masked (it is not scanned precisely)', () => {
    const content = Buffer.from(`{"pad":"${'p'.repeat(300_000)}","card":"4111 1111 1111 1111","order":"9a6b"}`);
    const copy = deadLetterCopy({ ...original, content }, 'body is too large');
    expect(copy.content.length).toBe(content.length);
    expect(copy.content.toString()).toContain('"card":"**** **** **** ****","order":"*a*b"');
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
