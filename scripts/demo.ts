// `npm run demo`: the whole service on defaults, for a new user. Migrates,
// starts the gateway simulator and two workers, publishes a batch of
// InventoryReserved events (some duplicated, one poison), cancels a few orders
// and asks for partial refunds of a few others (order.events), shows progress,
// prints a summary and the dashboard addresses, then keeps serving until
// Ctrl-C (`npm run demo -- --once` exits after the summary).
import { randomUUID } from 'node:crypto';
import cliProgress from 'cli-progress';
import { loadConfig } from '../src/config.js';
import { runCli, UserFacingError } from '../src/cli.js';
import { migrate } from '../src/persistence/db.js';
import { ensureServices } from '../src/preflight.js';
import { isListening, servicesOf } from '../src/services.js';
import { startProcess, type Proc } from './lib/processes.js';
import { connectSagaClient, inventoryReserved } from './lib/saga-client.js';
import { buildOrders, percentile, printSummary } from './lib/demo-report.js';
import { awaitAnswers, cancel, compensateSettled, compensationRows, planCompensations, TERMINAL } from './demo/compensations.js';

const once = process.argv.includes('--once');
const ORDERS = Number(process.env.DEMO_ORDERS ?? 200);
const WORKER_PORTS = [3000, 3001];
/** How long the demo waits for the answers to its cancellations and refunds before it says which are missing. */
const COMPENSATION_TIMEOUT_MS = Number(process.env.DEMO_COMPENSATION_TIMEOUT_MS ?? 30_000);

const children: Proc[] = [];
const stopAll = async () => {
  await Promise.allSettled(children.map((c) => c.stop('SIGTERM')));
};

await runCli('demo', async () => {
  try {
    await demo();
  } catch (err) {
    await stopAll(); // never leave a simulator or worker behind
    throw err;
  }
});

async function demo(): Promise<void> {
  const config = loadConfig();
  const say = (line: string) => console.log(`demo: ${line}`);
  const problems = await ensureServices(servicesOf(config), say);
  if (problems.length) throw new UserFacingError(problems.join('; '));

  say(`migrating ${new URL(config.DATABASE_URL).pathname.slice(1)}`);
  await migrate(config.DATABASE_URL);

  process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

  const gatewayUrl = new URL(config.GATEWAY_URL);
  if (config.GATEWAY === 'stripe' && !(await isListening(gatewayUrl.hostname, Number(gatewayUrl.port) || 80))) {
    say(`starting the gateway simulator on ${config.GATEWAY_URL}`);
    const sim = startProcess('gateway', 'src/gateway/simulator/main.ts', { GATEWAY_PORT: gatewayUrl.port || '12111', LOG_LEVEL: 'info' });
    children.push(sim);
    await sim.waitForLine(/listening/i, 30_000);
  }

  for (const port of WORKER_PORTS) {
    if (await isListening('127.0.0.1', port)) throw new UserFacingError(`port ${port} is taken: stop what uses it, or the other demo`);
  }
  say(`starting ${WORKER_PORTS.length} workers (ops servers on ${WORKER_PORTS.join(', ')})`);
  for (const [i, port] of WORKER_PORTS.entries()) {
    const w = startProcess(`worker-${i + 1}`, 'src/main.ts', { HTTP_PORT: String(port), MIGRATE_ON_START: 'false', LOG_LEVEL: 'info' });
    children.push(w);
  }
  await Promise.all(children.slice(-WORKER_PORTS.length).map((w) => w.waitForLine(/"msg":"worker ready/, 60_000)));

  const client = await connectSagaClient(config.AMQP_URL, { listenQueue: `payment-service.demo-${randomUUID().slice(0, 8)}`, temporary: true });
  const orders = buildOrders(ORDERS);
  const plan = planCompensations(orders);
  const sentAt = new Map<string, number>();
  let duplicates = 0;
  say(`publishing ${orders.length} InventoryReserved events, plus duplicates and one poison message; cancelling ${plan.before.size + plan.during.size} orders on the way`);
  for (const o of orders.filter((x) => plan.before.has(x.orderId))) await cancel(client, plan, o, 'cancel before reservation');
  for (const [i, o] of orders.entries()) {
    const event = inventoryReserved(o);
    sentAt.set(o.orderId, Date.now());
    await client.publish(event);
    if (plan.during.has(o.orderId)) await cancel(client, plan, o, 'cancel while charging');
    if (i % 10 === 0) {
      await client.publish(event); // the same event again (a redelivery)
      duplicates++;
    }
    if (i % 25 === 0) {
      await client.publish(inventoryReserved(o)); // the same order under a new event id
      duplicates++;
    }
  }
  await client.publishRaw(Buffer.from('this is not a CloudEvent'));

  const bar = new cliProgress.SingleBar({ format: 'payments {bar} {value}/{total} settled | {rate}/s', hideCursor: true }, cliProgress.Presets.shades_classic);
  const started = Date.now();
  bar.start(orders.length, 0, { rate: '0' });
  // Settled: the order's one terminal event arrived (a cancellation's answer may come before it).
  const terminalByOrder = () => {
    const first = new Map<string, number>();
    for (const e of client.received) if (TERMINAL.has(e.type) && !first.has(e.data.orderId)) first.set(e.data.orderId, e.receivedAt);
    return first;
  };
  const tick = setInterval(() => {
    const done = terminalByOrder().size;
    bar.update(done, { rate: (done / ((Date.now() - started) / 1000)).toFixed(0) });
  }, 100);
  await client.waitFor('every order settled', () => terminalByOrder().size >= orders.length, 120_000);
  clearInterval(tick);
  bar.update(orders.length, { rate: (orders.length / ((Date.now() - started) / 1000)).toFixed(0) });
  bar.stop();

  const latencies = [...terminalByOrder().entries()].map(([id, at]) => at - (sentAt.get(id) ?? at));

  await compensateSettled(client, plan);
  say(`waiting for the answers to ${plan.asked.length} cancellations and refund requests (at most ${Math.round(COMPENSATION_TIMEOUT_MS / 1000)} s)`);
  const missing = await awaitAnswers(client, plan, COMPENSATION_TIMEOUT_MS);
  if (missing) say(`warning: ${missing}`);
  const dead = await client.deadLetters();
  printSummary({
    orders: orders.length,
    events: client.received,
    duplicatesSent: duplicates,
    deadLettered: dead.length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    exampleOrder: orders.find((o) => o.paymentMethod === 'pm_card_chargeDeclined')?.orderId ?? orders[0]!.orderId,
    ports: WORKER_PORTS,
    extraRows: compensationRows(plan, client.received),
  });
  await client.close();

  if (once) {
    await stopAll();
    return;
  }
  say('the workers and dashboards keep running; Ctrl-C stops them');
  await new Promise(() => {});
}
