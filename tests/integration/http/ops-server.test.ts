import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.js';
import { capturedLogger, opsWorld, type OpsWorld } from '../../support/ops.fixtures.js';

const TOKEN = 'ops-token-0123456789abcdef';
const REMOTE = '203.0.113.7';
/** Every kind of guarded route, each one that exists answering 200 once let in. */
const pages = () => ['/admin/queues', '/admin/queues/api/queues', '/machines/payment', '/machines/payment/stats', `/payments/${world.seeded.declined.orderId}`];
const guarded = () => [...pages(), '/no/such/page'];
const OPEN = ['/health/live', '/health/ready', '/metrics'];

let world: OpsWorld;
beforeAll(async () => {
  world = await opsWorld();
});
afterAll(async () => {
  await world?.close();
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('health', () => {
  it('when the process is up, then /health/live answers 200 ok', async () => {
    const res = await world.server().inject({ url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('when every dependency answers, then /health/ready is 200 ok', async () => {
    const res = await world.server().inject({ url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', down: [] });
  });

  it('when the breaker is open, then the process stays ready but says it is degraded', async () => {
    const health = async () => ({ postgres: { ok: true }, gateway: { ok: true, degraded: true, detail: 'breaker open' } });
    const res = await world.server({ health }).inject({ url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'degraded', down: [], degraded: ['gateway'] });
  });

  it('when Redis does not answer, then /health/ready is 503 and names it, without the driver text or an address', async () => {
    const { logger, text } = capturedLogger();
    const health = async () => ({ postgres: { ok: true }, redis: { ok: false, detail: 'Redis: connect ECONNREFUSED 10.1.2.3:6379' } });
    const res = await world.server({ health, logger }).inject({ url: '/health/ready', remoteAddress: REMOTE });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'down', down: ['redis'], degraded: [], message: 'not ready: redis not answering' });
    expect(res.body).not.toMatch(/ECONNREFUSED|10\.1\.2\.3|6379/);
    // The reason is not lost: the operator finds it in the log.
    expect(text()).toContain('ECONNREFUSED 10.1.2.3:6379');
  });

  it('when the checks themselves fail, then /health/ready is 503, not a crash, and the error text stays in the log', async () => {
    const health = async () => {
      throw new Error('pool exhausted at db.internal:5432');
    };
    const res = await world.server({ health }).inject({ url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'down', down: ['health'] });
    expect(res.body).not.toContain('pool exhausted');
    expect(res.body).not.toContain('db.internal');
  });

  it('when a store stays down, then the probe every few seconds logs one line, not one per probe', async () => {
    const { logger, text } = capturedLogger();
    const health = async () => ({ postgres: { ok: false, detail: 'PostgreSQL: timeout' } });
    const app = world.server({ health, logger });
    for (let i = 0; i < 5; i++) expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(503);
    expect(text().match(/"msg":"not ready"/g)).toHaveLength(1);
  });
});

describe('metrics', () => {
  it('when Prometheus scrapes, then every declared metric and the queue depth are in the text', async () => {
    const metrics = createMetrics();
    let collected = 0;
    const app = world.server({ metrics, collect: async () => void collected++ });
    const res = await app.inject({ url: '/metrics', remoteAddress: REMOTE });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const names = (await metrics.register.getMetricsAsJSON()).map((m) => m.name);
    for (const name of names) expect(res.body).toContain(`# TYPE ${name} `);
    expect(res.body).toContain('process_cpu_user_seconds_total');
    expect(res.body).toMatch(/payment_queue_jobs\{state="waiting"\} 5\b/);
    expect(collected).toBe(1);
  });
});

describe('who may see the ops pages (ADMIN_TOKEN)', () => {
  it('when ADMIN_TOKEN is unset, then a remote caller gets 403 on every guarded route', async () => {
    const app = world.server();
    for (const url of guarded()) {
      const res = await app.inject({ url, remoteAddress: REMOTE });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().message).toContain('ADMIN_TOKEN');
    }
  });

  it('when ADMIN_TOKEN is unset, then loopback callers (IPv4, IPv6, mapped) get in', async () => {
    const app = world.server();
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      const res = await app.inject({ url: '/machines/payment/stats', remoteAddress });
      expect(res.statusCode, remoteAddress).toBe(200);
    }
  });

  it('when a remote caller claims to be local in X-Forwarded-For, then it is still refused', async () => {
    const res = await world.server().inject({ url: '/admin/queues', remoteAddress: REMOTE, headers: { 'x-forwarded-for': '127.0.0.1' } });
    expect(res.statusCode).toBe(403);
  });

  it('when ADMIN_TOKEN is set, then a request without it or with a wrong one gets 401, loopback included', async () => {
    const app = world.server({ adminToken: TOKEN });
    for (const url of guarded()) {
      for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Bearer ${TOKEN}x` }]) {
        const res = await app.inject({ url, headers, remoteAddress: '127.0.0.1' });
        expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers['www-authenticate']).toBeDefined();
      }
    }
  });

  it('when ADMIN_TOKEN is set, then the Bearer token (or a browser sending it as the Basic password) opens every page', async () => {
    const app = world.server({ adminToken: TOKEN });
    for (const authorization of [`Bearer ${TOKEN}`, basic('ops', TOKEN)]) {
      for (const url of pages()) {
        const res = await app.inject({ url, headers: { authorization }, remoteAddress: REMOTE });
        expect(res.statusCode, `${url} with ${authorization.split(' ')[0]}`).toBe(200);
      }
    }
  });

  it('when ADMIN_TOKEN is set, then health and metrics stay open to anyone', async () => {
    const app = world.server({ adminToken: TOKEN });
    for (const url of OPEN) {
      const res = await app.inject({ url, remoteAddress: REMOTE });
      expect(res.statusCode, url).toBe(200);
    }
  });

  it('when requests carry the admin token, then refusals are logged and the token never is', async () => {
    const { logger, text } = capturedLogger();
    const app = world.server({ adminToken: TOKEN, logger });
    await app.inject({ url: '/machines/payment', headers: { authorization: `Bearer ${TOKEN}` }, remoteAddress: REMOTE });
    await app.inject({ url: '/admin/queues', headers: { authorization: `Bearer ${TOKEN}-typo` }, remoteAddress: REMOTE });
    expect(text()).toContain('ops request refused');
    expect(text()).toContain(REMOTE);
    expect(text()).not.toContain(TOKEN);
  });
});
