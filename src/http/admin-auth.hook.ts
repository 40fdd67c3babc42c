import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Who may see the dashboards (CONTRACT.md §2, ADMIN_TOKEN).
 *
 * Default deny: every route is guarded unless it is declared with
 * `config: { public: true }` (health and metrics). So Bull Board's own routes,
 * any route added later, and unknown paths are all covered without a list.
 *
 * - ADMIN_TOKEN unset: only loopback callers get in; anyone else gets 403.
 *   The socket's address decides, never X-Forwarded-For (no trustProxy), so
 *   a remote caller cannot claim to be local.
 * - ADMIN_TOKEN set: every caller, loopback too, must send
 *   `Authorization: Bearer <token>`; else 401. A browser cannot add a Bearer
 *   header, so HTTP Basic with the token as the password is taken too (the
 *   401 offers it, and the browser asks once and resends it, polling included).
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Open to anyone: health checks and the Prometheus scrape. */
    public?: boolean;
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const REALM = 'payment-service ops';

export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && LOOPBACK.has(address);
}

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

export interface AdminAuthOptions {
  adminToken?: string;
}

export function createAdminAuthHook({ adminToken }: AdminAuthOptions) {
  return async function adminAuth(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.routeOptions.config?.public === true) return;
    const remote = request.socket.remoteAddress;
    if (adminToken === undefined) {
      if (isLoopback(remote)) return;
      request.log.warn({ remote, url: request.url }, 'ops request refused: not loopback and ADMIN_TOKEN is unset');
      await reply.code(403).send({
        error: 'forbidden',
        message: 'the ops pages answer loopback callers only while ADMIN_TOKEN is unset: set ADMIN_TOKEN to allow remote access',
      });
      return;
    }
    const token = presentedToken(request.headers.authorization);
    if (token !== undefined && tokenMatches(token, adminToken)) return;
    request.log.warn({ remote, url: request.url, tokenSent: token !== undefined }, 'ops request refused: missing or wrong admin token');
    await reply
      .code(401)
      .header('www-authenticate', [`Bearer realm="${REALM}"`, `Basic realm="${REALM}", charset="UTF-8"`])
      .send({ error: 'unauthorized', message: 'send Authorization: Bearer <ADMIN_TOKEN>' });
  };
}
