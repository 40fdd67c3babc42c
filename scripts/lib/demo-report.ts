import { randomUUID } from 'node:crypto';
import type { InventoryReserved, ReceivedEvent } from './saga-client.js';

/** A mix a person recognises: mostly good cards, some declines, four currencies. */
export function buildOrders(n: number): Array<Required<InventoryReserved>> {
  const amounts: Array<[string, string]> = [
    ['49.99', 'USD'],
    ['120.00', 'EUR'],
    ['5000', 'JPY'],
    ['1.250', 'BHD'],
  ];
  const methods = ['pm_card_visa', 'pm_card_visa', 'pm_card_visa', 'pm_card_visa', 'pm_card_visa', 'pm_card_visa',
    'pm_card_mastercard', 'pm_card_mastercard', 'pm_card_chargeDeclined', 'pm_card_chargeDeclinedInsufficientFunds'];
  return Array.from({ length: n }, (_, i) => {
    const [amount, currency] = amounts[i % amounts.length]!;
    return { orderId: randomUUID(), amount, currency, customerId: `cus_${1000 + i}`, paymentMethod: methods[i % methods.length]! };
  });
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface Summary {
  orders: number;
  events: ReceivedEvent[];
  duplicatesSent: number;
  deadLettered: number;
  p50: number;
  p95: number;
  exampleOrder: string;
  ports: number[];
  /** More lines for the table (the compensations' answers), after the charges'. */
  extraRows?: Array<[string, string]>;
}

/** Each order's one terminal event; compensation answers (refunds, cancellations) come after it and are not counted here. */
const TERMINAL_TYPES = new Set(['PaymentCompleted', 'PaymentFailed']);

export function printSummary(s: Summary): void {
  const distinct = new Map<string, ReceivedEvent>();
  for (const e of s.events) if (TERMINAL_TYPES.has(e.type) && !distinct.has(e.id)) distinct.set(e.id, e);
  const terminal = [...distinct.values()];
  const completed = terminal.filter((e) => e.type === 'PaymentCompleted').length;
  const failures = new Map<string, number>();
  for (const e of terminal.filter((t) => t.type === 'PaymentFailed')) {
    const code = String(e.data.code);
    failures.set(code, (failures.get(code) ?? 0) + 1);
  }
  const orders = new Set(terminal.map((e) => e.data.orderId)).size;
  const rows: Array<[string, string]> = [
    ['orders published', String(s.orders)],
    ['succeeded (PaymentCompleted)', String(completed)],
    ...[...failures.entries()].map(([code, n]): [string, string] => [`failed: ${code}`, String(n)]),
    ['duplicate deliveries sent', String(s.duplicatesSent)],
    ['duplicates absorbed', `${s.duplicatesSent} (one terminal event per order: ${orders === terminal.length ? 'yes' : 'NO'})`],
    ['dead-lettered (poison)', String(s.deadLettered)],
    ['latency p50 / p95', `${s.p50} ms / ${s.p95} ms`],
    ...(s.extraRows ?? []),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('\n  Payment demo summary');
  console.log(`  ${'─'.repeat(width + 30)}`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log(`  ${'─'.repeat(width + 30)}`);
  const base = `http://127.0.0.1:${s.ports[0]}`;
  console.log('\n  Dashboards (each worker serves them; the second is on port ' + s.ports[1] + '):');
  console.log(`    Bull Board         ${base}/admin/queues`);
  console.log(`    state chart        ${base}/machines/payment`);
  console.log(`    one payment        ${base}/payments/${s.exampleOrder}`);
  console.log(`    metrics            ${base}/metrics`);
  console.log(`    health             ${base}/health/ready\n`);
}
