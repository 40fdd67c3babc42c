import chromiumPackage from '@sparticuz/chromium';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * The browser comes from an npm package, not from the machine: @sparticuz/chromium
 * ships a brotli-packed headless Chromium inside its tarball and unpacks it to
 * /tmp/chromium on first use, so `npm ci` is all a fresh machine needs (no apt,
 * no browser download). It needs only libc, libgcc-s1, libexpat1, libnss3 and
 * libnspr4 from the system.
 *
 * Pinned to 147.0.0: later releases need Node 22.
 */

// The package's flags relax web security for scraping; the ops pages are tested as served.
const RELAXED = new Set(['--disable-web-security', '--allow-running-insecure-content']);
// This machine has no network but the registries: keep Chromium from calling home.
const OFFLINE = ['--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

export async function launchNpmChromium(userDataDir: string, viewport: { width: number; height: number }): Promise<BrowserContext> {
  let executablePath: string;
  try {
    executablePath = await chromiumPackage.executablePath();
  } catch (error) {
    throw new Error(`could not unpack @sparticuz/chromium to /tmp (is /tmp writable, and did \`npm ci\` install it?): ${String(error)}`);
  }
  const args = [...chromiumPackage.args.filter((a) => !RELAXED.has(a)), ...OFFLINE];
  try {
    return await chromium.launchPersistentContext(userDataDir, { executablePath, args, headless: true, viewport });
  } catch (error) {
    throw new Error(`${executablePath} (from @sparticuz/chromium) did not start; \`ldd ${executablePath}\` names any missing `
      + `system library (it needs libnss3, libnspr4, libexpat1): ${String(error)}`);
  }
}
