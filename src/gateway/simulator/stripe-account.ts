import type { Logger } from '../../observability/logger.js';
import { createChargeView } from './charges.js';
import { createDisputeStore } from './disputes.js';
import { createEventLog } from './events.js';
import { createPaymentIntentStore } from './payment-intents.js';
import { createPrng } from './prng.js';
import { createRefundStore } from './refunds.js';
import type { SimClock } from './sim-clock.js';
import type { SimulatorSettings, WebhookEndpoints } from './simulator.settings.js';
import { createStripeApi } from './stripe-api.js';
import { createTimers } from './timers.js';
import { createWebhookSender } from './webhook-sender.js';

/**
 * The simulator's in-memory Stripe account: payment intents, refunds,
 * disputes and the charges they share, the events every change makes, the
 * webhook sender that delivers them, and the API in front of them. The
 * server (simulator.ts) adds HTTP, faults and outages around it.
 */
export interface StripeAccountOptions {
  seed: number;
  simClock: SimClock;
  /** Real milliseconds, for webhook signatures and retry windows. */
  clock: () => number;
  settings: () => SimulatorSettings;
  webhooks?: WebhookEndpoints;
  webhookBackoffMs?: number;
  logger?: Logger;
}

export function createStripeAccount({ seed, simClock, clock, settings, webhooks, webhookBackoffMs, logger }: StripeAccountOptions) {
  // Streams of their own, so refunds and webhooks leave the request dice (and seeded runs of them) as they were.
  const sender = createWebhookSender({
    endpoints: webhooks,
    settings,
    random: createPrng(seed ^ 0x57454248),
    clock,
    backoffMs: webhookBackoffMs,
    logger,
  });
  const events = createEventLog({ now: simClock.unixSeconds, endpointCount: () => webhooks?.urls.length ?? 0, deliver: sender.send });
  const intents = createPaymentIntentStore(simClock.now, events.publish);
  const refundTimers = createTimers();
  const refunds = createRefundStore({
    intents,
    unixSeconds: simClock.unixSeconds,
    random: createPrng(seed ^ 0x52454655),
    settings,
    publish: events.publish,
    chargeObject: (chargeId) => charges.chargeObject(chargeId),
    timers: refundTimers,
  });
  const disputes = createDisputeStore({ intents, refundedOf: refunds.refundedOf, unixSeconds: simClock.unixSeconds, publish: events.publish });
  const charges = createChargeView({ intents, refundsOf: refunds.refundsOf, isDisputed: disputes.isDisputed });
  const api = createStripeApi({ intents, refunds, charges, disputes, events, settings, now: simClock.now });

  return {
    api,
    intents,
    refunds,
    disputes,
    charges,
    events,
    sender,
    /** Timers and sends still waiting: refunds to settle, webhooks to send or retry. */
    pendingWork: () => refundTimers.pending() + sender.pending(),
    /** Cancels every timer and aborts every webhook in flight. */
    async close(): Promise<void> {
      refundTimers.clear();
      await sender.close();
    },
  };
}

export type StripeAccount = ReturnType<typeof createStripeAccount>;
