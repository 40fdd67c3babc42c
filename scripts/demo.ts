// `npm run demo`: the whole service on defaults, for a new user. Migrates,
// starts the gateway simulator and two workers, publishes a batch of
// InventoryReserved events (some duplicated, one poison), shows progress,
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

const once = process.argv.includes('--once');
const ORDERS = Number(process.env.DEMO_ORDERS ?? 200);
const WORKER_PORTS = [3000, 3001];

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
  const sentAt = new Map<string, number>();
  let duplicates = 0;
  say(`publishing ${orders.length} InventoryReserved events, plus duplicates and one poison message`);
  for (const [i, o] of orders.entries()) {
    const event = inventoryReserved(o);
    sentAt.set(o.orderId, Date.now());
    await client.publish(event);
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
  const tick = setInterval(() => {
    const done = client.byOrder().size;
    bar.update(done, { rate: (done / ((Date.now() - started) / 1000)).toFixed(0) });
  }, 100);
  await client.waitFor('every order settled', () => client.byOrder().size >= orders.length, 120_000);
  clearInterval(tick);
  bar.update(orders.length, { rate: (orders.length / ((Date.now() - started) / 1000)).toFixed(0) });
  bar.stop();

  const latencies = [...client.byOrder().entries()].map(([id, evs]) => evs[0]!.receivedAt - (sentAt.get(id) ?? evs[0]!.receivedAt));
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
  });
  await client.close();

  if (once) {
    await stopAll();
    return;
  }
  say('the workers and dashboards keep running; Ctrl-C stops them');
  await new Promise(() => {});
}
