import type { IncomingHttpHeaders } from 'node:http';

/**
 * What a request says about where it came from, for the ops server's guard
 * (admin-auth.hook.ts). Only headers a browser sets itself are read: a page
 * cannot forge Host, Origin or Sec-Fetch-Site, which is the point.
 */

const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
/** host or [ipv6], then an optional port: nothing else (a user@ or a path would fool URL parsing). */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i;

export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && LOOPBACK_ADDRESSES.has(address);
}

/** The Host header's hostname as a browser would resolve it (127.1 is 127.0.0.1), or undefined when malformed. */
export function hostnameOf(host: string | undefined): string | undefined {
  if (host === undefined || !HOST_HEADER.test(host)) return undefined;
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * A name that can only mean this machine. A DNS-rebinding page reaches
 * 127.0.0.1 through a name of its own, and the browser sends that name as
 * Host: so a loopback socket alone does not prove a local caller.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  const name = hostnameOf(host);
  if (name === undefined) return false;
  return name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * True when a browser says the request comes from a page of this very server:
 * Origin names the Host (scheme aside: a TLS proxy may sit in front), or, with
 * no Origin, Sec-Fetch-Site is same-origin or none (typed in the address bar).
 * A request with neither is refused: every current browser sends one of them on
 * a non-GET request, and a script (curl) can add `Origin: http://<host>`.
 */
export function isSameOrigin(headers: IncomingHttpHeaders): boolean {
  const origin = single(headers.origin);
  if (origin !== undefined) {
    if (hostnameOf(headers.host) === undefined) return false;
    try {
      const o = new URL(origin);
      if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
      return o.host === new URL(`${o.protocol}//${headers.host}`).host;
    } catch {
      return false; // "null" (a sandboxed frame, a file: page) and garbage alike
    }
  }
  const site = single(headers['sec-fetch-site']);
  return site === 'same-origin' || site === 'none';
}
