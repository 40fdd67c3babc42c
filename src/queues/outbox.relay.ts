import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Logger } from '../observability/logger.js';
import { ATTR, contextFromHeaders, inSpan, traceHeaders } from '../observability/tracing.js';
import type { Metrics } from '../observability/metrics.js';
import { crashPoint } from '../workers/crash-points.js';
import type { OutboxRepository, PendingEvent } from '../persistence/outbox.repository.js';
import type { OutboxEvent } from '../persistence/payments.repository.js';
import type { AmqpConnection } from './amqp-connection.js';
import { createConfirmedPublisher, type ConfirmedPublisher, type PublishOutcome } from './confirmed-publisher.js';
import { CLOUDEVENTS_CONTENT_TYPE, PAYMENT_EXCHANGE, declarePaymentExchange } from './topology.js';
import { batcher } from '../batching.js';

export interface OutboxRelay {
  /** Starts polling every `pollMs`. */
  start(): void;
  /** Asks for a pass now; kicks during a pass coalesce into one more pass. */
  kick(): void;
  /**
   * Publishes one event just committed, without waiting for a pass, and marks
   * it published once confirmed. Anything that goes wrong leaves the row to the
   * passes, which take events older than `graceMs`.
   */
  publishNow(orderId: string, event: OutboxEvent): void;
  /** Publishes everything pending that no other relay holds; resolves when a pass finds nothing more. */
  flush(): Promise<void>;
  /** Stops polling and waits for the pass in flight. */
  stop(): Promise<void>;
}

export interface OutboxRelayDeps {
  outbox: Pick<OutboxRepository, 'claimBatch' | 'markPublished'>;
  connection: AmqpConnection;
  logger: Logger;
  metrics: Pick<Metrics, 'eventsPublished'>;
  pollMs: number;
  batchSize: number;
  /** A batch not confirmed by then counts as failed and is retried (default 10 s). */
  confirmTimeoutMs?: number;
  /**
   * Passes leave events younger than this to `publishNow` (default 0: passes
   * take everything). A `publishNow` slower than this can publish an event a
   * pass also publishes: same id, which consumers dedupe.
   */
  graceMs?: number;
}

/** After failures the poll interval doubles up to this, so a broken route is not hammered. */
const MAX_BACKOFF_MS = 30_000;
/** Longest a published event waits for its mark (never longer than the grace period). */
const MARK_DELAY_MS = 100;

/**
 * Publishes the transactional outbox to `payment.events`. Each pass claims a
 * batch (FOR UPDATE SKIP LOCKED, so any number of relays share the work),
 * publishes all of it, awaits all confirms, and marks only the confirmed
 * events published. An event the broker returned (no queue bound) or did not
 * confirm stays pending and is published again later, with the same id.
 */
export function createOutboxRelay(deps: OutboxRelayDeps): OutboxRelay {
  const log = deps.logger.child({ component: 'outbox-relay' });
  const publisher = createConfirmedPublisher(deps.connection, {
    name: 'outbox-relay',
    declare: declarePaymentExchange,
    timeoutMs: deps.confirmTimeoutMs ?? 10_000,
    returnKey: (m) => (typeof m.properties.messageId === 'string' ? m.properties.messageId : undefined),
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let polling = false;
  let stopped = false;
  let failures = 0;
  /** While flushing, passes take every event, however young. */
  let draining = false;
  const publishing = new Set<Promise<void>>();
  // Marks wait up to MARK_DELAY_MS and go out as one statement: nothing waits
  // for them, and until the grace period ends no pass would take the event
  // anyway, so at a few hundred events a second this is one UPDATE per tens of
  // events instead of one each. stop() and flush() send them at once.
  const marks = batcher<string, void>(
    async (ids) => {
      await deps.outbox.markPublished([...ids]);
      return ids.map(() => undefined);
    },
    { maxBatchSize: 500, gather: { ms: Math.min(MARK_DELAY_MS, deps.graceMs ?? 0) } },
  );
  /** Until every publish in flight has its mark sent and answered. */
  async function settlePublishing(): Promise<void> {
    while (publishing.size > 0) {
      marks.flush();
      await Promise.race([...publishing]);
    }
    marks.flush();
  }

  /** Passes until a batch comes back short; a kick during the run asks for one more. */
  async function run(): Promise<void> {
    do {
      again = false;
      let full = true;
      while (full) full = await pass();
    } while (again);
  }

  /** One batch; true when it was full (more may be waiting). */
  async function pass(): Promise<boolean> {
    // Holding rows locked while waiting for a broker that is down helps nobody.
    if (!deps.connection.isUp()) return false;
    let pending = 0;
    try {
      const confirmed = await deps.outbox.claimBatch(
        deps.batchSize,
        async (events) => {
          const ids = await publishBatch(publisher, events, deps, log);
          crashPoint('relay:after-publish');
          // claimBatch marks what this returns right after it returns: dying here is dying before the mark.
          if (ids.length) crashPoint('relay:before-mark-published');
          pending = events.length - ids.length;
          return ids;
        },
        draining ? 0 : (deps.graceMs ?? 0),
      );
      if (failures > 0 && pending === 0) log.info('outbox publishing recovered');
      failures = pending > 0 ? failures + 1 : 0;
      return confirmed === deps.batchSize;
    } catch (err) {
      if (failures === 0) log.warn({ reason: (err as Error).message }, 'outbox pass failed; retrying');
      failures++;
      return false;
    }
  }

  function trigger(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    if (timer) clearTimeout(timer);
    running = run().finally(() => {
      running = undefined;
      schedule();
    });
    return running;
  }

  function schedule(): void {
    if (!polling) return;
    const delay = failures > 0 ? Math.min(deps.pollMs * 2 ** failures, MAX_BACKOFF_MS) : deps.pollMs;
    timer = setTimeout(() => void trigger(), delay);
    timer.unref();
  }

  return {
    start() {
      if (polling || stopped) return;
      polling = true;
      void trigger();
    },
    kick() {
      void trigger();
    },
    publishNow(orderId, event) {
      // A broker that is down is the passes' business once it is back.
      if (stopped || !deps.connection.isUp()) return;
      const pending: PendingEvent = { ...event, orderId, headers: event.headers ?? null, createdAt: new Date() };
      // A returned event (no queue bound) is reported by the pass that retries it, not once per event here.
      const work = publishBatch(publisher, [pending], deps, log, { reportUnroutable: false })
        .then(async (ids) => {
          if (ids.length === 0) return;
          crashPoint('relay:after-publish');
          crashPoint('relay:before-mark-published');
          await marks.load(pending.id);
        })
        .catch((err: Error) => log.warn({ orderId, reason: err.message }, 'publishing an event right after its commit failed: the relay publishes it'))
        .finally(() => publishing.delete(work));
      publishing.add(work);
    },
    async flush() {
      await settlePublishing();
      draining = true;
      try {
        while (running) await running;
        await trigger();
      } finally {
        draining = false;
      }
    },
    async stop() {
      polling = false;
      await settlePublishing();
      stopped = true;
      if (timer) clearTimeout(timer);
      while (running) await running;
      await publisher.close();
    },
  };
}

/** Publishes the whole batch, then awaits every confirm: the ids the broker confirmed and routed. */
async function publishBatch(
  publisher: ConfirmedPublisher,
  events: PendingEvent[],
  deps: Pick<OutboxRelayDeps, 'metrics'>,
  log: Logger,
  { reportUnroutable = true } = {},
): Promise<string[]> {
  const outcomes = await Promise.allSettled(events.map((e) => publishTraced(publisher, e)));
  const confirmed: string[] = [];
  const unroutable = new Set<string>();
  let failed = 0;
  outcomes.forEach((outcome, i) => {
    const event = events[i]!;
    if (outcome.status === 'fulfilled' && outcome.value === 'confirmed') {
      confirmed.push(event.id);
      deps.metrics.eventsPublished.inc({ type: event.type });
    } else if (outcome.status === 'fulfilled') unroutable.add(event.routingKey);
    else failed++;
  });
  for (const routingKey of reportUnroutable ? unroutable : []) {
    log.warn(
      { routingKey, exchange: PAYMENT_EXCHANGE },
      `no queue is bound to ${PAYMENT_EXCHANGE} for "${routingKey}": the event stays in the outbox and is retried; bind a queue to ${PAYMENT_EXCHANGE}`,
    );
  }
  if (failed > 0) log.warn({ failed }, 'the broker did not confirm some events: they stay in the outbox and are retried');
  return confirmed;
}

/**
 * One event in a PRODUCER span continuing the trace stored with it (the job
 * that settled the payment); the headers sent name this span as the parent.
 * With tracing off the stored headers go out as they are.
 */
function publishTraced(publisher: ConfirmedPublisher, e: PendingEvent): Promise<PublishOutcome> {
  const attributes = {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': 'send',
    'messaging.destination.name': PAYMENT_EXCHANGE,
    'messaging.rabbitmq.destination.routing_key': e.routingKey,
    'messaging.message.id': e.id,
    [ATTR.orderId]: e.orderId,
  };
  const parent = contextFromHeaders(e.headers ?? undefined);
  return inSpan(`publish ${PAYMENT_EXCHANGE}`, { kind: SpanKind.PRODUCER, attributes, parent }, async (span) => {
    const outcome = await publisher.publish(toMessage(e, { ...e.headers, ...traceHeaders() }));
    if (outcome !== 'confirmed') span.setStatus({ code: SpanStatusCode.ERROR, message: `${outcome}: no queue bound` });
    return outcome;
  });
}

function toMessage(e: PendingEvent, headers: Record<string, string>) {
  return {
    exchange: PAYMENT_EXCHANGE,
    routingKey: e.routingKey,
    content: Buffer.from(JSON.stringify(e.payload)),
    key: e.id,
    options: {
      persistent: true,
      contentType: CLOUDEVENTS_CONTENT_TYPE,
      messageId: e.id,
      type: e.type,
      timestamp: Math.floor(e.createdAt.getTime() / 1000),
      headers,
    },
  };
}
