import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { layoutChart } from '../../../src/http/chart/chart.layout.js';
import { chartStats, paymentPath } from '../../../src/http/chart/chart.stats.js';
import { chartSvg } from '../../../src/http/chart/chart.svg.js';
import { toMermaid } from '../../../src/http/chart/machine.export.js';
import { machineGraph } from '../../../src/http/chart/machine.graph.js';
import { maskCardNumbers, redactForDisplay } from '../../../src/http/display.redact.js';
import { paymentPage } from '../../../src/http/pages/payment.page.js';
import type { PaymentView } from '../../../src/http/payment.view.js';
import { paymentMachine } from '../../../src/machines/payment.machine.js';

/** Pure parts of the ops pages: no server, no database. */
const chart = machineGraph(paymentMachine);
const at = { at: new Date('2026-11-26T10:00:00Z'), seconds: 3600 };

describe('drawing follows the machine', () => {
  it('when the machine gains a state, then the chart, the SVG and the Mermaid text show it', () => {
    const refundable = createMachine({
      id: 'payment',
      initial: 'Initiated',
      states: {
        Initiated: { on: { START: 'Processing' } },
        Processing: { on: { CHARGE_SUCCEEDED: 'Success' } },
        Success: { on: { REFUND: 'Refunded' } },
        Refunded: { type: 'final' },
      },
    });
    const graph = machineGraph(refundable);
    expect(graph.states.map((s) => s.name)).toEqual(['Initiated', 'Processing', 'Success', 'Refunded']);
    const svg = chartSvg(layoutChart(graph), { stats: chartStats(graph, { Refunded: 3 }, [], at) }).value;
    expect(svg).toContain('data-state="Refunded" data-count="3"');
    expect(svg).toContain('data-edge="Success-&gt;Refunded"');
    expect(toMermaid(graph)).toContain('Success --> Refunded : REFUND');
  });

  it('when the payment machine is laid out, then no two states overlap', () => {
    const { states } = layoutChart(chart);
    for (const a of states) {
      for (const b of states) {
        if (a === b) continue;
        const apart = Math.abs(a.x - b.x) >= (a.width + b.width) / 2 || Math.abs(a.y - b.y) >= (a.height + b.height) / 2;
        expect(apart, `${a.name} / ${b.name}`).toBe(true);
      }
    }
  });
});

describe('counts on the chart', () => {
  it('when a payment was rejected on arrival (null → Failed), then it counts as created and on Initiated → Failed', () => {
    const stats = chartStats(chart, {}, [{ from: null, to: 'Failed', n: 2 }, { from: null, to: 'Initiated', n: 5 }], at);
    expect(stats.started).toBe(7);
    expect(stats.edges['Initiated->Failed']).toBe(2);
    expect(stats.states).toEqual(Object.fromEntries(Object.keys(paymentMachine.states).map((name) => [name, 0])));
  });

  it('when counts carry no event, then the retry loop is "not counted" rather than a false 0', () => {
    const stats = chartStats(chart, {}, [{ from: 'Initiated', to: 'Processing', n: 1 }], at);
    expect(stats.edges['Processing->Processing']).toBeNull();
  });

  it('when counts carry events, then retries count on the loop and notes do not', () => {
    const moves = [
      { from: 'Processing', to: 'Processing', event: 'CHARGE_FAILED_TRANSIENTLY', n: 4 },
      { from: 'Processing', to: 'Processing', event: 'CHARGE_UNSETTLED', n: 9 },
    ];
    expect(chartStats(chart, {}, moves, at).edges['Processing->Processing']).toBe(4);
  });

  it('when a move has no arrow in this machine, then it is reported, not dropped', () => {
    const stats = chartStats(chart, {}, [{ from: 'Failed', to: 'Success', n: 1 }], at);
    expect(stats.unmatched).toEqual([{ from: 'Failed', to: 'Success', n: 1 }]);
  });
});

describe("a payment's path", () => {
  it('when a payment stayed in Processing for a gateway note, then the retry loop is not marked', () => {
    const path = paymentPath(chart, [
      { fromStatus: null, toStatus: 'Initiated', event: 'CREATED' },
      { fromStatus: 'Initiated', toStatus: 'Processing', event: 'START' },
      { fromStatus: 'Processing', toStatus: 'Processing', event: 'CHARGE_UNSETTLED' },
      { fromStatus: 'Processing', toStatus: 'Success', event: 'CHARGE_SUCCEEDED' },
    ]);
    expect([...path.edges].sort()).toEqual(['Initiated->Processing', 'Processing->Success']);
    expect(path.transitions.has('Processing->Success CHARGE_SUCCEEDED')).toBe(true);
    expect(path.current).toBe('Success');
    expect(path.started).toBe(true);
  });
});

describe('what the pages never show', () => {
  it('when job data or details carry secrets or a card number, then they are redacted at any depth', () => {
    const shown = redactForDisplay({
      orderId: 'o-1',
      nested: { paymentMethod: 'pm_x', api_key: 'sk_test_1', list: [{ Authorization: 'Bearer x' }] },
      note: 'customer typed 4242 4242 4242 4242 into the reference',
      reference: '1234567890123456',
    });
    expect(shown).toEqual({
      orderId: 'o-1',
      nested: { paymentMethod: '[redacted]', api_key: '[redacted]', list: [{ Authorization: '[redacted]' }] },
      note: 'customer typed [card number removed] into the reference',
      reference: '1234567890123456',
    });
    expect(maskCardNumbers('4000-0566-5566-5556')).toBe('[card number removed]');
  });

  it('when a failure reason or a refund reason contains markup, then the page shows it as text', () => {
    const view = {
      orderId: 'o', paymentId: 'p', status: 'Failed', amount: '1.00', amountMinor: '100', currency: 'USD',
      customerId: null, transactionId: null, gateway: null, failureCode: 'card_declined',
      failureReason: '<script>alert(1)</script>', attempts: 1, lastError: null, machineVersion: 1, sourceEventId: null,
      createdAt: '2026-11-26T10:00:00.000Z', updatedAt: '2026-11-26T10:00:01.000Z', completedAt: null,
      failedAt: '2026-11-26T10:00:01.000Z', history: [], events: [],
      amountRefunded: '0.00', amountRefundedMinor: '0', cancellation: null, dispute: null,
      refunds: [{
        id: 'r', amount: null, amountMinor: null, currency: 'USD', status: 'requested', reason: '<img src=x onerror=alert(2)>',
        cancel: false, gatewayRefundId: null, failureCode: null, failureReason: null,
        createdAt: '2026-11-26T10:00:02.000Z', updatedAt: '2026-11-26T10:00:02.000Z',
      }],
    } satisfies PaymentView;
    const html = paymentPage({ view, layout: layoutChart(chart), path: paymentPath(chart, []), final: true, jobUrl: '/j', jsonUrl: '/p' });
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(2)&gt;');
  });
});
