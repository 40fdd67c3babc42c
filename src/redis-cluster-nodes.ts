import type { ClusterAuth, ClusterNode } from './redis.js';

/**
 * REDIS_CLUSTER_NODES: comma-separated `host:port` entries, or URL entries
 * `redis://[user:password@]host:port` / `rediss://…` (TLS) for a cluster that
 * needs AUTH. The client uses one set of options for every node, those it
 * learns from the slot map too, so every entry must say the same scheme and
 * credentials; a plain `host:port` says `redis://` without credentials. A
 * mix is refused rather than guessed: "these nodes have a password and that
 * one has none" is not something a cluster can be.
 */
export interface ParsedClusterNodes {
  nodes: ClusterNode[];
  /** Unset when the entries carry no credentials and no TLS. */
  auth: ClusterAuth | undefined;
  /** One line each, with no password in them. */
  problems: string[];
}

interface Entry extends ClusterNode {
  /** The entry as written, credentials masked: what a problem may show. */
  shown: string;
  tls: boolean;
  username: string;
  password: string;
}

const PLAIN = /^(\[[0-9a-f:.]+\]|[a-z0-9][a-z0-9.-]*):(\d{1,5})$/i;
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export function parseClusterNodes(value: string): ParsedClusterNodes {
  const texts = entriesOf(value);
  if (!texts.length) return { nodes: [], auth: undefined, problems: ['must list at least one host:port'] };
  const problems: string[] = [];
  const entries = texts.flatMap((text) => {
    const parsed = SCHEME.test(text) ? urlEntry(text) : plainEntry(text);
    if (typeof parsed === 'string') problems.push(parsed);
    return typeof parsed === 'string' ? [] : [parsed];
  });
  const disagreement = entries.length === texts.length ? disagreementOf(entries) : undefined;
  if (disagreement) problems.push(disagreement);
  const first = entries[0];
  const auth = first && (first.tls || first.username || first.password) ? authOf(first) : undefined;
  return { nodes: entries.map(({ host, port }) => ({ host, port })), auth, problems };
}

/** REDIS_CLUSTER_NODES as a problem may show it: every entry's credentials hidden. */
export function maskedClusterNodes(value: string | undefined): string | undefined {
  return value === undefined ? undefined : piecesOf(value).map(masked).join(',');
}

/**
 * The entries, split at commas, except one inside credentials: a piece with an
 * @ and no scheme can only be the rest of the previous entry's password (a
 * host:port has no @), so it is joined back rather than shown on its own.
 */
function piecesOf(value: string): string[] {
  const pieces: string[] = [];
  for (const piece of value.split(',')) {
    if (pieces.length && piece.includes('@') && !SCHEME.test(piece.trim())) pieces[pieces.length - 1] += `,${piece}`;
    else pieces.push(piece);
  }
  return pieces;
}

const entriesOf = (value: string) => piecesOf(value).map((e) => e.trim()).filter(Boolean);

/** REDIS_CLUSTER_NODES for these nodes, as parseClusterNodes reads it back: for a child process's environment. */
export function clusterNodesValue(nodes: readonly ClusterNode[], auth?: ClusterAuth): string {
  const credentials = auth?.username || auth?.password ? `${encodeURIComponent(auth.username ?? '')}:${encodeURIComponent(auth.password ?? '')}@` : '';
  const scheme = auth?.tls ? 'rediss://' : credentials ? 'redis://' : '';
  return nodes.map((n) => `${scheme}${credentials}${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',');
}

function plainEntry(text: string): Entry | string {
  const m = PLAIN.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65_535) return `entry "${masked(text)}" must be host:port (port 1-65535)`;
  return { host: unbracketed(m[1]!), port: Number(m[2]), shown: text, tls: false, username: '', password: '' };
}

function urlEntry(text: string): Entry | string {
  const shown = masked(text);
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url?.protocol !== 'redis:' && url?.protocol !== 'rediss:') {
    return `entry "${shown}" must be host:port, redis://[user:password@]host:port or rediss://[user:password@]host:port (port 1-65535); percent-encode any / ? # or % in a password`;
  }
  const port = Number(url.port);
  if (!url.hostname || !url.port || port < 1) return `entry "${shown}" must name a host and a port 1-65535 (redis://[user:password@]host:port)`;
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
    return `entry "${shown}" must end at host:port: a cluster has database 0 only and takes no URL options`;
  }
  try {
    const username = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    return { host: unbracketed(url.hostname), port, shown, tls: url.protocol === 'rediss:', username, password };
  } catch {
    return `entry "${shown}" has credentials that are not valid percent-encoding (write % as %25)`;
  }
}

/** The first entry and those that say otherwise, with what differs; never the values. */
function disagreementOf(entries: Entry[]): string | undefined {
  const [first, ...rest] = entries as [Entry, ...Entry[]];
  const differences = new Set<string>();
  const others = rest.filter((e) => {
    const fields = [
      e.tls !== first.tls ? 'scheme (redis:// or rediss://)' : '',
      e.username !== first.username ? 'username' : '',
      e.password !== first.password ? 'password' : '',
    ].filter(Boolean);
    fields.forEach((f) => differences.add(f));
    return fields.length > 0;
  });
  if (!others.length) return undefined;
  return (
    `entries "${first.shown}" and ${others.map((e) => `"${e.shown}"`).join(', ')} differ in ${[...differences].join(' and ')}: ` +
    'every node of a cluster is reached with one scheme and one set of credentials, so write them the same in every entry ' +
    '(a plain host:port means redis:// with no credentials)'
  );
}

function authOf(entry: Entry): ClusterAuth {
  return {
    ...(entry.username ? { username: entry.username } : {}),
    ...(entry.password ? { password: entry.password } : {}),
    tls: entry.tls,
  };
}

const unbracketed = (host: string) => host.replace(/^\[|\]$/g, '');

/** Everything up to the entry's last @ hidden, after the scheme if any: a password with an unencoded / or @ must not show either. */
function masked(text: string): string {
  return SCHEME.test(text.trim()) ? text.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/).*@/i, '$1***@') : text.replace(/^(\s*).*@/, '$1***@');
}
