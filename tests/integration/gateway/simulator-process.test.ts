import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { createIntent, eventually, isAnswering, isRefused } from '../../support/sim-client.js';
import { startWebhookReceiver } from '../../support/sim-webhook-receiver.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const children: ChildProcess[] = [];

/** `npm run gateway` without the npm and tsx wrappers, so signals reach the simulator itself. */
function runSimulator(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/gateway/simulator/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

/** Resolves with the simulator's address from its "listening" log line. */
async function listeningUrl(child: ChildProcess): Promise<{ url: string; seed: number }> {
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line) as { msg?: string; url?: string; seed?: number };
    if (entry.msg === 'gateway simulator listening') return { url: entry.url!, seed: entry.seed! };
  }
  throw new Error('the simulator exited before listening');
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('gateway simulator process (npm run gateway)', () => {
  it('when it runs, then it logs its seed, reads its settings, SIGUSR2 takes it down and back up, and SIGTERM stops it with exit 0', async () => {
    const child = runSimulator({ GATEWAY_PORT: '0', SIM_SEED: '42', SIM_LATENCY_MS: '0-2', SIM_SEARCH_LAG_MS: '60000', SIM_IDEMPOTENCY_TTL_S: '3600' });
    const { url, seed } = await listeningUrl(child);
    expect(seed).toBe(42);
    expect(await (await fetch(`${url}/_sim/faults`)).json()).toMatchObject({ searchLagMs: 60_000, idempotencyTtlS: 3600 });
    expect(await createIntent(url, { amount: '4999', currency: 'usd', payment_method: 'pm_card_visa', orderId: 'o-1' })).toMatchObject({
      status: 200,
    });

    child.kill('SIGUSR2');
    await eventually(() => isRefused(url));
    child.kill('SIGUSR2');
    await eventually(() => isAnswering(url));

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });

  it('when a setting is invalid, then it exits non-zero naming the setting in one line', async () => {
    const child = runSimulator({ GATEWAY_PORT: '0', SIM_TIMEOUT_RATE: '1.5' });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(child, 'exit');

    expect(code).not.toBe(0);
    expect(stderr.trim().split('\n')).toEqual([
      'invalid simulator settings: SIM_TIMEOUT_RATE="1.5" must be a probability between 0 and 1',
    ]);
  });

  it('when SIM_WEBHOOK_URL and SIM_WEBHOOK_SECRET are set, then each change reaches the endpoint signed with that secret, and the secret is never shown', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const child = runSimulator({ GATEWAY_PORT: '0', SIM_WEBHOOK_URL: receiver.url, SIM_WEBHOOK_SECRET: 'whsec_process', SIM_REFUND_SETTLE_MS: '10' });
      const { url } = await listeningUrl(child);
      await createIntent(url, { amount: '4999', currency: 'usd', payment_method: 'pm_card_visa', orderId: 'o-2' });

      const [receipt] = await receiver.received(1);
      expect(Stripe.webhooks.constructEvent(receipt!.payload, receipt!.signature, 'whsec_process').type).toBe('payment_intent.succeeded');
      expect(JSON.stringify(await (await fetch(`${url}/_sim/faults`)).json())).not.toContain('whsec_process');
    } finally {
      await receiver.close();
    }
  });
});
