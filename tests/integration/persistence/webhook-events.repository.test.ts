import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex } from '../../../src/persistence/db.js';
import { createWebhookEventsRepository, type WebhookEventsRepository } from '../../../src/persistence/webhook-events.repository.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';

let iso: Isolated;
let knex: Knex;
let repo: WebhookEventsRepository;

beforeAll(async () => {
  iso = await isolate();
  knex = createKnex(iso.databaseUrl);
  repo = createWebhookEventsRepository(knex);
});

afterAll(async () => {
  await knex?.destroy();
  await iso?.cleanup();
});

const newEvent = () => {
  const id = `evt_${randomUUID().replace(/-/g, '')}`;
  return { id, type: 'refund.updated', payload: JSON.stringify({ id, type: 'refund.updated', data: { object: { id: 're_1', amount: 500 } } }, null, 2) };
};

describe('the webhook events repository (real PostgreSQL)', () => {
  it('when one event is recorded by many deliveries at once, then one row exists, exactly one caller created it, and the payload is the JSON sent', async () => {
    const event = newEvent();
    const results = await Promise.all(Array.from({ length: 20 }, () => repo.record(event)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results.every((r) => !r.settled)).toBe(true);
    expect(await repo.find(event.id)).toEqual({
      id: event.id,
      type: 'refund.updated',
      payload: JSON.parse(event.payload),
      receivedAt: expect.any(Date),
      appliedAt: null,
      outcome: null,
      attempts: 0,
    });
  });

  it('when a settled event is recorded again, then it says so, so no job is scheduled for it again', async () => {
    const event = newEvent();
    await repo.record(event);
    expect(await repo.settle(event.id, 'applied')).toBe(true);
    expect(await repo.record(event)).toEqual({ created: false, settled: true });
  });

  it('when two runs settle one event, then the first outcome stands and only it reports settling it', async () => {
    const event = newEvent();
    await repo.record(event);
    expect(await repo.startAttempt(event.id)).toMatchObject({ attempts: 1 });
    expect(await repo.startAttempt(event.id)).toMatchObject({ attempts: 2 });
    expect(await repo.settle(event.id, 'refused')).toBe(true);
    expect(await repo.settle(event.id, 'applied')).toBe(false);
    expect(await repo.find(event.id)).toMatchObject({ outcome: 'refused', appliedAt: expect.any(Date), attempts: 2 });
  });

  it('when an outcome outside the four is written, then PostgreSQL refuses it', async () => {
    const event = newEvent();
    await repo.record(event);
    await expect(knex('webhook_events').where({ id: event.id }).update({ outcome: 'done', applied_at: knex.fn.now() })).rejects.toThrow(/webhook_events_outcome_check/);
  });

  it('when the event id is unknown, then find and startAttempt return undefined and settle reports nothing settled', async () => {
    expect(await repo.find('evt_unknown')).toBeUndefined();
    expect(await repo.startAttempt('evt_unknown')).toBeUndefined();
    expect(await repo.settle('evt_unknown', 'applied')).toBe(false);
  });
});
