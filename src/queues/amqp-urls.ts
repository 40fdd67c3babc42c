/**
 * `AMQP_URL` (CONTRACT.md §2) names one broker or, comma-separated, the nodes
 * of a RabbitMQ cluster: `amqp://u:p@rabbit-1:5672/payments,amqp://u:p@rabbit-2:5672/payments`.
 * amqp-connection-manager connects to one at a time and moves to the next
 * when a connection fails or drops, so every entry must reach the same vhost.
 */
export function amqpUrlsOf(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/** The vhost a URL names: an empty path and `/` are both the default vhost. */
export function vhostOf(url: URL): string {
  return url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : '/';
}

/**
 * The list turned so it starts at entry `first`. Each process starts at a node
 * of its own (a random one by default), so a fleet's connections spread over
 * the cluster and one node's loss drops only its share of them.
 */
export function startingAt<T>(entries: readonly T[], first: number): T[] {
  const at = ((first % entries.length) + entries.length) % entries.length;
  return [...entries.slice(at), ...entries.slice(0, at)];
}
