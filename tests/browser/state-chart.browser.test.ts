import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentMachine } from '../../src/machines/payment.machine.js';
import * as fx from '../support/ops.fixtures.js';
import { launchNpmChromium } from '../support/npm-chromium.js';

/**
 * A real browser (Chromium from the @sparticuz/chromium npm package, driven by
 * playwright-core) on the ops pages, served over HTTP from an isolated
 * database. Screenshots go to .artifacts/browser/ and their paths are printed.
 */
const SHOTS = path.resolve('.artifacts/browser');
const STATES = Object.keys(paymentMachine.root.states);

let world: fx.OpsWorld;
let app: FastifyInstance;
let base: string;
let context: BrowserContext;
let userDataDir: string;
const foreignRequests: string[] = [];

async function screenshot(page: Page, name: string): Promise<void> {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
}

async function open(url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreignRequests.push(r.url());
  });
  const response = await page.goto(`${base}${url}`);
  expect(response?.status()).toBe(200);
  return page;
}

beforeAll(async () => {
  world = await fx.opsWorld();
  app = world.server({ chartPollMs: 500 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  await mkdir(SHOTS, { recursive: true });
  userDataDir = await mkdtemp(path.join(tmpdir(), 'ops-chromium-'));
  context = await launchNpmChromium(userDataDir, { width: 1440, height: 900 });
});

afterAll(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  await world?.close();
});

describe('the state chart in a browser', () => {
  it('when an operator opens /machines/payment, then every state of the machine is drawn with its count', async () => {
    const counts = await world.payments.countByStatus();
    const page = await open('/machines/payment');
    for (const state of STATES) {
      const box = page.locator(`svg [data-state="${state}"]`);
      await expect.poll(() => box.isVisible()).toBe(true);
      const expected = String(counts[state as keyof typeof counts]);
      expect(await box.getAttribute('data-count')).toBe(expected);
      expect(await box.locator('.state-count').textContent()).toBe(expected);
    }
    await screenshot(page, 'state-chart');
    await page.close();
  });

  it('when a payment arrives while the chart is open, then its count changes without a reload', async () => {
    const page = await open('/machines/payment');
    const before = Number(await page.locator('[data-state="Initiated"]').getAttribute('data-count'));
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await fx.seedInitiated(world.payments);
    await page.waitForSelector(`svg [data-state="Initiated"][data-count="${before + 1}"]`, { timeout: 15_000 });
    expect(await page.locator('[data-state="Initiated"] .state-count').textContent()).toBe(String(before + 1));
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await page.close();
  });

  it("when an operator opens a declined payment's page, then its path is highlighted and the reason is shown", async () => {
    const { declined } = world.seeded;
    const page = await open(`/payments/${declined.orderId}`);
    for (const state of ['Initiated', 'Processing', 'Failed']) {
      expect(await page.locator(`svg [data-state="${state}"]`).getAttribute('data-visited')).toBe('true');
    }
    expect(await page.locator('svg [data-state="Success"]').getAttribute('data-visited')).toBe('false');
    expect(await page.locator('svg [data-state="Failed"]').getAttribute('data-current')).toBe('true');
    const taken = page.locator('svg [data-edge="Processing->Failed"]');
    const notTaken = page.locator('svg [data-edge="Processing->Success"]');
    expect(await taken.getAttribute('data-visited')).toBe('true');
    expect(await notTaken.getAttribute('data-visited')).toBe('false');
    // Highlighted for the eye, not only in attributes: the taken arrow is drawn differently.
    const stroke = (l: typeof taken) => l.locator('.edge-line').evaluate((el) => getComputedStyle(el).strokeWidth);
    expect(await stroke(taken)).not.toBe(await stroke(notTaken));
    await expect.poll(() => page.locator('.why').textContent()).toContain('card_declined');
    expect(await page.locator('table.timeline tbody tr').count()).toBe((await world.payments.history(declined.orderId)).length + 1);
    expect(await page.content()).not.toContain(fx.SECRET_METHOD);
    await screenshot(page, 'payment-declined');
    await page.close();
  });

  it("when an operator opens a completed payment's page, then the path ends in Success", async () => {
    const page = await open(`/payments/${world.seeded.succeeded.orderId}`);
    expect(await page.locator('svg [data-state="Success"]').getAttribute('data-current')).toBe('true');
    expect(await page.locator('svg [data-state="Failed"]').getAttribute('data-visited')).toBe('false');
    expect(await page.locator('svg [data-edge="Processing->Success"]').getAttribute('data-visited')).toBe('true');
    expect(await page.locator('table.timeline tr[data-event="PaymentCompleted published"]').count()).toBe(1);
    await screenshot(page, 'payment-succeeded');
    await page.close();
  });

  it("when an operator opens the queue in Bull Board, then each job links to its payment's page", async () => {
    const page = await open('/admin/queues/queue/payments?status=waiting');
    const link = page.locator(`a[href="/payments/${world.seeded.declined.orderId}"]`);
    await link.waitFor({ timeout: 15_000 });
    expect(await link.textContent()).toBe('Payment timeline');
    await screenshot(page, 'bull-board');
    await page.close();
  });

  it('when the pages load, then nothing is fetched from anywhere but the ops server', () => {
    expect(foreignRequests).toEqual([]);
  });
});
