import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Stripe from 'stripe';
import type { Metrics } from '../observability/metrics.js';
import type { WebhookEventsRepository } from '../persistence/webhook-events.repository.js';
import { RateLimitedLog } from './rate-limited-log.js';

/**
 * `POST /webhooks/stripe` (CONTRACT.md §6) as an inbox: verify the signature
 * on the raw body, record the event by its Stripe id, schedule its
 * application, and only then answer 2xx. Stripe delivers at least once and
 * retries anything but a 2xx, so a replay is absorbed by the id and every
 * failure to record is a 503 it will retry. Open to anyone (the signature is
 * the credential): declared public, so neither ADMIN_TOKEN nor the same-Origin
 * rule applies.
 */

export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';
/** Stripe's events are a few KiB; a body this large is not one. */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

export interface WebhookRouteDeps {
  /** STRIPE_WEBHOOK_SECRET; unset, the route answers 404. */
  secret: string | undefined;
  inbox: Pick<WebhookEventsRepository, 'record'>;
  /** Schedules the ApplyWebhook job; idempotent by the event id (compensations.queue.ts `enqueueWebhook`). */
  enqueue: (eventId: string) => Promise<void>;
}

export type Verification = 'ok' | 'bad_signature' | 'stale' | 'malformed';

export type Verified =
  | { verification: 'ok'; event: { id: string; type: string } }
  | { verification: Exclude<Verification, 'ok'>; message: string };

/** Stripe's ids are `evt_` and letters/digits; anything else could not be a BullMQ job id part or a Prometheus label. */
const EVENT_ID = /^evt_[A-Za-z0-9_]{1,200}$/;
const EVENT_TYPE = /^[a-z0-9_.]{1,100}$/;

const REFUSALS: Record<Exclude<Verification, 'ok'>, string> = {
  bad_signature:
    "the Stripe-Signature header is missing or does not match this body under STRIPE_WEBHOOK_SECRET: check that the secret is this endpoint's signing secret and that nothing re-encodes the body on the way",
  stale: "the Stripe-Signature timestamp is more than 300 s old: a replayed delivery, or this host's clock is off",
  malformed: 'the signed body is not a Stripe event (JSON with an evt_ id and a type)',
};

/** Checks the signature with the `stripe` package (Stripe's default 300 s tolerance), then the event's shape. */
export function verifyStripeWebhook(raw: Buffer | undefined, header: string | string[] | undefined, secret: string): Verified {
  if (typeof header !== 'string' || header === '') return { verification: 'bad_signature', message: REFUSALS.bad_signature };
  let event: unknown;
  try {
    event = Stripe.webhooks.constructEvent(raw ?? Buffer.alloc(0), header, secret);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
      const stale = /tolerance/i.test(err.message);
      return stale ? { verification: 'stale', message: REFUSALS.stale } : { verification: 'bad_signature', message: REFUSALS.bad_signature };
    }
    // Signed, but JSON.parse refused it.
    return { verification: 'malformed', message: REFUSALS.malformed };
  }
  const { id, type } = (event ?? {}) as { id?: unknown; type?: unknown };
  if (typeof id !== 'string' || !EVENT_ID.test(id) || typeof type !== 'string' || !EVENT_TYPE.test(type)) {
    return { verification: 'malformed', message: REFUSALS.malformed };
  }
  return { verification: 'ok', event: { id, type } };
}

function unavailable(reply: FastifyReply, message: string) {
  return reply.code(503).header('retry-after', '5').send({ error: 'unavailable', message });
}

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRouteDeps | undefined, metrics: Metrics, refusalLog = new RateLimitedLog()): void {
  // A plugin of its own, so the raw-body parser applies to this route only; every other route keeps Fastify's JSON parsing.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));

    scope.post(STRIPE_WEBHOOK_PATH, { config: { public: true }, bodyLimit: WEBHOOK_BODY_LIMIT }, async (request: FastifyRequest, reply) => {
      if (!deps?.secret) {
        return reply.code(404).send({ error: 'not_found', message: 'Stripe webhooks are not received here: STRIPE_WEBHOOK_SECRET is unset' });
      }
      const verified = verifyStripeWebhook(request.body as Buffer | undefined, request.headers['stripe-signature'], deps.secret);
      if (verified.verification !== 'ok') {
        metrics.webhooksReceived.inc({ type: 'unknown', verification: verified.verification });
        // Anyone can post here: one line per kind of refusal a minute at most.
        refusalLog.note(verified.verification, (suppressed) =>
          request.log.warn({ verification: verified.verification, remote: request.socket.remoteAddress, suppressed }, 'Stripe webhook refused'),
        );
        return reply.code(400).send({ error: verified.verification, message: verified.message });
      }
      const { id, type } = verified.event;
      const log = request.log.child({ eventId: id, eventType: type });
      metrics.webhooksReceived.inc({ type, verification: 'ok' });
      let settled: boolean;
      try {
        ({ settled } = await deps.inbox.record({ id, type, payload: (request.body as Buffer).toString('utf8') }));
      } catch (err) {
        log.error({ err }, 'Stripe webhook not recorded: answering 503 so Stripe retries');
        return unavailable(reply, 'the event could not be recorded (PostgreSQL did not answer): Stripe will retry');
      }
      // A settled row needs no job; an unsettled one is (re)scheduled, the job id absorbing a repeat.
      if (!settled) {
        try {
          await deps.enqueue(id);
        } catch (err) {
          log.error({ err }, 'Stripe webhook recorded but not scheduled: answering 503 so Stripe retries');
          return unavailable(reply, 'the event is recorded but could not be scheduled (Redis did not answer): Stripe will retry');
        }
      }
      log.debug({ settled }, 'Stripe webhook recorded');
      return reply.code(200).send({ received: true });
    });
  });
}
