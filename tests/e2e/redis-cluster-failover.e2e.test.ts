import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryReserved, type InventoryReserved, type ReceivedEvent } from '../../scripts/lib/saga-client.js';
import { eventually } from '../../scripts/lib/processes.js';
import { keySlot, shardPrefixes } from '../../src/queues/queue-shards.js';
import { createKnex } from '../../src/persistence/db.js';
import { deploy, successfulChargesByOrder, type Deployment } from '../support/e2e-harness.js';
import { startRedisCluster, type ClusterMaster, type RedisCluster } from '../support/redis-cluster.js';

const ORDERS = 300;
const SHARDS = 3;
/** Settled before the kill: the master dies with a third of the orders done and the rest queued or in flight. */
const SETTLED_BEFORE_KILL = 100;
const METHODS = ['pm_card_visa', 'pm_card_visa', 'pm_card_chargeDeclined', 'pm_card_visa', 'pm_card_visa'];
const AMOUNTS: Array<[string, string]> = [['49.99', 'USD'], ['120.00', 'EUR'], ['5000', 'JPY'], ['1.250', 'BHD']];

/**
 * Issue 29, "failover proven": two worker processes on a local Redis Cluster
 * of three masters with one replica each, QUEUE_SHARDS=3, and the master
 * holding QUEUE_PREFIX's slot (shard 0's queues, and the breaker, the
 * sweeper's schedule, the standby heartbeat and risk velocity, which every
 * payment of every shard touches) SIGKILLed mid-run. Its replica takes over;
 * the same workers, never restarted, settle every order exactly once.
 */
describe('a Redis Cluster master killed mid-run (3 masters + 3 replicas, QUEUE_SHARDS=3, two workers)', () => {
  let cluster: RedisCluster;
  let d: Deployment;
  const orders: Array<Required<InventoryReserved>> = Array.from({ length: ORDERS }, (_, i) => {
    const [amount, currency] = AMOUNTS[i % AMOUNTS.length]!;
    return { orderId: randomUUID(), amount, currency, customerId: `cus_${i % 40}`, paymentMethod: METHODS[i % METHODS.length]! };
  });

  beforeAll(async () => {
    // A short node timeout (the helper's default, 2 s): the replicas vote their master out within seconds.
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 2000 });
    d = await deploy({
      workers: 2,
      redis: { redisClusterNodes: cluster.servers.map(({ host, port }) => ({ host, port })), queueShards: SHARDS },
    });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
    await cluster?.stop();
  });

  it('when the master of QUEUE_PREFIX\'s slot is SIGKILLed, then its replica takes over and every order settles exactly once', async () => {
    const events = orders.map((o) => inventoryReserved(o));
    // Published while the master dies: 30 redeliveries of an event, 30 of an order under a new event id.
    const publishing = (async () => {
      for (const e of events) await d.client.publish(e);
      for (const e of events.slice(0, 30)) await d.client.publish(e);
      for (const o of orders.slice(30, 60)) await d.client.publish(inventoryReserved(o));
    })();
    const answered = () => d.client.byOrder().size;
    await d.client.waitFor(`${SETTLED_BEFORE_KILL} orders settled`, () => answered() >= SETTLED_BEFORE_KILL, 90_000);

    const mastersBefore = await cluster.masters();
    const keysBefore = await cluster.keysPerMaster();
    const victim = await cluster.masterOf(d.iso.queuePrefix);
    const replicaPorts = await cluster.replicasOf(victim.port);
    const answeredAtKill = answered();
    const killedAt = Date.now();
    await cluster.kill(victim.port);
    // Every slot served again (the replica promoted, the cluster state ok): the failover time.
    await cluster.waitUntilHealthy(30_000);
    const servedAt = Date.now();

    await d.client.waitFor('a terminal event for every order', () => answered() === orders.length, 120_000);
    await publishing;

    const mastersAfter = await cluster.masters();
    const gap = longestGapAfter(d.client.received, killedAt);
    console.log([
      `per-master keys before the kill: ${keysBefore.map((k) => `${k.port}=${k.keys}`).join(' ')}`,
      `killed master ${victim.port} (slots ${victim.slots.map((r) => r.join('-')).join(',')}; QUEUE_PREFIX ${d.iso.queuePrefix}) with ${answeredAtKill}/${ORDERS} orders answered`,
      `kill → every slot served again: ${servedAt - killedAt} ms (promoted ${mastersAfter.find((m) => !mastersBefore.some((b) => b.port === m.port))?.port})`,
      `terminal events after the kill: longest gap ${gap.gapMs} ms, ended ${gap.endedAt - killedAt} ms after the kill`,
      `masters after: ${mastersAfter.map((m) => m.port).join(' ')}`,
    ].join('\n'));

    // Keys were spread over all three masters: each shard on its own.
    expect(keysBefore).toHaveLength(3);
    for (const k of keysBefore) expect(k.keys, `keys on master ${k.port}`).toBeGreaterThan(0);
    expect(new Set(shardPrefixes(d.iso.queuePrefix, SHARDS).map((p) => ownerOf(mastersBefore, p)))).toEqual(new Set(mastersBefore.map((m) => m.port)));
    // The dead master's replica now serves its slots.
    expect(mastersAfter.map((m) => m.port)).not.toContain(victim.port);
    expect(mastersAfter).toHaveLength(3);
    expect(replicaPorts).toContain((await cluster.masterOf(d.iso.queuePrefix)).port);
    expect(servedAt - killedAt).toBeLessThan(20_000);

    const knex = createKnex(d.iso.databaseUrl);
    try {
      // Duplicates still in flight settle too: every outbox row published.
      await eventually('the outbox drained', async () => Number((await knex('outbox').whereNull('published_at').count('* as n').first())!.n) === 0 || undefined);
      const rows = await knex('payments').select('order_id', 'status', 'transaction_id');
      expect(rows).toHaveLength(orders.length);
      const status = new Map(rows.map((r) => [r.order_id as string, r.status as string]));
      const byOrder = d.client.byOrder();
      const ledger = successfulChargesByOrder(await d.ledger());
      for (const o of orders) {
        const distinct = new Map((byOrder.get(o.orderId) ?? []).map((e) => [e.id, e]));
        expect(distinct.size, `distinct terminal events for ${o.orderId}`).toBe(1);
        const event = [...distinct.values()][0]!;
        const charges = ledger.get(o.orderId) ?? [];
        expect(charges.length, `succeeded charges for ${o.orderId}`).toBeLessThanOrEqual(1);
        if (o.paymentMethod === 'pm_card_visa') {
          // The failover delays a payment, it does not fail it: no visa order gives up.
          expect(event.type, `${o.orderId}: ${JSON.stringify(event.data)}`).toBe('PaymentCompleted');
          expect(charges).toHaveLength(1);
          expect(status.get(o.orderId)).toBe('Success');
        } else {
          expect(event.type).toBe('PaymentFailed');
          expect(event.data.code).toBe('card_declined');
          expect(charges).toHaveLength(0);
        }
      }
    } finally {
      await knex.destroy();
    }
    // The same processes did it all: none exited, none was restarted.
    expect(d.workers).toHaveLength(2);
    for (const w of d.workers) expect(w.child.exitCode, `${w.name} still running`).toBeNull();
  }, 300_000);
});

/** The port of the master that served `key`'s slot in `masters`. */
function ownerOf(masters: ClusterMaster[], key: string): number | undefined {
  const slot = keySlot(key);
  return masters.find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to))?.port;
}

/** The longest silence between terminal events from `since` on, and when the event ending it arrived. */
function longestGapAfter(received: ReceivedEvent[], since: number): { gapMs: number; endedAt: number } {
  const times = [since, ...received.map((e) => e.receivedAt).filter((t) => t >= since).sort((a, b) => a - b)];
  let best = { gapMs: 0, endedAt: since };
  for (let i = 1; i < times.length; i++) {
    if (times[i]! - times[i - 1]! > best.gapMs) best = { gapMs: times[i]! - times[i - 1]!, endedAt: times[i]! };
  }
  return best;
}
