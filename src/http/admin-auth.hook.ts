import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RateLimitedLog } from './rate-limited-log.js';
import { isLoopback, isLoopbackHost, isSameOrigin } from './request-origin.js';

/**
 * Who may see the dashboards (CONTRACT.md §2, ADMIN_TOKEN).
 *
 * Default deny: every route is guarded unless it is declared with
 * `config: { public: true }` (health, metrics, and later the Stripe webhook,
 * which carries its own signature). So Bull Board's own routes, any route
 * added later, and unknown paths are all covered without a list.
 *
 * - ADMIN_TOKEN unset: only loopback callers get in; anyone else gets 403.
 *   Loopback means both the socket's address (never X-Forwarded-For: no
 *   trustProxy, so a remote caller cannot claim to be local) and the Host
 *   name: a DNS-rebinding page in an operator's browser reaches 127.0.0.1
 *   under a name of its own, and the browser sends that name as Host.
 *   A reverse proxy on the same host makes every caller loopback: set
 *   ADMIN_TOKEN behind one (README, Configuration).
 * - ADMIN_TOKEN set: every caller, loopback too, must send
 *   `Authorization: Bearer <token>`; else 401. A browser cannot add a Bearer
 *   header, so HTTP Basic with the token as the password is taken too (the
 *   401 offers it, and the browser asks once and resends it, polling included).
 * - Either way, a request that changes something (not GET/HEAD) must come
 *   from one of this server's own pages (Origin, or Sec-Fetch-Site): a browser
 *   resends remembered Basic credentials, and loopback, to any page's form.
 *
 * Refusals are logged at debug, one line per reason a minute at most.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Open to anyone, with no token and no Origin check: health checks and the Prometheus scrape. */
    public?: boolean;
  }
}

export { isLoopback } from './request-origin.js';

const REALM = 'payment-service ops';
const READS = new Set(['GET', 'HEAD']);

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token a request carries: the Bearer credential, or the Basic password (any user name). */
export function presentedToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const [scheme, credential = ''] = authorization.trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer') return credential;
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(credential, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? undefined : decoded.slice(colon + 1);
  }
  return undefined;
}

interface Refusal {
  reason: 'not loopback' | 'Host is not a loopback name' | 'missing or wrong admin token' | 'cross-origin';
  status: 401 | 403;
  message: string;
}

function localUrl(request: FastifyRequest): string {
  return `http://127.0.0.1:${request.socket.localPort ?? '<HTTP_PORT>'}/`;
}

function loopbackRefusal(request: FastifyRequest): Refusal | undefined {
  if (!isLoopback(request.socket.remoteAddress)) {
    const message = 'the ops pages answer loopback callers only while ADMIN_TOKEN is unset: set ADMIN_TOKEN to allow remote access';
    return { reason: 'not loopback', status: 403, message };
  }
  if (isLoopbackHost(request.headers.host)) return undefined;
  const message =
    'while ADMIN_TOKEN is unset the ops pages answer only under a loopback name (a page of another site may be reaching this port through its own DNS name): ' +
    `open ${localUrl(request)} or http://localhost:<port>/, or set ADMIN_TOKEN`;
  return { reason: 'Host is not a loopback name', status: 403, message };
}

function tokenRefusal(request: FastifyRequest, adminToken: string): Refusal | undefined {
  const token = presentedToken(request.headers.authorization);
  if (token !== undefined && tokenMatches(token, adminToken)) return undefined;
  return { reason: 'missing or wrong admin token', status: 401, message: 'send Authorization: Bearer <ADMIN_TOKEN>' };
}

function originRefusal(request: FastifyRequest): Refusal | undefined {
  if (READS.has(request.method) || isSameOrigin(request.headers)) return undefined;
  const message =
    `a ${request.method} to the ops server must come from its own pages: the Origin header must name this server's Host ` +
    '(a script can send Origin: http://<host>:<port>)';
  return { reason: 'cross-origin', status: 403, message };
}

export interface AdminAuthOptions {
  adminToken?: string;
  /** Refusal lines are rate-limited through this (tests pass one with a clock). */
  refusalLog?: RateLimitedLog;
}

export function createAdminAuthHook({ adminToken, refusalLog = new RateLimitedLog() }: AdminAuthOptions) {
  return async function adminAuth(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.routeOptions.config?.public === true) return;
    const refusal =
      (adminToken === undefined ? loopbackRefusal(request) : tokenRefusal(request, adminToken)) ?? originRefusal(request);
    if (refusal === undefined) return;
    refusalLog.note(refusal.reason, (suppressed) => {
      const { host, origin } = request.headers;
      const line = { remote: request.socket.remoteAddress, method: request.method, url: request.url, host, origin, suppressed };
      request.log.debug(line, `ops request refused: ${refusal.reason}`);
    });
    if (refusal.status === 401) reply.header('www-authenticate', [`Bearer realm="${REALM}"`, `Basic realm="${REALM}", charset="UTF-8"`]);
    await reply.code(refusal.status).send({ error: refusal.status === 401 ? 'unauthorized' : 'forbidden', message: refusal.message });
  };
}
