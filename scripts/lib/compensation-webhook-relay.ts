import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Stands between the gateway simulator's webhooks and the workers' `POST
 * /webhooks/stripe`. The simulator must be told its endpoints at start, but a
 * worker's ops port is known only once it runs (and changes when a chaos run
 * restarts it), so the simulator posts to one relay endpoint per worker slot
 * and the relay passes each delivery on byte for byte, signature included,
 * answering with the worker's status. A slot with no worker answers 503, so
 * the simulator retries as it would against a worker that is down. In
 * `record` mode nothing is passed on: a test keeps the signed deliveries to
 * send them itself.
 */
export interface RelayedDelivery {
  slot: number;
  /** The raw body, exactly as signed. */
  payload: string;
  signature: string;
  eventId: string;
  eventType: string;
  /** What the relay answered the simulator. */
  status: number;
}

export interface WebhookRelay {
  /** One endpoint per slot, for SIM_WEBHOOK_URL (comma-separated). */
  urls: string[];
  /** Where slot `slot`'s deliveries go from now on; undefined: nowhere (503). */
  route(slot: number, target: string | undefined): void;
  deliveries: RelayedDelivery[];
  close(): Promise<void>;
}

export async function startWebhookRelay(o: { slots: number; mode?: 'forward' | 'record' }): Promise<WebhookRelay> {
  const targets = new Map<number, string>();
  const deliveries: RelayedDelivery[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const slot = Number(/^\/slot\/(\d+)$/.exec(req.url ?? '')?.[1] ?? -1);
      const payload = await readAll(req);
      const signature = String(req.headers['stripe-signature'] ?? '');
      const answer = o.mode === 'record' ? { status: 200, body: '{}' } : await forward(targets.get(slot), payload, signature);
      deliveries.push({ slot, payload, signature, ...eventOf(payload), status: answer.status });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    })().catch(() => res.writeHead(500).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    urls: Array.from({ length: o.slots }, (_, i) => `http://127.0.0.1:${port}/slot/${i}`),
    route: (slot, target) => (target ? targets.set(slot, target) : targets.delete(slot)),
    deliveries,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function forward(target: string | undefined, payload: string, signature: string): Promise<{ status: number; body: string }> {
  if (!target) return { status: 503, body: '{"error":"no worker on this slot yet"}' };
  try {
    const response = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature },
      body: payload,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, body: await response.text() };
  } catch (err) {
    return { status: 502, body: JSON.stringify({ error: `worker at ${target} did not answer: ${(err as Error).message}` }) };
  }
}

function eventOf(payload: string): { eventId: string; eventType: string } {
  try {
    const event = JSON.parse(payload) as { id?: unknown; type?: unknown };
    return { eventId: String(event.id), eventType: String(event.type) };
  } catch {
    return { eventId: '(not JSON)', eventType: '(not JSON)' };
  }
}

async function readAll(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
