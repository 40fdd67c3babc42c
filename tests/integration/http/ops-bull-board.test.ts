import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHARGE_JOB } from '../../../src/queues/payments.queue.js';
import { opsWorld, SECRET_METHOD, type OpsWorld } from '../../support/ops.fixtures.js';

let world: OpsWorld;
beforeAll(async () => {
  world = await opsWorld();
});
afterAll(async () => {
  await world?.close();
});

const api = '/admin/queues/api/queues';
/** What the board's own page sends on an action (inject's Host is localhost:80). */
const SAME_ORIGIN = { origin: 'http://localhost' };

interface BoardJob {
  id: string;
  data: Record<string, unknown>;
  externalUrl?: { href: string; displayText?: string };
}

async function waitingJobs(readWrite = false): Promise<{ readOnlyMode: boolean; allowRetries: boolean; jobs: BoardJob[] }> {
  const res = await world.server({ adminReadWrite: readWrite }).inject({ url: `${api}?activeQueue=payments&status=waiting&page=1&jobsPerPage=50` });
  expect(res.statusCode).toBe(200);
  const queue = res.json().queues.find((q: { name: string }) => q.name === 'payments');
  return queue;
}

describe('Bull Board at /admin/queues', () => {
  it('when an operator opens it, then the dashboard page is served from this server', async () => {
    const res = await world.server().inject({ url: '/admin/queues' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('<base href="/admin/queues/"');
    expect(res.body).not.toContain('fonts.googleapis.com');
    const script = /src="(static\/js\/main[^"]+)"/.exec(res.body)?.[1];
    expect(script).toBeDefined();
    expect((await world.server().inject({ url: `/admin/queues/${script}` })).statusCode).toBe(200);
  });

  it('when it lists the payments queue, then each job links to its payment page', async () => {
    const queue = await waitingJobs();
    const declined = queue.jobs.find((j) => j.id === world.seeded.declined.orderId);
    expect(declined?.data).toEqual({ orderId: world.seeded.declined.orderId });
    expect(declined?.externalUrl).toEqual({ href: `/payments/${world.seeded.declined.orderId}`, displayText: 'Payment timeline' });
  });

  it('when a job carries a secret, then the board shows it redacted', async () => {
    const orderId = randomUUID();
    await world.queue.add(CHARGE_JOB, { orderId, paymentMethod: SECRET_METHOD } as never, { jobId: orderId });
    try {
      const res = await world.server().inject({ url: `${api}?activeQueue=payments&status=waiting&jobsPerPage=50` });
      expect(res.body).toContain(orderId);
      expect(res.body).not.toContain(SECRET_METHOD);
      const job = await world.server().inject({ url: `${api}/payments/${orderId}` });
      expect(job.statusCode).toBe(200);
      expect(job.body).not.toContain(SECRET_METHOD);
      expect(job.json().job.data).toEqual({ orderId, paymentMethod: '[redacted]' });
    } finally {
      await (await world.queue.getJob(orderId))?.remove();
    }
  });

  it('when ADMIN_READ_WRITE is off, then retrying, cleaning or emptying is refused and the jobs stay', async () => {
    const app = world.server({ adminReadWrite: false });
    const jobId = world.seeded.declined.orderId;
    const attempts = [
      { method: 'PUT', url: `${api}/payments/${jobId}/retry` },
      { method: 'PUT', url: `${api}/payments/${jobId}/clean` },
      { method: 'PUT', url: `${api}/payments/retry/failed` },
      { method: 'PUT', url: `${api}/payments/clean/waiting` },
      { method: 'PUT', url: `${api}/payments/empty` },
      { method: 'POST', url: `${api}/payments/add`, payload: { name: CHARGE_JOB, data: { orderId: randomUUID() } } },
    ] as const;
    for (const a of attempts) {
      const res = await app.inject({ method: a.method, url: a.url, headers: SAME_ORIGIN, payload: 'payload' in a ? a.payload : undefined });
      expect(res.statusCode, `${a.method} ${a.url}`).toBe(405);
    }
    expect(await world.queue.getJob(jobId)).toBeDefined();
    expect((await world.queue.getJobCounts('waiting')).waiting).toBe(5);
    expect((await waitingJobs()).readOnlyMode).toBe(true);
  });

  it('when ADMIN_READ_WRITE is on, then an operator can remove a job', async () => {
    const orderId = randomUUID();
    await world.queue.add(CHARGE_JOB, { orderId }, { jobId: orderId });
    const app = world.server({ adminReadWrite: true });
    const res = await app.inject({ method: 'PUT', url: `${api}/payments/${orderId}/clean`, headers: SAME_ORIGIN });
    expect(res.statusCode).toBe(204);
    expect(await world.queue.getJob(orderId)).toBeUndefined();
    expect((await waitingJobs(true)).readOnlyMode).toBe(false);
  });
});
