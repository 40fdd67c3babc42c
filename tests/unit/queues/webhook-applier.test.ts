import { UnrecoverableError } from 'bullmq';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { PaymentLocator } from '../../../src/gateway/stripe-webhook-events.js';
import type { PaymentEvent } from '../../../src/machines/payment.types.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import type { WebhookEventRecord, WebhookOutcome } from '../../../src/persistence/webhook-events.repository.js';
import { createWebhookApplier, PaymentNotFoundYetError, type ApplyOutcome, type WebhookJob } from '../../../src/queues/webhook.applier.js';

const ORDER_ID = '0b9b6c1e-3f56-4c1a-9d7a-2f1c8e0d5a11';
const SUCCEEDED = {
  id: 'evt_succeeded_1',
  type: 'payment_intent.succeeded',
  data: { object: { id: 'pi_123', object: 'payment_intent', status: 'succeeded', metadata: { orderId: ORDER_ID } } },
};
const PLAN = { id: 'evt_plan_1', type: 'plan.created', data: { object: { id: 'price_1', object: 'plan' } } };

/** The webhook_events table, in memory, with the repository's settle-once rule. */
function fakeInbox(...events: Array<{ id: string; type: string }>) {
  const rows = new Map<string, WebhookEventRecord>(
    events.map((e) => [e.id, { id: e.id, type: e.type, payload: e, receivedAt: new Date(0), appliedAt: null, outcome: null, attempts: 0 }]),
  );
  return {
    rows,
    async find(id: string) {
      const row = rows.get(id);
      return row && { ...row };
    },
    async startAttempt(id: string) {
      const row = rows.get(id);
      if (row) row.attempts += 1;
      return row && { ...row };
    },
    async settle(id: string, outcome: WebhookOutcome) {
      const row = rows.get(id);
      if (!row || row.outcome !== null) return false;
      Object.assign(row, { outcome, appliedAt: new Date() });
      return true;
    },
  };
}

/** The worker's `apply`, answering from a script and remembering every call. */
function fakeApply(...answers: ApplyOutcome[]) {
  const calls: Array<{ locate: PaymentLocator; event: PaymentEvent; detail: Record<string, unknown> }> = [];
  const apply = async (locate: PaymentLocator, event: PaymentEvent, detail: Record<string, unknown>) => {
    calls.push({ locate, event, detail });
    return answers[Math.min(calls.length - 1, answers.length - 1)]!;
  };
  return { apply, calls };
}

function setup(apply: ReturnType<typeof fakeApply>, inbox = fakeInbox(SUCCEEDED, PLAN)) {
  const metrics = createMetrics();
  const applier = createWebhookApplier({ webhooks: inbox, apply: apply.apply, gateway: 'primary', logger: pino({ level: 'silent' }), metrics });
  const counted = async () => (await metrics.webhooksApplied.get()).values.map((v) => ({ ...v.labels, n: v.value }));
  return { applier, inbox, counted };
}

const job = (eventId: string, attemptsMade = 0, attempts = 3): WebhookJob => ({ id: `webhook-${eventId}`, data: { eventId }, attemptsMade, opts: { attempts } });

describe('the ApplyWebhook job', () => {
  it('when the payment takes the event, then apply gets the locator, the machine event and the event id, and the row is settled applied, counted once', async () => {
    const apply = fakeApply('applied');
    const { applier, inbox, counted } = setup(apply);
    expect(await applier(job(SUCCEEDED.id))).toEqual({ eventId: SUCCEEDED.id, outcome: 'applied', settledNow: true });
    expect(apply.calls).toEqual([
      {
        locate: { orderId: ORDER_ID },
        event: { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_123', gateway: 'primary' },
        detail: expect.objectContaining({ source: 'stripe_webhook', eventId: SUCCEEDED.id, eventType: SUCCEEDED.type }),
      },
    ]);
    expect(inbox.rows.get(SUCCEEDED.id)).toMatchObject({ outcome: 'applied', attempts: 1, appliedAt: expect.any(Date) });
    expect(await counted()).toEqual([{ type: SUCCEEDED.type, outcome: 'applied', n: 1 }]);
  });

  it('when the job runs again for a settled event, then apply is not called and nothing is counted twice', async () => {
    const apply = fakeApply('applied');
    const { applier, counted } = setup(apply);
    await applier(job(SUCCEEDED.id));
    expect(await applier(job(SUCCEEDED.id))).toEqual({ eventId: SUCCEEDED.id, outcome: 'applied', settledNow: false });
    expect(apply.calls).toHaveLength(1);
    expect(await counted()).toEqual([{ type: SUCCEEDED.type, outcome: 'applied', n: 1 }]);
  });

  it('when the machine refuses the event (a duplicate, or too late), then it is recorded refused and counted, never thrown', async () => {
    const { applier, inbox, counted } = setup(fakeApply('refused'));
    await expect(applier(job(SUCCEEDED.id))).resolves.toMatchObject({ outcome: 'refused', settledNow: true });
    expect(inbox.rows.get(SUCCEEDED.id)?.outcome).toBe('refused');
    expect(await counted()).toEqual([{ type: SUCCEEDED.type, outcome: 'refused', n: 1 }]);
  });

  it('when the event is one the service does not act on, then apply is not called and the row is settled ignored', async () => {
    const apply = fakeApply('applied');
    const { applier, inbox, counted } = setup(apply);
    await expect(applier(job(PLAN.id))).resolves.toMatchObject({ outcome: 'ignored' });
    expect(apply.calls).toHaveLength(0);
    expect(inbox.rows.get(PLAN.id)?.outcome).toBe('ignored');
    expect(await counted()).toEqual([{ type: 'plan.created', outcome: 'ignored', n: 1 }]);
  });

  it('when no payment matches yet and attempts are left, then the job throws to be retried and the row stays unsettled', async () => {
    const { applier, inbox, counted } = setup(fakeApply('no_payment'));
    await expect(applier(job(SUCCEEDED.id, 0, 3))).rejects.toBeInstanceOf(PaymentNotFoundYetError);
    await expect(applier(job(SUCCEEDED.id, 1, 3))).rejects.toBeInstanceOf(PaymentNotFoundYetError);
    expect(inbox.rows.get(SUCCEEDED.id)).toMatchObject({ outcome: null, appliedAt: null, attempts: 2 });
    expect(await counted()).toEqual([]);
  });

  it('when no payment matches on the last attempt, then the row is settled no_payment and counted, not thrown', async () => {
    const { applier, inbox, counted } = setup(fakeApply('no_payment'));
    await expect(applier(job(SUCCEEDED.id, 2, 3))).resolves.toMatchObject({ outcome: 'no_payment', settledNow: true });
    expect(inbox.rows.get(SUCCEEDED.id)?.outcome).toBe('no_payment');
    expect(await counted()).toEqual([{ type: SUCCEEDED.type, outcome: 'no_payment', n: 1 }]);
  });

  it('when the payment appears between retries (out of order), then the retry applies it', async () => {
    const apply = fakeApply('no_payment', 'applied');
    const { applier, inbox } = setup(apply);
    await expect(applier(job(SUCCEEDED.id, 0))).rejects.toBeInstanceOf(PaymentNotFoundYetError);
    await expect(applier(job(SUCCEEDED.id, 1))).resolves.toMatchObject({ outcome: 'applied' });
    expect(inbox.rows.get(SUCCEEDED.id)).toMatchObject({ outcome: 'applied', attempts: 2 });
  });

  it('when apply itself fails (the database is down), then the error reaches BullMQ and the row stays unsettled', async () => {
    const { applier, inbox } = setup({
      apply: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
      calls: [],
    });
    await expect(applier(job(SUCCEEDED.id))).rejects.toThrow('ECONNREFUSED');
    expect(inbox.rows.get(SUCCEEDED.id)?.outcome).toBeNull();
  });

  it('when the row does not exist, then the job fails for good, naming the event', async () => {
    const { applier } = setup(fakeApply('applied'));
    const error = await applier(job('evt_missing')).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toContain('evt_missing');
  });
});
