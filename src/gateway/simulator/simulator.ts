import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import qs from 'qs';
import type { Logger } from '../../observability/logger.js';
import { rollRequest } from './faults.js';
import { createControlRoutes } from './control-routes.js';
import type { Dispute } from './dispute-object.js';
import type { OpenDispute } from './disputes.js';
import type { StripeEvent } from './events.js';
import { BodyTooLargeError, dropConnection, newRequestId, readBody, send, stripeError } from './http-io.js';
import type { LedgerEntry } from './payment-intents.js';
import { createPrng, randomSeed } from './prng.js';
import type { RefundLedgerEntry } from './refunds.js';
import {
  applySettingsPatch,
  DEFAULT_SETTINGS,
  type SettingsPatch,
  type SimulatorSettings,
  type WebhookEndpoints,
} from './simulator.settings.js';
import { createSimClock } from './sim-clock.js';
import { createStripeAccount } from './stripe-account.js';
import { LATE_CHARGE_MS, stickyFaultOf } from './sticky-faults.js';
import type { Delivery } from './webhook-sender.js';

/**
 * The local payment-gateway simulator (CONTRACT.md section 5) as an
 * in-process server: tests start it on port 0, `main.ts` runs it as
 * `npm run gateway`. Built on node:http because faults need the raw socket:
 * a lost response destroys it after charging, a timeout holds it open.
 */
export type SimulatorOptions = SettingsPatch & {
  /** 0 (the default) picks a free port; `up()` after `down()` reuses the one picked. */
  port?: number;
  host?: string;
  /** Seeds every random decision; a random seed is chosen (see `seed`) when unset. */
  seed?: number;
  logger?: Logger;
  /** The base clock in milliseconds (Date.now by default); `advanceClock` moves the simulator ahead of it. */
  clock?: () => number;
  /** Where every event is POSTed, and the secret that signs it; no webhooks without it. */
  webhooks?: WebhookEndpoints;
  /** The first webhook retry's wait (500 ms), doubling after each failure; tests shorten it. */
  webhookBackoffMs?: number;
};

export interface Simulator {
  readonly url: string;
  readonly port: number;
  readonly seed: number;
  start(): Promise<void>;
  /** Goes down for good: stops listening, cuts every connection, cancels a pending outage. */
  close(): Promise<void>;
  /** Stops listening and cuts open connections: callers get connection refused until `up()`. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  isUp(): boolean;
  ledger(): LedgerEntry[];
  /** Every refund, as `GET /_sim/refunds` lists them. */
  refunds(): RefundLedgerEntry[];
  /** Plays the card holder's bank: a dispute on a succeeded charge (CONTRACT.md section 5), then `charge.dispute.created`. */
  openDispute(request: { paymentIntent: string; reason?: string }): OpenDispute;
  disputes(): Dispute[];
  /** The latest 10,000 events, in the order they happened, whether or not webhooks are configured. */
  events(): StripeEvent[];
  /** The latest 10,000 webhook deliveries and their outcomes so far. */
  webhookDeliveries(): Delivery[];
  /** Resolves once every webhook so far is delivered, dropped or given up. */
  webhooksIdle(): Promise<void>;
  /** Timers and sends still waiting (refunds to settle, webhooks to send or retry): 0 after `close()`. */
  pendingWork(): number;
  settings(): SimulatorSettings;
  /** Changes fault rates (and the success rate) from now on; throws SimulatorSettingsError on a bad value. */
  setFaults(patch: SettingsPatch): void;
  /** Down now, up again after `ms`. */
  outage(ms: number): Promise<void>;
  /** The simulator's clock in Unix seconds. */
  now(): number;
  /**
   * Moves the simulator's clock forward by whole seconds (1 to ten years):
   * timestamps, idempotency key expiry and search lag follow it. Answers the
   * new time in Unix seconds; throws ClockAdvanceError on a bad value.
   */
  advanceClock(seconds: number): number;
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const { port: requestedPort = 0, host = '127.0.0.1', seed = randomSeed(), logger, clock = Date.now, webhooks, webhookBackoffMs, ...patch } =
    options;
  let settings = applySettingsPatch({ ...DEFAULT_SETTINGS }, patch);
  const random = createPrng(seed);
  const simClock = createSimClock(clock);
  const account = createStripeAccount({ seed, simClock, clock, settings: () => settings, webhooks, webhookBackoffMs, logger });
  const { api, intents } = account;
  const sockets = new Set<Socket>();
  let port = requestedPort;
  let listening = false;
  // Bumped on every `down()`: a request that arrived before it is lost with its connection, never charged.
  let generation = 0;
  let outageTimer: NodeJS.Timeout | undefined;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const route = url.pathname.startsWith('/_sim/') ? control.handle(req, res, url) : handleApi(req, res, url);
    route.catch((error: unknown) => {
      // A caller that hung up, or a connection cut by down(), is not the simulator's failure.
      if (req.destroyed) return logger?.debug({ err: error }, 'simulator request abandoned');
      logger?.error({ err: error }, 'simulator request failed');
      send(res, stripeError(500, { type: 'api_error', message: 'simulator internal error' }));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const arrivedIn = generation;
    // Drawn synchronously on arrival, so the sequence follows the order requests arrive in.
    const roll = rollRequest(random, settings);
    const body = await parseForm(req);
    if (roll.latencyMs > 0) await sleep(roll.latencyMs);
    if (arrivedIn !== generation) return;
    logger?.debug({ method: req.method, path: url.pathname, roll }, 'simulator request');
    const sticky = stickyFaultOf(req.method ?? 'GET', url.pathname, body, intents.paymentMethodOf);
    if (roll.beforeCharge === 'timeout' || sticky === 'timeout') return; // held open, never answered, never charged
    if (roll.beforeCharge === 'error') {
      return send(res, stripeError(500, { type: 'api_error', message: 'Simulated gateway error (SIM_ERROR_RATE)' }));
    }
    if (roll.beforeCharge === 'rate_limit') {
      return send(res, stripeError(429, { type: 'invalid_request_error', code: 'rate_limit', message: 'Simulated rate limit (SIM_RATE_LIMIT_RATE)' }));
    }
    if (body === undefined) {
      return send(res, stripeError(400, { type: 'invalid_request_error', message: 'Request body too large' }));
    }
    if (sticky === 'late-charge') {
      // Runs (and charges, if the intent can still be confirmed) long after the caller gave up; nobody hears it.
      await sleep(LATE_CHARGE_MS);
      if (arrivedIn !== generation) return;
    }
    const response = api.respond({
      method: req.method ?? 'GET',
      url,
      headers: req.headers,
      body,
      successRoll: roll.successRoll,
      requestId: newRequestId(),
    });
    // A replay dropped again charges nothing: the key already holds its one result.
    if (roll.loseResponse || sticky === 'lose-response' || sticky === 'late-charge') return dropConnection(req);
    send(res, response);
  }

  function listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address();
        if (address && typeof address === 'object') port = address.port;
        listening = true;
        resolve();
      });
    });
  }

  async function stopListening(): Promise<void> {
    if (!listening) return;
    listening = false;
    generation += 1;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  }

  function clearOutage(): void {
    clearTimeout(outageTimer);
    outageTimer = undefined;
  }

  async function outage(ms: number): Promise<void> {
    clearOutage();
    logger?.info({ ms }, 'simulator outage: going down');
    await stopListening();
    outageTimer = setTimeout(() => {
      outageTimer = undefined;
      simulator.up().then(
        () => logger?.info({ port }, 'simulator outage over: listening again'),
        (error: unknown) => logger?.error({ err: error }, 'simulator could not listen again after the outage'),
      );
    }, ms);
  }

  const simulator: Simulator = {
    get url() {
      return `http://${host}:${port}`;
    },
    get port() {
      return port;
    },
    seed,
    start: listen,
    async close() {
      clearOutage();
      await Promise.all([stopListening(), account.close()]);
    },
    async down() {
      clearOutage();
      await stopListening();
    },
    async up() {
      clearOutage();
      if (!listening) await listen();
    },
    isUp: () => listening,
    ledger: () => intents.ledger(),
    refunds: () => account.refunds.ledger(),
    openDispute: (request) => account.disputes.open(request),
    disputes: () => account.disputes.list(),
    events: () => account.events.list(),
    webhookDeliveries: () => account.sender.deliveries(),
    webhooksIdle: () => account.sender.whenIdle(),
    pendingWork: account.pendingWork,
    settings: () => ({ ...settings, latencyMs: { ...settings.latencyMs }, webhookDelayMs: { ...settings.webhookDelayMs } }),
    setFaults(next) {
      settings = applySettingsPatch(settings, next);
      logger?.info({ settings }, 'simulator settings changed');
    },
    outage,
    now: simClock.unixSeconds,
    advanceClock(seconds) {
      const now = simClock.advance(seconds);
      logger?.info({ seconds, now }, 'simulator clock advanced');
      return now;
    },
  };
  const control = createControlRoutes(simulator);
  return simulator;
}

/** The form body as `qs` parses Stripe's bracket keys; undefined when it is too large. */
async function parseForm(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  try {
    return qs.parse(await readBody(req), { depth: 5, arrayLimit: 100 }) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof BodyTooLargeError) return undefined;
    throw error;
  }
}
