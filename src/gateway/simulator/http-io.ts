import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A response the simulator decided on, before faults decide whether it is delivered. */
export interface SimResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface StripeErrorBody {
  type: 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error';
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  charge?: string;
  payment_intent?: unknown;
}

/**
 * Stripe's error envelope. The status decides which class the `stripe`
 * package raises: 402 card, 400/404 invalid request (or idempotency by
 * `type`), 401 authentication, 429 rate limit, anything else API error.
 */
export function stripeError(status: number, error: StripeErrorBody): SimResponse {
  return { status, body: { error } };
}

/** Stripe's 404 for an id it does not know, naming the parameter that carried it. */
export function resourceMissing(resource: string, id: string, param: string): SimResponse {
  return stripeError(404, { type: 'invalid_request_error', code: 'resource_missing', param, message: `No such ${resource}: '${id.slice(0, 80)}'` });
}

const MAX_BODY_BYTES = 64 * 1024;

export class BodyTooLargeError extends Error {
  constructor() {
    super(`request body over ${MAX_BODY_BYTES} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Stripe's `Request-Id` shape. */
export function newRequestId(): string {
  return `req_sim${randomBytes(7).toString('hex')}`;
}

export function send(res: ServerResponse, response: SimResponse): void {
  if (res.destroyed || res.headersSent) return;
  const payload = JSON.stringify(response.body);
  res.writeHead(response.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'request-id': newRequestId(),
    ...response.headers,
  });
  res.end(payload);
}

/** Answers nothing and cuts the connection: the caller sees a reset, never a response. */
export function dropConnection(req: IncomingMessage): void {
  req.socket.destroy();
}
