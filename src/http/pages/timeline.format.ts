import { html, type SafeHtml } from './html.js';

/** "2026-11-26 10:00:01.234": UTC, to the millisecond, sortable. */
export function utc(iso: string): string {
  return iso.replace('T', ' ').replace('Z', '');
}

/** "0.042 s", "12.5 s", "3 min 4 s": how long after `from` the moment `to` came. */
export function elapsed(from: string, to: string): string {
  const ms = Math.max(0, Date.parse(to) - Date.parse(from));
  if (ms < 10_000) return `${(ms / 1000).toFixed(3)} s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

const GOOD = /^(ok|succeeded|success|charged|completed|published|found)$/i;
const BAD = /(error|fail|declined|timeout|timed_out|unknown|unavailable|refused|lost|dead)/i;

function show(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function toneOf(text: string): string {
  return GOOD.test(text) ? ' good' : BAD.test(text) ? ' bad' : '';
}

/** The worker's record of a gateway call: "charge → declined (card_declined) · 212 ms". */
function gatewayCallChip(call: unknown): SafeHtml {
  const c = (call ?? {}) as { operation?: unknown; outcome?: unknown; code?: unknown; durationMs?: unknown };
  const outcome = show(c.outcome);
  return html`<span class="chip${toneOf(outcome)}">${show(c.operation)} → <b>${outcome}</b>${c.code ? ` (${show(c.code)})` : ''}${typeof c.durationMs === 'number' ? ` · ${c.durationMs} ms` : ''}</span>`;
}

/** Known detail keys read as sentences; the rest as key: value. */
function chip(key: string, value: unknown): SafeHtml {
  if (key === 'gatewayCalls' && Array.isArray(value)) return html`${value.map(gatewayCallChip)}`;
  if (/^(duration|elapsed|latency)Ms$/i.test(key) && typeof value === 'number') {
    return html`<span class="chip"><b>${value}</b> ms</span>`;
  }
  const text = show(value);
  const tone = /outcome|result|status|code|error/i.test(key) ? toneOf(text) : '';
  return html`<span class="chip${tone}">${key}: <b>${text.length > 300 ? `${text.slice(0, 300)}…` : text}</b></span>`;
}

export function detailChips(detail: Record<string, unknown> | null): SafeHtml {
  if (!detail || Object.keys(detail).length === 0) return html`<span class="empty">—</span>`;
  return html`<div class="chips">${Object.entries(detail).map(([k, v]) => chip(k, v))}</div>`;
}
