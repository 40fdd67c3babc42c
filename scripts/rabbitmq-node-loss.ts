// `npm run rabbitmq:node-loss`: what losing RabbitMQ nodes does to in-flight
// messages and confirms, on a three-node cluster started here from the
// installed rabbitmq-server (no Docker; the system broker on 5672 is left
// alone). A publisher with confirms and the worker's input consumer, built from
// the service's own parts, run a stream through the input queue (quorum)
// while nodes are killed (kill -9): first the queue's leader, then a second
// node (no majority) until one is started again, then the node holding the
// classic dead-letter queue. Prints what each scenario saw, then a JSON last
// line; exits non-zero if a confirmed message was lost. Everything it started
// is stopped and its temporary directory removed, also on Ctrl-C.
// Options: --messages N (3000), --rate N per second (300), --base-port P (5681:
// AMQP on P..P+2, Erlang distribution on P+20000..P+20002).
import { parseArgs } from 'node:util';
import pino from 'pino';
import { runCli, UserFacingError } from '../src/cli.js';
import { createLogger } from '../src/observability/logger.js';
import { createAmqpConnection, type AmqpConnection } from '../src/queues/amqp-connection.js';
import { DEAD_LETTER_QUEUE, INPUT_QUEUE, declareDeadLetterQueue, declareTopologyOn } from '../src/queues/topology.js';
import { cannotRunHere, localNodes, startLocalCluster, type LocalCluster } from './rabbitmq-node-loss/local-cluster.js';
import { loseTheDeadLetterNode, loseTheLeader, loseTheMajority, type Outcome } from './rabbitmq-node-loss/scenarios.js';

const say = (line: string) => console.log(`rabbitmq-node-loss: ${line}`);
const seconds = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);

function options() {
  const { values } = parseArgs({ options: { messages: { type: 'string' }, rate: { type: 'string' }, 'base-port': { type: 'string' } } });
  const whole = (name: string, value: string | undefined, fallback: number, min: number) => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min) throw new UserFacingError(`--${name} must be a whole number of at least ${min}`);
    return Number(value);
  };
  return { messages: whole('messages', values.messages, 3000, 100), rate: whole('rate', values.rate, 300, 10), basePort: whole('base-port', values['base-port'], 5681, 1024) };
}

function describe(o: Outcome, since: string): void {
  say(`  published ${o.messages} messages in ${o.publishes} publishes (${o.republished} sent again after a failed or missing confirm)`);
  say(`  confirmed ${o.confirmed}; received ${o.received} distinct in ${o.deliveries} deliveries: ${o.duplicates} duplicates (deduped by id), ${o.lost} confirmed messages lost`);
  say(`  ${o.counted} deliveries carried x-delivery-count > 0 (a further attempt toward the queue's delivery limit)`);
  say(`  from ${since}: confirms paused ${seconds(o.confirmPauseMs)}, deliveries paused ${seconds(o.deliveryPauseMs)} (longest wait for the next one)`);
}

/** The topology as workers declare it at start, with the dead-letter queue (classic, one node) put on `dlqNode`. */
async function declareTopology(connect: (firstNode: number) => AmqpConnection, cluster: LocalCluster, dlqNode: number) {
  const onDlqNode = connect(dlqNode);
  await onDlqNode.waitUntilUp(30_000);
  const channel = onDlqNode.createChannel({ name: 'dead-letter-queue', confirm: false, setup: declareDeadLetterQueue });
  await channel.waitForConnect();
  await channel.close();
  const onFirst = connect(0);
  await onFirst.waitUntilUp(30_000);
  await declareTopologyOn(onFirst);
  const leader = await cluster.leaderOf(INPUT_QUEUE, cluster.nodes[0]!);
  if (leader !== cluster.nodes[0]!.name) throw new Error(`the input queue's leader is ${leader}, not the declaring node: run again`);
}

await runCli('rabbitmq:node-loss', async () => {
  const o = options();
  const nodes = localNodes(o.basePort);
  const why = await cannotRunHere(nodes);
  if (why) throw new UserFacingError(`cannot run here: ${why}`);

  // 1. Three nodes, joined into one cluster; stopped whatever happens.
  say(`starting ${nodes.map((n) => `${n.name} (127.0.0.1:${n.amqpPort})`).join(', ')} and joining them`);
  const started = Date.now();
  const cluster = await startLocalCluster(nodes);
  const connections: AmqpConnection[] = [];
  // Each step's connections are closed after it, so the next starts from none.
  const closeConnections = async () => void (await Promise.allSettled(connections.splice(0).map((c) => c.close())));
  const cleanUp = async () => {
    await closeConnections();
    await cluster.stop();
  };
  const interrupted = () => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  say(`cluster up in ${seconds(Date.now() - started)}`);
  const logger = createLogger(process.env.LOG_LEVEL ?? 'fatal', pino.destination({ dest: 2, sync: true }));
  const url = nodes.map((n) => n.amqpUrl).join(',');
  const connect = (firstNode: number) => {
    const connection = createAmqpConnection({ url, firstNode, logger });
    connections.push(connection);
    return connection;
  };
  try {
    // 2. The topology: the input queue's leader on the first node, the dead-letter queue on the last.
    const [first, second, last] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];
    await declareTopology(connect, cluster, 2);
    await closeConnections();
    say(`${INPUT_QUEUE}: quorum queue, replicas on all three nodes, leader ${first.name}; ${DEAD_LETTER_QUEUE}: classic queue on ${last.name} only`);
    const traffic = { connect, logger, ratePerS: o.rate, handleMs: 5 };

    // 3. The input queue's leader lost.
    const one = await loseTheLeader(cluster, traffic, { messages: o.messages, killAt: 0.4 });
    say(`1. one node lost: ${one.killed.name}, the input queue's leader, killed with 40% of the messages confirmed; a new leader within ${seconds(one.newLeaderAfterMs)}`);
    describe(one, 'the kill');
    await closeConnections();

    // 4. A second node lost: no majority until the first is started again.
    const two = await loseTheMajority(cluster, traffic, { down: first, kill: second, messages: Math.min(500, o.messages), minorityMs: 10_000 });
    say(`2. two nodes lost: ${second.name} killed too, only ${two.left.name} up for 10 s: ${two.duringMinority.publishes} publishes, ${two.duringMinority.confirmed} confirmed, ${two.duringMinority.delivered} delivered`);
    describe(two, `${two.restarted.name} was started again`);
    await closeConnections();

    // 5. The dead-letter queue's node lost, the other two up.
    await cluster.restart(second);
    const three = await loseTheDeadLetterNode(cluster, traffic, { home: last, messages: Math.min(1000, o.messages), outageMs: 15_000 });
    say(`3. the dead-letter queue's node lost: ${three.killed.name} down for 15 s: ${three.duringOutage.confirmed} confirmed, ${three.duringOutage.deliveredSinceKill} delivered to the consumer that had to reconnect`);
    // Negative: it consumed again while the node was still down (the consumers do not declare the dead-letter queue on reconnect).
    say(three.deliveredAfterRestartMs < 0
      ? `  it consumed again while ${three.killed.name} was still down: its first delivery came ${seconds(-three.deliveredAfterRestartMs)} before the node was started again`
      : `  its first delivery came ${seconds(three.deliveredAfterRestartMs)} after ${three.killed.name} was started again`);
    describe(three, 'the kill');

    console.log(JSON.stringify({ leaderLost: { ...one, killed: one.killed.name }, majorityLost: { ...two, left: two.left.name, restarted: two.restarted.name }, deadLetterNodeLost: { ...three, killed: three.killed.name } }));
    const lost = one.lost + two.lost + three.lost;
    if (lost > 0) throw new UserFacingError(`${lost} confirmed messages were never delivered`);
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    await cleanUp();
  }
});
