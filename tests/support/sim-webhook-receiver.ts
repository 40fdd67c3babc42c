import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook endpoint for simulator tests: records every POST it receives
 * (raw body and signature, for `stripe.webhooks.constructEvent`), answers
 * with the status `answer` picks, and lets a test await the receipts it
 * expects instead of sleeping.
 */
export interface Receipt {
  /** The raw body, exactly as signed. */
  payload: string;
  signature: string;
  event: { id: string; type: string; data: { object: { id: string; status?: string } } };
  /** The status this receipt was answered with. */
  answered: number;
}

export interface WebhookReceiver {
  url: string;
  receipts: Receipt[];
  /** Resolves once `count` receipts match `match` (all receipts by default). */
  received(count: number, match?: (receipt: Receipt) => boolean): Promise<Receipt[]>;
  close(): Promise<void>;
}

/** `answer` sees the receipt's position (0-based) among those for the same event id. */
export async function startWebhookReceiver(answer: (attemptForEvent: number) => number = () => 200): Promise<WebhookReceiver> {
  const receipts: Receipt[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    void readAll(req).then((payload) => {
      const event = JSON.parse(payload) as Receipt['event'];
      const answered = answer(receipts.filter((receipt) => receipt.event.id === event.id).length);
      receipts.push({ payload, signature: String(req.headers['stripe-signature']), event, answered });
      res.writeHead(answered, { 'content-type': 'application/json' }).end('{}');
      for (const wake of waiters) wake();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  function received(count: number, match: (receipt: Receipt) => boolean = () => true): Promise<Receipt[]> {
    return new Promise((resolve) => {
      const check = () => {
        const matching = receipts.filter(match);
        if (matching.length < count) return;
        waiters.delete(check);
        resolve(matching);
      };
      waiters.add(check);
      check();
    });
  }

  return {
    url: `http://127.0.0.1:${port}/webhooks`,
    receipts,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readAll(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
