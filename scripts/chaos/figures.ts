import type { Observed } from './invariants.js';
import type { ChaosFigures } from './report.js';
import { sumCounters, type WorkerIncarnation } from './worker-pool.js';

export interface FigureInputs {
  observed: Observed;
  incarnations: WorkerIncarnation[];
  messagesPublished: number;
  answeredUnderFaults: number;
  windowMs: number;
  startedAt: number;
  lastFaultAt: number;
  settledAt: number;
  clientReconnects: number;
}

/**
 * The run's figures. Log lines count what every process did, killed ones
 * included; metrics are each process's last scrape (taken every two seconds),
 * so a killed worker's last moments are missing from them.
 */
export function collectFigures(i: FigureInputs): ChaosFigures {
  const lines = i.incarnations.flatMap((inc) => inc.proc.lines);
  const rows = i.observed.rows;
  return {
    orders: i.observed.mix.orders.length,
    messagesPublished: i.messagesPublished,
    ordersPerSecondUnderFaults: i.answeredUnderFaults / (i.windowMs / 1000),
    ordersPerSecondOverall: i.observed.mix.orders.length / Math.max(0.001, (i.settledAt - i.startedAt) / 1000),
    ...rescues(lines),
    sweeperRescuesByReason: byLabel(sumCounters(i.incarnations, 'sweeper_rescues_total'), 'reason'),
    redeliveriesAbsorbed: lines.filter((l) => l.includes('"msg":"duplicate event absorbed"')).length,
    dedupeHitsByLayer: byLabel(sumCounters(i.incarnations, 'payment_dedupe_hits_total'), 'layer'),
    settleAfterLastFaultS: (i.settledAt - i.lastFaultAt) / 1000,
    succeeded: rows.filter((r) => r.status === 'Success').length,
    failed: rows.filter((r) => r.status === 'Failed').length,
    failedAsGatewayUnavailable: rows.filter((r) => r.failure_code === 'gateway_unavailable').length,
    everyConfirmFaulted: everyConfirmFaulted(i.observed),
    workerProcesses: i.incarnations.length,
    clientReconnects: i.clientReconnects,
    compensationAnswers: compensationAnswers(i.observed),
  };
}

/** `pm_card_sim_timeout:Failed=3` and so on: how the orders whose every confirmation faulted ended. */
function everyConfirmFaulted(o: Observed): Record<string, number> {
  const status = new Map(o.rows.map((r) => [r.order_id, r.status]));
  const counts: Record<string, number> = {};
  for (const order of o.mix.orders) {
    if (!order.paymentMethod.startsWith('pm_card_sim_')) continue;
    const key = `${order.paymentMethod.slice('pm_card_sim_'.length)}:${status.get(order.orderId) ?? 'none'}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Per-payment "rescued" lines, and how many of them came after the payment had
 * already settled: a sweep acts on the list it read at its start, so a payment
 * that settles meanwhile is "rescued" for nothing (absorbed as a duplicate).
 */
function rescues(lines: string[]): Pick<ChaosFigures, 'sweeperRescues' | 'sweeperRescuesAfterSettled'> {
  const settledAt = new Map<string, number>();
  const rescued: Array<{ orderId: string; at: number }> = [];
  for (const line of lines) {
    if (!line.includes('"msg":"rescued ') && !line.includes('"msg":"payment ')) continue;
    const entry = parse(line);
    if (!entry?.orderId) continue;
    const at = Date.parse(entry.time ?? '');
    if (entry.msg?.startsWith('rescued ')) rescued.push({ orderId: entry.orderId, at });
    else if (entry.msg === 'payment Success' || entry.msg === 'payment Failed') settledAt.set(entry.orderId, Math.min(at, settledAt.get(entry.orderId) ?? at));
  }
  const late = rescued.filter((r) => (settledAt.get(r.orderId) ?? Infinity) <= r.at).length;
  return { sweeperRescues: rescued.length, sweeperRescuesAfterSettled: late };
}

function parse(line: string): { orderId?: string; time?: string; msg?: string } | undefined {
  try {
    return JSON.parse(line) as { orderId?: string; time?: string; msg?: string };
  } catch {
    return undefined;
  }
}

function byLabel(counts: Map<string, number>, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of counts) {
    const name = new RegExp(`${label}="([^"]*)"`).exec(key)?.[1] ?? key;
    out[name] = (out[name] ?? 0) + value;
  }
  return out;
}

/** The compensation orders' distinct answers by type (and code): what the run exercised. */
function compensationAnswers(o: Observed): Record<string, number> {
  const theirs = new Set(o.compensation.orders.map((x) => x.orderId));
  const distinct = new Map(o.received.filter((e) => theirs.has(String(e.data?.orderId))).map((e) => [e.id, e]));
  const counts: Record<string, number> = {};
  for (const e of distinct.values()) {
    const key = `${e.type}${e.data.code ? `(${String(e.data.code)})` : ''}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
