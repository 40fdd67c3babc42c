import type { Logger } from '../../src/observability/logger.js';
import type { AmqpConnection } from '../../src/queues/amqp-connection.js';
import { INPUT_QUEUE } from '../../src/queues/topology.js';
import type { LocalCluster, LocalNode } from './local-cluster.js';
import { consumeAll, publishAll, type Consuming, type Publishing } from './traffic.js';

/** What one scenario saw. */
export interface Outcome {
  messages: number;
  publishes: number;
  republished: number;
  confirmed: number;
  deliveries: number;
  received: number;
  duplicates: number;
  /** Deliveries the queue counted as a further attempt (x-delivery-count), toward its delivery limit. */
  counted: number;
  /** Confirmed but never handled by a consumer: must be 0. */
  lost: number;
  /** From `since` (the loss, or a node's restart) to the next confirm, or to the end of the longest gap between confirms after it. */
  confirmPauseMs: number | null;
  /** The same for deliveries. */
  deliveryPauseMs: number | null;
}

export interface Traffic {
  connect(firstNode: number): AmqpConnection;
  logger: Logger;
  ratePerS: number;
  handleMs: number;
}

const WAIT_MS = 180_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(6, '0')}`);

async function until(check: () => boolean, what: string | (() => string), timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(20);
  }
}

/** Waits until every message is confirmed and handled, then a second more (late redeliveries are counted too). */
async function settled(messages: string[], p: Publishing, c: Consuming): Promise<void> {
  const state = () => `${p.confirmed.size} of ${messages.length} confirmed, ${messages.filter((id) => c.handled.has(id)).length} handled`;
  try {
    await until(() => p.confirmed.size === messages.length, () => `every message to be confirmed (${state()})`);
    await until(() => messages.every((id) => c.handled.has(id)), () => `every message to be handled (${state()})`);
    await sleep(1_000);
  } finally {
    p.stop();
    await c.stop();
  }
}

/**
 * How long the stream stood still after `since`: the longest wait, counted
 * from `since` at the earliest, between one event and the next. A confirm
 * that lands in the millisecond of the kill does not hide the pause after it.
 */
function pauseAfter(times: Iterable<number>, since: number): number | null {
  const sorted = [...times].sort((a, b) => a - b);
  let longest: number | null = null;
  sorted.forEach((t, i) => {
    if (t < since) return;
    const wait = t - Math.max(sorted[i - 1] ?? since, since);
    longest = Math.max(longest ?? 0, wait);
  });
  return longest;
}

function outcomeOf(messages: string[], p: Publishing, c: Consuming, since: number): Outcome {
  const times = messages.map((id) => c.handled.get(id) ?? 0);
  return {
    messages: messages.length,
    publishes: p.sent,
    republished: p.republished,
    confirmed: p.confirmed.size,
    deliveries: times.reduce((a, b) => a + b, 0),
    received: times.filter((n) => n > 0).length,
    duplicates: times.reduce((a, n) => a + Math.max(0, n - 1), 0),
    counted: c.counted,
    lost: [...p.confirmed.keys()].filter((id) => !c.handled.has(id)).length,
    confirmPauseMs: pauseAfter(p.confirmed.values(), since),
    deliveryPauseMs: pauseAfter(c.times, since),
  };
}

const indexOf = (cluster: LocalCluster, node: LocalNode) => cluster.nodes.indexOf(node);

/**
 * One node lost, the one leading the input queue: the publisher and the busier
 * consumer are connected to it, a second consumer to another node. Killed once
 * `killAt` of the messages are confirmed.
 */
export async function loseTheLeader(cluster: LocalCluster, t: Traffic, o: { messages: number; killAt: number }) {
  const leaderName = await cluster.leaderOf(INPUT_QUEUE, cluster.nodes[0]!);
  const leader = cluster.nodes.find((n) => n.name === leaderName)!;
  const other = cluster.nodes[(indexOf(cluster, leader) + 1) % 3]!;
  const messages = ids('leader-lost', o.messages);
  const consuming = consumeAll([{ connection: t.connect(indexOf(cluster, leader)), priority: 10 }, { connection: t.connect(indexOf(cluster, other)), priority: 0 }], t.handleMs, t.logger);
  const publishing = publishAll(t.connect(indexOf(cluster, leader)), 'leader-lost', messages, { ratePerS: t.ratePerS, window: 200, timeoutMs: 5_000 });
  await until(() => publishing.confirmed.size >= o.messages * o.killAt, 'the first confirms');
  const watch = cluster.watchLeader(INPUT_QUEUE, leader.name, other, 60_000);
  await watch.watching;
  const killedAt = await cluster.kill(leader);
  const electedAt = await watch.seen;
  await settled(messages, publishing, consuming);
  return { killed: leader, newLeaderAfterMs: electedAt - killedAt, ...outcomeOf(messages, publishing, consuming, killedAt) };
}

/**
 * Two of three lost: `down` is down already, `kill` goes too, and the one node
 * left holds no majority. For `minorityMs` the publisher and a consumer on that
 * node get nothing (each publish times out and is sent again, as the relay
 * does); then `down` is started again.
 */
export async function loseTheMajority(cluster: LocalCluster, t: Traffic, o: { down: LocalNode; kill: LocalNode; messages: number; minorityMs: number }) {
  const left = cluster.nodes.find((n) => n !== o.down && n !== o.kill)!;
  await cluster.kill(o.kill);
  const messages = ids('majority-lost', o.messages);
  const consuming = consumeAll([{ connection: t.connect(indexOf(cluster, left)), priority: 0 }], t.handleMs, t.logger);
  const publishing = publishAll(t.connect(indexOf(cluster, left)), 'majority-lost', messages, { ratePerS: t.ratePerS, window: 200, timeoutMs: 2_000 });
  await sleep(o.minorityMs); // the window observed: nothing is expected to happen in it
  const duringMinority = { publishes: publishing.sent, confirmed: publishing.confirmed.size, delivered: consuming.deliveries };
  const restartedAt = Date.now();
  await cluster.restart(o.down);
  await settled(messages, publishing, consuming);
  return { left, restarted: o.down, duringMinority, ...outcomeOf(messages, publishing, consuming, restartedAt) };
}

/**
 * The node holding the classic dead-letter queue lost (with the others up, the
 * input queue keeps its majority). The consumer was connected to it: on
 * reconnecting elsewhere it declares the topology again, which fails while
 * that queue's node is down. Started again after `outageMs`.
 */
export async function loseTheDeadLetterNode(cluster: LocalCluster, t: Traffic, o: { home: LocalNode; messages: number; outageMs: number }) {
  const publisherNode = cluster.nodes.find((n) => n !== o.home)!;
  const messages = ids('dead-letter-node-lost', o.messages);
  const consuming = consumeAll([{ connection: t.connect(indexOf(cluster, o.home)), priority: 0 }], t.handleMs, t.logger);
  const publishing = publishAll(t.connect(indexOf(cluster, publisherNode)), 'dead-letter-node-lost', messages, { ratePerS: t.ratePerS, window: 200, timeoutMs: 5_000 });
  await until(() => consuming.deliveries >= o.messages * 0.3, 'the first deliveries');
  const killedAt = await cluster.kill(o.home);
  await sleep(o.outageMs); // the window observed
  const duringOutage = { confirmed: publishing.confirmed.size, deliveredSinceKill: consuming.times.filter((at) => at > killedAt).length };
  const restartedAt = Date.now();
  await cluster.restart(o.home);
  await settled(messages, publishing, consuming);
  const firstDelivery = Math.min(...consuming.times.filter((at) => at > killedAt));
  return { killed: o.home, duringOutage, deliveredAfterRestartMs: firstDelivery - restartedAt, ...outcomeOf(messages, publishing, consuming, killedAt) };
}
