import { readFileSync } from 'node:fs';
import { html, raw, type SafeHtml } from './html.js';

/**
 * The frame every ops page shares. Styles and scripts are read from
 * src/http/assets once and inlined, so a page is one self-contained document:
 * nothing from the internet, nothing else to authorise, and it still reads
 * when saved to a file and attached to an incident.
 */
const asset = (name: string) => readFileSync(new URL(`../assets/${name}`, import.meta.url), 'utf8');
const STYLES = raw(asset('ops.css'));
export const LIVE_CHART_SCRIPT = raw(asset('state-chart.live.js'));

export type Section = 'chart' | 'payment' | 'board' | 'home' | 'reconciliation';

export interface PageOptions {
  title: string;
  section: Section;
  body: SafeHtml;
  script?: SafeHtml;
  /** Reload every N seconds (a payment still in flight). */
  refreshSeconds?: number;
  /** Prefills the order search box. */
  orderId?: string;
}

function navLink(href: string, text: string, current: boolean): SafeHtml {
  return html`<a href="${href}"${current ? raw(' aria-current="page"') : null}>${text}</a>`;
}

export function page(o: PageOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${o.refreshSeconds ? html`<meta http-equiv="refresh" content="${o.refreshSeconds}">` : null}
<title>${o.title} · payment-service</title>
<style>${STYLES}</style>
</head>
<body>
<header class="top">
  <a class="brand" href="/">payment-service ops</a>
  <nav>
    ${navLink('/machines/payment', 'State chart', o.section === 'chart')}
    ${navLink('/admin/queues', 'Queue (Bull Board)', o.section === 'board')}
    ${navLink('/reconciliation', 'Reconciliation', o.section === 'reconciliation')}
    ${navLink('/metrics', 'Metrics', false)}
    ${navLink('/health/ready', 'Health', false)}
  </nav>
  <form action="/payments" method="get" role="search">
    <input name="orderId" placeholder="order id (UUID)" value="${o.orderId ?? ''}" aria-label="Order id" spellcheck="false" autocomplete="off">
    <button type="submit">Find payment</button>
  </form>
</header>
<main>
${o.body}
</main>
${o.script ? html`<script>${o.script}</script>` : null}
</body>
</html>
`.value;
}
