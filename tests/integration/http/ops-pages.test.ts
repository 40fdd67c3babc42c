import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { machineGraph } from '../../../src/http/chart/machine.graph.js';
import { paymentMachine } from '../../../src/machines/payment.machine.js';
import { opsWorld, SECRET_METHOD, type OpsWorld } from '../../support/ops.fixtures.js';

let world: OpsWorld;
beforeAll(async () => {
  world = await opsWorld();
});
afterAll(async () => {
  await world?.close();
});

/** Read from the machine itself, not from the code under test: a new state must appear on the page. */
const STATES = Object.keys(paymentMachine.root.states);
const EVENTS = [...new Set(Object.values(paymentMachine.root.states).flatMap((s) => [...s.transitions.keys()]))];
const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

function attr(body: string, selector: RegExp): string | undefined {
  return selector.exec(body)?.[1];
}

/** An edge's attribute as served: ids are "From->To", and the page escapes '>' like any other text. */
function edgeAttr(body: string, id: string, name: string): string | undefined {
  return attr(body, new RegExp(`data-edge="${id.replace('>', '&gt;')}"[^>]*${name}="(\\w*)"`));
}

describe('/machines/payment', () => {
  it('when an operator opens the chart, then every state of the machine is drawn with its payment count', async () => {
    const counts = await world.payments.countByStatus();
    const res = await world.server().inject({ url: '/machines/payment' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(STATES.length).toBeGreaterThan(0);
    for (const state of STATES) {
      const count = attr(res.body, new RegExp(`data-state="${state}" data-count="(\\d+)"`));
      expect(count, state).toBe(String(counts[state as keyof typeof counts]));
    }
    expect(counts).toEqual({ Initiated: 1, Processing: 1, Success: 1, PartiallyRefunded: 0, Refunded: 0, Disputed: 0, Failed: 2 });
  });

  it('when payments moved in the last hour, then each arrow carries its count', async () => {
    const res = await world.server().inject({ url: '/machines/payment' });
    const edge = (id: string) => edgeAttr(res.body, id, 'data-count');
    expect(edge('start')).toBe('5');
    expect(edge('Initiated->Processing')).toBe('3');
    expect(edge('Processing->Success')).toBe('1');
    expect(edge('Processing->Failed')).toBe('1');
    expect(edge('Initiated->Failed')).toBe('1');
  });

  it('when the page polls for numbers, then the stats endpoint has every state and arrow of the machine', async () => {
    const res = await world.server().inject({ url: '/machines/payment/stats' });
    const stats = res.json();
    expect(Object.keys(stats.states).sort()).toEqual([...STATES].sort());
    expect(Object.keys(stats.edges).sort()).toEqual(machineGraph(paymentMachine).edges.map((e) => e.id).sort());
    expect(stats).toMatchObject({ windowSeconds: 3600, started: 5, unmatched: [] });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('when asked for Mermaid, then every state and event of the machine is in the text', async () => {
    const app = world.server();
    for (const url of ['/machines/payment.mmd', '/machines/payment?format=mermaid']) {
      const res = await app.inject({ url });
      expect(res.headers['content-type']).toContain('text/plain');
      expect(res.body.startsWith('stateDiagram-v2\n')).toBe(true);
      for (const s of STATES) expect(res.body).toContain(s);
      for (const e of EVENTS) expect(res.body).toContain(e);
    }
  });

  it('when the JSON is imported into XState (as Stately does), then it is the same machine', async () => {
    const res = await world.server().inject({ url: '/machines/payment.json' });
    const imported = createMachine(res.json() as Parameters<typeof createMachine>[0]);
    expect(machineGraph(imported)).toEqual(machineGraph(paymentMachine));
  });
});

describe('/payments/:orderId', () => {
  it('when a program asks for a declined payment, then it gets its status, money as strings and full history', async () => {
    const { orderId, paymentId } = world.seeded.declined;
    const res = await world.server().inject({ url: `/payments/${orderId}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    const body = res.json();
    expect(body).toMatchObject({
      orderId,
      paymentId,
      status: 'Failed',
      amount: '1250.00',
      amountMinor: '125000',
      currency: 'USD',
      gateway: 'stripe',
      failureCode: 'card_declined',
      failureReason: 'Your card was declined.',
      transactionId: null,
    });
    expect(body.history.map((h: { event: string }) => h.event)).toEqual(['CREATED', 'START', 'GATEWAY_LOOKUP', 'CHARGE_DECLINED']);
    expect(body.history[3].detail.gatewayCalls).toEqual([{ operation: 'charge', outcome: 'declined', code: 'card_declined', durationMs: 212 }]);
    expect(body.events).toMatchObject([{ type: 'PaymentFailed', routingKey: 'payment.failed', publishedAt: null }]);
    expect(typeof body.failedAt).toBe('string');
  });

  it('when any payment is shown, as JSON or as a page, then its payment method never is', async () => {
    const app = world.server();
    for (const p of Object.values(world.seeded)) {
      for (const headers of [{}, HTML]) {
        const res = await app.inject({ url: `/payments/${p.orderId}`, headers });
        expect(res.statusCode).toBe(200);
        expect(res.body).not.toContain(SECRET_METHOD);
        expect(res.body).not.toContain('paymentMethod":"pm_');
      }
    }
  });

  it('when a browser asks for a declined payment, then the page highlights its path and lists its timeline', async () => {
    const { orderId } = world.seeded.declined;
    const res = await world.server().inject({ url: `/payments/${orderId}`, headers: HTML });
    expect(res.headers['content-type']).toContain('text/html');
    const visited = (state: string) => attr(res.body, new RegExp(`data-state="${state}" data-visited="(\\w+)"`));
    expect(['Initiated', 'Processing', 'Failed'].map(visited)).toEqual(['true', 'true', 'true']);
    expect(visited('Success')).toBe('false');
    expect(edgeAttr(res.body, 'Processing->Failed', 'data-visited')).toBe('true');
    expect(edgeAttr(res.body, 'Processing->Success', 'data-visited')).toBe('false');
    expect(attr(res.body, /data-failure-code="([^"]*)"/)).toBe('card_declined');
    expect(res.body.match(/<tr class="[^"]*" data-kind=/g)).toHaveLength(5);
    expect(res.body).toContain('charge → <b>declined</b> (card_declined) · 212 ms');
  });

  it('when a payment retried after a transient error, then its self-transition is on its path', async () => {
    const res = await world.server().inject({ url: `/payments/${world.seeded.retrying.orderId}`, headers: HTML });
    expect(edgeAttr(res.body, 'Processing->Processing', 'data-visited')).toBe('true');
    expect(res.body).toContain('Processing ↻ (re-entered)');
    expect(res.body).toContain('http-equiv="refresh"');
  });

  it('when the order is unknown, then 404 says where to look', async () => {
    const res = await world.server().inject({ url: `/payments/${randomUUID()}` });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'payment_not_found' });
    expect(res.json().message).toContain('dead-letter');
  });

  it('when the order id is not a UUID, then 400 says so', async () => {
    const res = await world.server().inject({ url: '/payments/not-a-uuid' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_order_id' });
  });

  it('when the search box is used, then it redirects to the payment page', async () => {
    const { orderId } = world.seeded.succeeded;
    const res = await world.server().inject({ url: `/payments?orderId=%20${orderId}%20` });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/payments/${orderId}`);
  });
});
