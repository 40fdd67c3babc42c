// An experiment behind the benchmark's advice (not part of `npm run bench`):
// the database work of one payment done (a) by src/persistence's repository
// as it is (knex + objection building each statement, sent unprepared) and
// (b) by one statement per step (data-modifying CTEs: atomic without
// BEGIN/COMMIT) sent through pg as named prepared statements. Same machine, same rows, same guarantees
// (the version-conditional update still decides races). Prints CPU per
// payment in this process, PostgreSQL's CPU, and payments/s at a given
// concurrency.
//   npx tsx scripts/bench/experiments/db-path.ts [payments=3000] [concurrency=20]
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPaymentSnapshot, applyPaymentEvent, type StoredSnapshot } from '../../../src/machines/payment.snapshot.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { paymentCompleted } from '../../../src/queues/payment-events.js';
import { advance } from '../../../src/workers/payment-transitions.js';
import { isolateBench } from '../isolation.js';
import { servicesCpu } from '../proc-stats.js';

const N = Number(process.argv[2] ?? 3000);
const CONCURRENCY = Number(process.argv[3] ?? 20);

function newPayment() {
  const id = randomUUID();
  const orderId = randomUUID();
  const snapshot = createPaymentSnapshot({ orderId, paymentId: id, amountMinor: '4999', currency: 'USD', maxAttempts: 8 });
  return { id, orderId, amount: '49.99', amountMinor: 4999n, currency: 'USD', customerId: 'cus_1', paymentMethod: 'pm_card_visa', sourceEventId: randomUUID(), snapshot, detail: {} };
}

/** (a) The repository as the service uses it today. */
function viaRepository(databaseUrl: string) {
  const knex = createKnex(databaseUrl, { max: CONCURRENCY });
  const payments = createPaymentsRepository(knex);
  return {
    async one() {
      const p = newPayment();
      await payments.insert(p);
      let row = (await payments.findByOrderId(p.orderId))!;
      row = (await advance(payments, row, { type: 'START' }, { jobId: p.orderId })).payment;
      await advance(payments, row, { type: 'CHARGE_SUCCEEDED', transactionId: `pi_${p.id}`, gateway: 'stripe' }, { gatewayCalls: [] }, { id: `pi_${p.id}` });
    },
    close: () => knex.destroy(),
  };
}

const INSERT = `WITH p AS (
    INSERT INTO payments (id, order_id, amount, amount_minor, currency, customer_id, payment_method, status, snapshot, machine_version, source_event_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (order_id) DO NOTHING RETURNING *),
  t AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
    SELECT id, order_id, NULL, status, 'CREATED', $12::jsonb FROM p)
  SELECT * FROM p`;
const LOAD = 'SELECT * FROM payments WHERE order_id = $1';
const TRANSITION = `WITH u AS (
    UPDATE payments SET status = $3::varchar, snapshot = $4, machine_version = $5, version = version + 1, updated_at = now(),
      transaction_id = COALESCE($6, transaction_id), gateway = COALESCE($7, gateway), gateway_response = COALESCE($8, gateway_response),
      completed_at = CASE WHEN $3::varchar = 'Success' THEN now() ELSE completed_at END
    WHERE id = $1 AND version = $2 RETURNING *),
  t AS (INSERT INTO payment_transitions (payment_id, order_id, from_status, to_status, event, detail)
    SELECT id, order_id, $9::varchar, status, $10::varchar, $11::jsonb FROM u),
  o AS (INSERT INTO outbox (id, payment_id, order_id, type, routing_key, payload)
    SELECT $12::uuid, id, order_id, $13::varchar, $14::varchar, $15::jsonb FROM u WHERE $12::uuid IS NOT NULL)
  SELECT * FROM u`;

/** (b) One statement per step, each prepared once per connection (pg's named statements). */
function viaStatements(databaseUrl: string) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CONCURRENCY });
  const q = (name: string, text: string, values: unknown[]) => pool.query({ name, text, values });
  const transition = async (row: { id: string; version: number; status: string; snapshot: StoredSnapshot; order_id: string; amount: string; currency: string }, event: Parameters<typeof applyPaymentEvent>[1], response?: object) => {
    const step = applyPaymentEvent(row.snapshot, event);
    const ctx = step.snapshot.context;
    const out = step.effects.includes('emitPaymentCompleted')
      ? paymentCompleted({ orderId: row.order_id, paymentId: row.id, transactionId: ctx.transactionId ?? '', amount: row.amount, currency: row.currency })
      : undefined;
    const { rows } = await q('transition', TRANSITION, [row.id, row.version, step.snapshot.value, step.snapshot, step.snapshot.version, ctx.transactionId ?? null, ctx.gateway ?? null, response ?? null,
      row.status, event.type, { attempts: ctx.attempts }, out?.id ?? null, out?.type ?? null, out?.routingKey ?? null, out?.payload ?? null]);
    if (!rows[0]) throw new Error('lost the race');
    return rows[0];
  };
  return {
    async one() {
      const p = newPayment();
      await q('insert', INSERT, [p.id, p.orderId, p.amount, p.amountMinor.toString(), p.currency, p.customerId, p.paymentMethod, p.snapshot.value, p.snapshot, p.snapshot.version, p.sourceEventId, {}]);
      let row = (await q('load', LOAD, [p.orderId])).rows[0];
      row = await transition(row, { type: 'START' });
      await transition(row, { type: 'CHARGE_SUCCEEDED', transactionId: `pi_${p.id}`, gateway: 'stripe' }, { id: `pi_${p.id}` });
    },
    close: () => pool.end(),
  };
}

async function measure(name: string, impl: { one(): Promise<void>; close(): Promise<void> }) {
  for (let i = 0; i < 200; i++) await impl.one(); // warm-up: JIT, pool, prepared statements
  const cpu = process.cpuUsage();
  const pgBefore = servicesCpu().postgres;
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < N) await impl.one();
  }));
  const wallS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const pgS = servicesCpu().postgres - pgBefore;
  await impl.close();
  console.log(`${name.padEnd(46)} ${(N / wallS).toFixed(0).padStart(6)} payments/s   client CPU ${((used.user + used.system) / 1000 / N).toFixed(3)} ms/payment   PostgreSQL CPU ${((pgS * 1000) / N).toFixed(3)} ms/payment`);
}

const iso = await isolateBench();
try {
  console.log(`database work of ${N} payments (insert, load, START, CHARGE_SUCCEEDED + outbox), concurrency ${CONCURRENCY}`);
  await measure('(a) src/persistence repository (knex, objection)', viaRepository(iso.databaseUrl));
  await measure('(b) one prepared statement per step', viaStatements(iso.databaseUrl));
  await measure('(a) again (order effects)', viaRepository(iso.databaseUrl));
  await measure('(b) again', viaStatements(iso.databaseUrl));
} finally {
  await iso.cleanup();
}
