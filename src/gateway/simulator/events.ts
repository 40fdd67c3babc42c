import Stripe from 'stripe';
import { newId } from './intent-object.js';

/**
 * Stripe's event objects for every change the simulator makes, recorded in
 * order and handed to whoever delivers them (the webhook sender). An event's
 * `data.object` is a copy of the object at that moment, as Stripe's are.
 * `request` names the API request that caused the change; a change made by
 * the simulator itself (a refund settling) has none, as on Stripe.
 */
export type EventType =
  | 'payment_intent.succeeded'
  | 'payment_intent.payment_failed'
  | 'charge.refunded'
  | 'refund.updated'
  | 'refund.failed'
  | 'charge.dispute.created';

export interface EventRequest {
  id: string | null;
  idempotency_key: string | null;
}

export interface StripeEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: unknown; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: EventRequest;
  type: EventType;
}

export type Publish = (type: EventType, object: unknown, previousAttributes?: Record<string, unknown>) => void;

export interface EventLogDeps {
  /** Unix seconds on the simulator's clock. */
  now: () => number;
  /** How many endpoints will be sent each event (Stripe's `pending_webhooks`). */
  endpointCount: () => number;
  deliver: (event: StripeEvent) => void;
}

const NO_REQUEST: EventRequest = Object.freeze({ id: null, idempotency_key: null });

/** The log keeps the latest events only, so a long benchmark run against the simulator does not grow without bound. */
export const EVENT_LOG_LIMIT = 10_000;

export function createEventLog({ now, endpointCount, deliver }: EventLogDeps) {
  const events: StripeEvent[] = [];
  let request: EventRequest = NO_REQUEST;

  /** Runs `change` with `cause` as the request of every event it publishes; the stores are synchronous, so nothing else runs meanwhile. */
  function within<T>(cause: EventRequest, change: () => T): T {
    const outer = request;
    request = cause;
    try {
      return change();
    } finally {
      request = outer;
    }
  }

  const publish: Publish = (type, object, previousAttributes) => {
    const event: StripeEvent = {
      id: newId('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      data: { object: structuredClone(object), ...(previousAttributes ? { previous_attributes: previousAttributes } : {}) },
      livemode: false,
      pending_webhooks: endpointCount(),
      request: { ...request },
      type,
    };
    events.push(event);
    if (events.length > EVENT_LOG_LIMIT) events.shift();
    deliver(event);
  };

  /** The latest events (up to EVENT_LOG_LIMIT), oldest first. */
  const list = (): StripeEvent[] => events.map((event) => structuredClone(event));

  return { publish, within, list };
}

export type EventLog = ReturnType<typeof createEventLog>;
