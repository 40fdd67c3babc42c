import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, send } from './http-io.js';
import { ClockAdvanceError } from './sim-clock.js';
import type { Simulator } from './simulator.js';
import { SimulatorSettingsError } from './simulator.settings.js';

/**
 * `/_sim/*`: the simulator's own routes for tests, reconciliation and chaos
 * runs. Never subject to faults.
 *   GET  /_sim/charges       every charge attempt (the ledger)
 *   GET  /_sim/refunds       every refund
 *   POST /_sim/disputes      JSON { paymentIntent, reason? }: opens a dispute on a succeeded charge
 *   GET  /_sim/disputes      every dispute
 *   GET  /_sim/events        the latest 10,000 events, oldest first
 *   GET  /_sim/webhooks      the latest 10,000 webhook deliveries and their outcomes
 *   GET  /_sim/faults        the current settings and seed
 *   POST /_sim/faults        JSON patch of the settings
 *   POST /_sim/outage?ms=N   down now, up again after N ms
 *   GET  /_sim/clock         the simulator's time, { now } in Unix seconds
 *   POST /_sim/clock?advance=SECONDS  moves that time forward
 */
const MAX_OUTAGE_MS = 600_000;

export function createControlRoutes(simulator: Simulator) {
  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = `${req.method} ${url.pathname.replace(/\/+$/, '')}`;
    if (route === 'GET /_sim/charges') return send(res, { status: 200, body: simulator.ledger() });
    if (route === 'GET /_sim/refunds') return send(res, { status: 200, body: simulator.refunds() });
    if (route === 'POST /_sim/disputes') return openDispute(req, res);
    if (route === 'GET /_sim/disputes') return send(res, { status: 200, body: simulator.disputes() });
    if (route === 'GET /_sim/events') return send(res, { status: 200, body: simulator.events() });
    if (route === 'GET /_sim/webhooks') return send(res, { status: 200, body: simulator.webhookDeliveries() });
    if (route === 'GET /_sim/faults') return send(res, { status: 200, body: describe() });
    if (route === 'POST /_sim/faults') return setFaults(req, res);
    if (route === 'POST /_sim/outage') return outage(res, url);
    if (route === 'GET /_sim/clock') return send(res, { status: 200, body: { now: simulator.now() } });
    if (route === 'POST /_sim/clock') return advanceClock(res, url);
    send(res, { status: 404, body: { error: `no simulator route ${route}` } });
  }

  function describe() {
    return { seed: simulator.seed, ...simulator.settings() };
  }

  async function setFaults(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let patch: unknown;
    try {
      patch = JSON.parse(await readBody(req));
      simulator.setFaults(patch as Parameters<Simulator['setFaults']>[0]);
    } catch (error) {
      const message = error instanceof SimulatorSettingsError ? error.message : 'body must be a JSON object of settings';
      return send(res, { status: 400, body: { error: message } });
    }
    send(res, { status: 200, body: describe() });
  }

  async function openDispute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let request: unknown;
    try {
      request = JSON.parse(await readBody(req));
    } catch {
      return send(res, { status: 400, body: { error: 'cannot open a dispute: the body must be JSON { "paymentIntent": "pi_…" }' } });
    }
    const opened = simulator.openDispute(request as Parameters<Simulator['openDispute']>[0]);
    send(res, opened.ok ? { status: 200, body: opened.dispute } : { status: 400, body: { error: opened.message } });
  }

  function outage(res: ServerResponse, url: URL): void {
    const text = url.searchParams.get('ms') ?? '';
    const ms = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(ms >= 1 && ms <= MAX_OUTAGE_MS)) {
      return send(res, { status: 400, body: { error: `ms must be a whole number of milliseconds from 1 to ${MAX_OUTAGE_MS}` } });
    }
    // Answer first: going down cuts this connection too.
    res.once('finish', () => setImmediate(() => void simulator.outage(ms)));
    send(res, { status: 202, body: { downForMs: ms } });
  }

  function advanceClock(res: ServerResponse, url: URL): void {
    const text = url.searchParams.get('advance') ?? '';
    try {
      if (!/^\d+$/.test(text)) throw new ClockAdvanceError(JSON.stringify(text));
      send(res, { status: 200, body: { now: simulator.advanceClock(Number(text)) } });
    } catch (error) {
      if (!(error instanceof ClockAdvanceError)) throw error;
      send(res, { status: 400, body: { error: error.message } });
    }
  }

  return { handle };
}
