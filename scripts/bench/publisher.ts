import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import amqp from 'amqplib';
import { declareTopology } from '../../src/queues/topology.js';
import { inventoryReserved } from '../lib/saga-client.js';
import { wallMs, type Phase } from './collector.js';

const AMOUNTS: Array<[string, string]> = [['49.99', 'USD'], ['120.00', 'EUR'], ['5000', 'JPY'], ['1.250', 'BHD']];

/** Publishes InventoryReserved events on a confirm channel, recording when each order was handed to the broker. */
export interface Publisher {
  /**
   * As fast as possible: `batch` events, then wait for their confirms, and again.
   * With `window`, no more than that many orders are left without their terminal event (a soak's bounded backlog).
   */
  flatOut(phase: Phase, n: number, batch?: number, window?: number): Promise<void>;
  /** At `ratePerS` on a steady schedule; confirms are awaited per event by callback, never blocking the schedule. */
  offered(phase: Phase, n: number, ratePerS: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPublisher(amqpUrl: string): Promise<Publisher> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  const channel = await connection.createConfirmChannel();
  // The service's own declaration (same queue arguments): an event published before a worker
  // has declared its input queue would otherwise be unroutable, and silently dropped.
  await declareTopology(channel);
  let seq = 0;
  let nacked = 0;

  /** One event; returns false when the socket buffer is full (wait for 'drain'). */
  function send(phase: Phase, cb?: (err: unknown) => void): boolean {
    const i = seq++;
    const [amount, currency] = AMOUNTS[i % AMOUNTS.length]!;
    const event = inventoryReserved({ orderId: randomUUID(), amount, currency, customerId: `cus_${i % 1000}`, paymentMethod: 'pm_card_visa' });
    phase.sentAt.set(event.data.orderId, wallMs());
    return channel.publish('inventory.events', 'inventory.reserved', Buffer.from(JSON.stringify(event)), {
      persistent: true,
      contentType: 'application/cloudevents+json',
      messageId: event.id,
      type: 'InventoryReserved',
    }, cb);
  }

  async function drain(ok: boolean) {
    if (!ok) await once(channel, 'drain');
  }

  return {
    async flatOut(phase, n, batch = 100, window = Infinity) {
      for (let sent = 0; sent < n; ) {
        while (sent - phase.receivedAt.size > window) await new Promise((r) => setTimeout(r, 10));
        const size = Math.min(batch, n - sent);
        for (let i = 0; i < size; i++) await drain(send(phase));
        sent += size;
        await channel.waitForConfirms();
      }
    },
    async offered(phase, n, ratePerS) {
      const started = wallMs();
      let sent = 0;
      const confirm = (err: unknown) => {
        if (err) nacked++;
      };
      while (sent < n) {
        const due = Math.min(n, Math.floor(((wallMs() - started) / 1000) * ratePerS) + 1);
        while (sent < due) {
          await drain(send(phase, confirm));
          sent++;
        }
        // Timers fire at ~1 ms granularity: a short sleep keeps the schedule smooth at thousands per second.
        await new Promise((r) => setTimeout(r, Math.max(1, Math.min(5, 1000 / ratePerS))));
      }
      await channel.waitForConfirms();
      if (nacked) throw new Error(`the broker refused ${nacked} published events`);
    },
    async close() {
      await channel.close().catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}
