import { assertOrderEvents, publishOrderEvent } from '../../scripts/lib/compensation-messages.js';
import type { InvariantResult, Ledgers } from '../../scripts/lib/compensation-invariants.js';
import type { CompensationPorts } from '../../scripts/lib/compensation-traffic.js';
import { inventoryReserved, type SagaClient } from '../../scripts/lib/saga-client.js';

/** What the compensation end-to-end tests share: the saga client as the plan's ports, the ledgers, and a readable verdict. */

export async function sagaPorts(client: SagaClient): Promise<CompensationPorts> {
  await assertOrderEvents(client.channel);
  return {
    publishReservation: (o) => client.publish(inventoryReserved({ orderId: o.orderId, amount: o.amount, currency: o.currency, paymentMethod: o.paymentMethod })),
    publishOrderEvent: (event) => publishOrderEvent(client.channel, event),
    received: client.received,
  };
}

export async function fetchLedgers(gatewayUrl: string): Promise<Ledgers> {
  const [charges, refunds] = await Promise.all(['charges', 'refunds'].map(async (which) => (await fetch(`${gatewayUrl}/_sim/${which}`)).json()));
  return { charges, refunds } as Ledgers;
}

/**
 * Resolves once nothing new has arrived for `quietMs` (or after `maxMs`).
 * Not synchronisation on an answer (those are awaited): a second, wrong
 * answer has no event of its own to await, so its absence is given a
 * moment to show.
 */
export async function quietFor(received: readonly unknown[], quietMs = 2000, maxMs = 15_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let seen = received.length;
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    if (received.length !== seen) [seen, since] = [received.length, Date.now()];
  }
}

/** The invariants as a table, with the first violations of each that failed. */
export function verdict(results: InvariantResult[], header: string[]): string {
  const lines = [...header, ''];
  for (const r of results) lines.push(`${r.violations.length ? 'FAIL' : 'pass'}  ${r.name}  (checked ${r.checked}, violations ${r.violations.length})`);
  for (const r of results.filter((x) => x.violations.length)) {
    lines.push('', `FAIL ${r.name}:`, ...r.violations.slice(0, 15).map((v) => `  - ${v}`));
    if (r.violations.length > 15) lines.push(`  ... and ${r.violations.length - 15} more`);
  }
  return lines.join('\n');
}

/** Webhook deliveries the simulator still retries or gave up on: a worker that did not accept them with a 2xx. */
export async function unacceptedWebhooks(gatewayUrl: string): Promise<Array<{ eventId: string; type: string; endpoint: string; outcome: string; lastStatus: number | null; attempts: number }>> {
  const deliveries = (await (await fetch(`${gatewayUrl}/_sim/webhooks`)).json()) as Array<{ eventId: string; type: string; endpoint: string; outcome: string; lastStatus: number | null; attempts: number }>;
  return deliveries.filter((x) => x.outcome !== 'delivered' && x.outcome !== 'dropped');
}
