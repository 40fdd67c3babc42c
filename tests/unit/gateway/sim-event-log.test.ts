import { describe, expect, it } from 'vitest';
import { createEventLog, EVENT_LOG_LIMIT, type StripeEvent } from '../../../src/gateway/simulator/events.js';

describe('simulator event log', () => {
  it('when a change is published inside a request, then its event names that request; outside one, no request', () => {
    const delivered: StripeEvent[] = [];
    const log = createEventLog({ now: () => 1_700_000_000, endpointCount: () => 2, deliver: (event) => delivered.push(event) });

    log.within({ id: 'req_1', idempotency_key: 'key-1' }, () => log.publish('refund.failed', { id: 're_1', status: 'failed' }));
    log.publish('refund.updated', { id: 're_2', status: 'succeeded' }, { status: 'pending' });

    expect(delivered).toMatchObject([
      { type: 'refund.failed', request: { id: 'req_1', idempotency_key: 'key-1' }, pending_webhooks: 2, created: 1_700_000_000 },
      { type: 'refund.updated', request: { id: null, idempotency_key: null }, data: { previous_attributes: { status: 'pending' } } },
    ]);
  });

  it('when the object changes after it was published, then the event keeps it as it was', () => {
    const log = createEventLog({ now: () => 1, endpointCount: () => 0, deliver: () => {} });
    const refund = { id: 're_1', status: 'pending' };
    log.publish('refund.updated', refund);
    refund.status = 'succeeded';
    expect(log.list()[0]!.data.object).toEqual({ id: 're_1', status: 'pending' });
  });

  it('when more events than the limit are published, then the log keeps the latest ones, so a long run stays bounded', () => {
    const log = createEventLog({ now: () => 1, endpointCount: () => 0, deliver: () => {} });
    for (let i = 0; i <= EVENT_LOG_LIMIT; i += 1) log.publish('refund.failed', { n: i });
    const kept = log.list();
    expect(kept).toHaveLength(EVENT_LOG_LIMIT);
    expect(kept[0]!.data.object).toEqual({ n: 1 });
  });
});
