import { expect } from 'vitest';
import { checkCompensation, type InvariantResult, type Ledgers } from '../../scripts/lib/compensation-invariants.js';
import { assertOrderEvents, publishOrderEvent } from '../../scripts/lib/compensation-messages.js';
import type { CompensationPlan } from '../../scripts/lib/compensation-plan.js';
import { driveCompensation, missingAnswers, type CompensationPorts, type DriveOptions } from '../../scripts/lib/compensation-traffic.js';
import { until } from '../../scripts/lib/poll.js';
import { inventoryReserved, type SagaClient } from '../../scripts/lib/saga-client.js';
import type { Deployment } from './e2e-harness.js';

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

export interface ScenarioOutcome {
  results: InvariantResult[];
  /** Answers the plan is owed that never came. */
  missing: string[];
  unaccepted: Awaited<ReturnType<typeof unacceptedWebhooks>>;
  /** The verdict and what the run exercised, for people. */
  report: string;
}

/** Plays the plan against the deployment, waits for its answers (and the webhooks still being retried), then checks every invariant. */
export async function playAndCheck(d: Deployment, plan: CompensationPlan, options: DriveOptions): Promise<ScenarioOutcome> {
  const drive = await driveCompensation(plan, await sagaPorts(d.client), options);
  let missing = missingAnswers(plan, d.client.received);
  // Generous: an order whose every confirm hangs settles only after its attempts, the breaker's pauses and
  // the sweeper, and on a loaded CI machine that once took over a minute. A stuck order still fails, with its log lines.
  await until(async () => (missing = missingAnswers(plan, d.client.received)).length === 0, 120_000, 250);
  await quietFor(d.client.received);
  let unaccepted = await unacceptedWebhooks(d.gatewayUrl);
  await until(async () => (unaccepted = await unacceptedWebhooks(d.gatewayUrl)).length === 0, 20_000, 500);

  const results = checkCompensation(await fetchLedgers(d.gatewayUrl), d.client.received, { ...plan, cancelConfirmedFirst: drive.cancelConfirmedFirst });
  const count = (pred: (o: CompensationPlan['orders'][number]) => boolean) => plan.orders.filter(pred).length;
  const distinctEvents = [...new Map(d.client.received.map((e) => [e.id, e])).values()];
  const report = verdict(results, [
    `compensation run, seed ${plan.seed}: ${plan.orders.length} orders; cancelled before ${count((o) => o.cancel === 'before')}, during ${count((o) => o.cancel === 'during')}, ` +
      `after ${count((o) => o.cancel === 'after')} (${count((o) => Boolean(o.cancelRacesRefunds))} racing their refunds); ` +
      `${plan.orders.reduce((n, o) => n + o.refunds.length, 0)} refunds requested; ${drive.messagesPublished} messages published; ${d.client.received.length} events received`,
    `distinct events received: ${JSON.stringify(tally(distinctEvents.map((e) => `${e.type}${e.data.code ? `(${String(e.data.code)})` : ''}`)))}`,
    ...(drive.timedOut.length ? [`waits that timed out (${drive.timedOut.length}):`, ...drive.timedOut.slice(0, 10).map((t) => `  - ${t}`)] : []),
    ...(missing.length ? [`answers still missing at the end (${missing.length}):`, ...missing.slice(0, 10).map((m) => `  - ${m}`)] : []),
    ...missingOrderTraces(d, missing),
    ...(unaccepted.length ? [`webhook deliveries the workers did not accept (${unaccepted.length}), e.g. ${JSON.stringify(unaccepted.slice(0, 2))}`] : []),
  ]);
  return { results, missing, unaccepted, report };
}

/** For each order still owed an answer, what the workers logged about it: the first thing to read when a run fails. */
function missingOrderTraces(d: Deployment, missing: string[]): string[] {
  const orderIds = [...new Set(missing.map((m) => /order ([0-9a-f-]{36})/.exec(m)?.[1]).filter((id): id is string => Boolean(id)))];
  return orderIds.slice(0, 3).flatMap((orderId) => {
    const lines = d.workers.flatMap((w) => w.lines.filter((l) => l.includes(orderId)).map((l) => `    ${w.name}: ${l}`));
    return [`  worker log lines for order ${orderId} (${lines.length}, last 40):`, ...lines.slice(-40)];
  });
}

/** Every invariant, every missing answer and every refused webhook reported at once (soft), each naming the seed. */
export function expectEveryInvariantHeld(outcome: ScenarioOutcome, seed: number): void {
  for (const r of outcome.results) {
    expect.soft(r.violations, `${r.name} (seed ${seed})`).toEqual([]);
    expect.soft(r.checked, `${r.name} checked something`).toBeGreaterThan(0);
  }
  expect.soft(outcome.missing, `answers missing (seed ${seed})`).toEqual([]);
  expect.soft(tally(outcome.unaccepted.map((u) => `${u.type}: ${u.outcome}, last status ${u.lastStatus}`)), 'webhook deliveries the workers did not accept with a 2xx, by kind').toEqual({});
}

export function tally(items: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}
