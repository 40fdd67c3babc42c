import Stripe from 'stripe';
import type { Logger } from '../../observability/logger.js';
import type { StripeEvent } from './events.js';
import type { Random } from './prng.js';
import type { SimulatorSettings, WebhookEndpoints } from './simulator.settings.js';
import { createTimers } from './timers.js';

/**
 * Sends every event to every endpoint as Stripe does: a JSON POST signed in
 * `Stripe-Signature` by the `stripe` package's own signer, retried with
 * exponential backoff until a 2xx or until the retry window closes. The
 * webhook faults decide per endpoint whether an event is dropped, sent
 * twice, and how long each copy waits first (so events can overtake each
 * other). `close()` cancels every wait and aborts every send in flight.
 */
export type DeliveryOutcome = 'dropped' | 'pending' | 'delivered' | 'gave_up';

/** One copy of one event to one endpoint, as `GET /_sim/webhooks` lists it. */
export interface Delivery {
  eventId: string;
  type: string;
  endpoint: string;
  /** 1, or 2 for the duplicate a SIM_WEBHOOK_DUPLICATE_RATE fault sends. */
  copy: 1 | 2;
  outcome: DeliveryOutcome;
  attempts: number;
  /** The endpoint's last HTTP status; null before an answer or when none came. */
  lastStatus: number | null;
}

export interface WebhookSenderOptions {
  endpoints?: WebhookEndpoints;
  settings: () => Pick<SimulatorSettings, 'webhookDropRate' | 'webhookDuplicateRate' | 'webhookDelayMs' | 'webhookRetryS'>;
  /** Four draws per event and endpoint, whatever the outcome, so a seeded run repeats. */
  random: Random;
  /** Real milliseconds: signatures are checked against the receiver's own clock, not the simulator's. */
  clock?: () => number;
  /** The first retry waits this long; each next one twice as long, up to a minute. */
  backoffMs?: number;
  /** An endpoint that has not answered by then counts as a failed attempt. */
  attemptTimeoutMs?: number;
  logger?: Logger;
}

export interface WebhookSender {
  send(event: StripeEvent): void;
  deliveries(): Delivery[];
  /** Deliveries waiting for a timer or an answer. */
  pending(): number;
  /** Resolves once nothing is waiting: every delivery so far delivered, dropped, or given up. */
  whenIdle(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BACKOFF_MS = 60_000;
/** The ledger keeps the latest deliveries only; one still being retried keeps going when it leaves the ledger. */
const LEDGER_LIMIT = 10_000;

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const { endpoints, settings, random, clock = Date.now, backoffMs = 500, attemptTimeoutMs = 10_000, logger } = options;
  const timers = createTimers();
  const closing = new AbortController();
  const inFlight = new Set<Promise<void>>();
  const deliveries: Delivery[] = [];
  const idleWaiters = new Set<() => void>();
  const pending = () => timers.pending() + inFlight.size;

  function wakeIfIdle(): void {
    if (pending() > 0) return;
    for (const wake of idleWaiters) wake();
    idleWaiters.clear();
  }

  function record(delivery: Delivery): void {
    deliveries.push(delivery);
    if (deliveries.length > LEDGER_LIMIT) deliveries.shift();
  }

  function send(event: StripeEvent): void {
    if (!endpoints || closing.signal.aborted) return;
    const payload = JSON.stringify(event, null, 2);
    for (const endpoint of endpoints.urls) {
      const [drop, duplicate, firstDelay, secondDelay] = [random(), random(), random(), random()];
      const { webhookDropRate, webhookDuplicateRate, webhookDelayMs, webhookRetryS } = settings();
      const base = { eventId: event.id, type: event.type, endpoint, attempts: 0, lastStatus: null };
      if (drop < webhookDropRate) {
        record({ ...base, copy: 1, outcome: 'dropped' });
        continue;
      }
      const delays = duplicate < webhookDuplicateRate ? [firstDelay, secondDelay] : [firstDelay];
      delays.forEach((roll, index) => {
        const delivery: Delivery = { ...base, copy: (index + 1) as 1 | 2, outcome: 'pending' };
        record(delivery);
        const delayMs = webhookDelayMs.min + Math.floor(roll * (webhookDelayMs.max - webhookDelayMs.min + 1));
        const giveUpAt = clock() + delayMs + webhookRetryS * 1000;
        timers.after(delayMs, () => attempt(delivery, payload, endpoints.secret, giveUpAt));
      });
    }
  }

  function attempt(delivery: Delivery, payload: string, secret: string, giveUpAt: number): void {
    const sending = post(delivery, payload, secret).then((delivered) => {
      if (delivered) {
        delivery.outcome = 'delivered';
        return;
      }
      const waitMs = Math.min(backoffMs * 2 ** (delivery.attempts - 1), MAX_BACKOFF_MS);
      if (clock() + waitMs > giveUpAt) {
        delivery.outcome = 'gave_up';
        logger?.warn({ ...delivery }, 'webhook not delivered within SIM_WEBHOOK_RETRY_S: giving up');
        return;
      }
      // Ignored once closed: the timers are cleared for good.
      timers.after(waitMs, () => attempt(delivery, payload, secret, giveUpAt));
    });
    inFlight.add(sending);
    void sending.finally(() => {
      inFlight.delete(sending);
      wakeIfIdle();
    });
  }

  /** One attempt; true when the endpoint answered 2xx. Never rejects. */
  async function post(delivery: Delivery, payload: string, secret: string): Promise<boolean> {
    delivery.attempts += 1;
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(clock() / 1000) });
    try {
      const response = await fetch(delivery.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'stripe-signature': signature,
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        },
        body: payload,
        signal: AbortSignal.any([closing.signal, AbortSignal.timeout(attemptTimeoutMs)]),
      });
      // Read to the end, so the connection is free for the next delivery.
      await response.arrayBuffer();
      delivery.lastStatus = response.status;
      logger?.debug({ ...delivery }, 'webhook attempt answered');
      return response.status >= 200 && response.status < 300;
    } catch (error) {
      logger?.debug({ ...delivery, err: error }, 'webhook attempt got no answer');
      return false;
    }
  }

  return {
    send,
    deliveries: () => deliveries.map((delivery) => ({ ...delivery })),
    pending,
    whenIdle: () =>
      new Promise<void>((resolve) => {
        idleWaiters.add(resolve);
        wakeIfIdle();
      }),
    async close() {
      timers.clear();
      closing.abort();
      await Promise.allSettled([...inFlight]);
      wakeIfIdle();
    },
  };
}
