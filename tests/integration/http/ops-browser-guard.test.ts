import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHARGE_JOB } from '../../../src/queues/payments.queue.js';
import { capturedLogger, opsWorld, type OpsWorld } from '../../support/ops.fixtures.js';

/**
 * What a page in an operator's browser can make the ops server do:
 * a DNS-rebinding page reaching 127.0.0.1 under its own name, and a page of
 * another site posting to an admin route with remembered credentials.
 */

const TOKEN = 'ops-token-0123456789abcdef';
const OPS_HOST = 'ops.internal:3001';
const api = '/admin/queues/api/queues';

let world: OpsWorld;
beforeAll(async () => {
  world = await opsWorld();
});
afterAll(async () => {
  await world?.close();
});

async function queuedJob(): Promise<string> {
  const orderId = randomUUID();
  await world.queue.add(CHARGE_JOB, { orderId }, { jobId: orderId });
  return orderId;
}

describe('ADMIN_TOKEN unset: loopback is the socket and the Host name', () => {
  it('when a DNS-rebinding page reaches 127.0.0.1 under its own name, then it gets 403 saying what to do', async () => {
    const app = world.server();
    const rebound = ['evil.example', 'evil.example:3000', '127.0.0.1.nip.io:3000', 'localhost.evil.example', 'evil.example@127.0.0.1', '[::1]evil'];
    for (const host of rebound) {
      for (const url of ['/payments/' + world.seeded.declined.orderId, '/admin/queues/api/queues', '/machines/payment']) {
        const res = await app.inject({ url, remoteAddress: '127.0.0.1', headers: { host } });
        expect(res.statusCode, `${host} ${url}`).toBe(403);
        expect(res.json().message).toMatch(/set ADMIN_TOKEN/);
        expect(res.json().message).toContain('http://127.0.0.1:');
        expect(res.body).not.toContain(world.seeded.declined.orderId);
      }
    }
  });

  it('when the Host is a loopback name, then a loopback caller gets in', async () => {
    const app = world.server();
    for (const host of ['localhost:3000', 'LOCALHOST', '127.0.0.1:3000', '127.0.0.2', '[::1]:3000']) {
      const res = await app.inject({ url: '/machines/payment/stats', remoteAddress: '127.0.0.1', headers: { host } });
      expect(res.statusCode, host).toBe(200);
    }
  });

  it('when refusals pour in, then they are logged at debug, one line for the lot', async () => {
    const { logger, text } = capturedLogger();
    const app = world.server({ logger });
    for (let i = 0; i < 5; i++) await app.inject({ url: '/admin/queues', remoteAddress: '127.0.0.1', headers: { host: 'evil.example' } });
    const lines = text().split('\n').filter((l) => l.includes('ops request refused'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 20, host: 'evil.example', remote: '127.0.0.1', suppressed: 0 });
  });
});

describe('requests that change something come from the ops pages themselves', () => {
  it('when another site posts to Bull Board with a valid token, then it gets 403 and the job stays', async () => {
    const app = world.server({ adminToken: TOKEN, adminReadWrite: true });
    const orderId = await queuedJob();
    const foreign = [{ origin: 'https://evil.example' }, { origin: 'null' }, { origin: `http://${OPS_HOST}.evil.example` }, { 'sec-fetch-site': 'cross-site' }, {}];
    for (const headers of foreign) {
      const res = await app.inject({ method: 'PUT', url: `${api}/payments/${orderId}/clean`, headers: { host: OPS_HOST, authorization: `Bearer ${TOKEN}`, ...headers } });
      expect(res.statusCode, JSON.stringify(headers)).toBe(403);
      expect(res.json().message).toContain('Origin');
    }
    expect(await world.queue.getJob(orderId)).toBeDefined();
  });

  it('when another site posts to a loopback server with no token set, then it gets 403 too', async () => {
    const app = world.server({ adminReadWrite: true });
    const orderId = await queuedJob();
    const res = await app.inject({ method: 'PUT', url: `${api}/payments/${orderId}/clean`, headers: { host: 'localhost:3000', origin: 'https://evil.example' } });
    expect(res.statusCode).toBe(403);
    expect(await world.queue.getJob(orderId)).toBeDefined();
  });

  it('when the ops page itself posts (same Origin, or Sec-Fetch-Site same-origin), then the action runs', async () => {
    const app = world.server({ adminToken: TOKEN, adminReadWrite: true });
    for (const headers of [{ origin: `http://${OPS_HOST}` }, { origin: `https://${OPS_HOST}` }, { 'sec-fetch-site': 'same-origin' }]) {
      const orderId = await queuedJob();
      const res = await app.inject({ method: 'PUT', url: `${api}/payments/${orderId}/clean`, headers: { host: OPS_HOST, authorization: `Bearer ${TOKEN}`, ...headers } });
      expect(res.statusCode, JSON.stringify(headers)).toBe(204);
      expect(await world.queue.getJob(orderId)).toBeUndefined();
    }
  });

  it('when another site only reads (GET), then the token alone decides, as before', async () => {
    const app = world.server({ adminToken: TOKEN });
    const res = await app.inject({ url: '/machines/payment/stats', headers: { host: OPS_HOST, authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' } });
    expect(res.statusCode).toBe(200);
  });
});
