import type { ChartLayout } from '../chart/chart.layout.js';
import type { ChartStats } from '../chart/chart.stats.js';
import { chartSvg } from '../chart/chart.svg.js';
import type { StateChart } from '../chart/machine.graph.js';
import { stateNotes, transitionText } from '../chart/chart.layout.js';
import { html, type SafeHtml } from './html.js';
import { LIVE_CHART_SCRIPT, page } from './page.layout.js';

export interface MachinePageInput {
  chart: StateChart;
  layout: ChartLayout;
  stats: ChartStats;
  machineVersion: number;
  basePath: string;
  pollMs: number;
}

function statesTable(i: MachinePageInput): SafeHtml {
  const rows = i.chart.states.map(
    (s) => html`<tr><td><b>${s.name}</b>${s.final ? ' (final)' : s.initial ? ' (initial)' : ''}</td>
      <td class="num" data-count-for="state:${s.name}">${i.stats.states[s.name] ?? 0}</td>
      <td class="mono">${stateNotes(s).map((n, k) => html`${k > 0 ? html`<br>` : null}${n}`)}${stateNotes(s).length ? null : '—'}</td></tr>`,
  );
  return html`<table><thead><tr><th>State</th><th class="num">Payments now</th><th>On entry, and events handled without leaving</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function transitionsTable(i: MachinePageInput): SafeHtml {
  const rows = i.chart.edges.map(
    (e) => html`<tr><td>${e.source} → ${e.target}</td>
      <td class="mono">${e.transitions.map(transitionText).join(' | ')}</td>
      <td class="num" data-count-for="edge:${e.id}">${i.stats.edges[e.id] ?? 'n/a'}</td></tr>`,
  );
  return html`<table><thead><tr><th>Arrow</th><th>Events [guard]</th><th class="num">Last hour</th></tr></thead>
    <tbody><tr><td>(start) → ${i.chart.initial}</td><td class="mono">payment created</td><td class="num" data-count-for="edge:start">${i.stats.started}</td></tr>${rows}</tbody></table>`;
}

function unmatchedNote(stats: ChartStats): SafeHtml | null {
  if (stats.unmatched.length === 0) return null;
  const moves = stats.unmatched.map((m) => `${m.from ?? '(new)'} → ${m.to}: ${m.n}`).join('; ');
  return html`<p class="warn">Moves recorded in the last hour that this machine has no arrow for (another machine version?): ${moves}</p>`;
}

export function machinePage(i: MachinePageInput): string {
  const body = html`
<div class="row">
  <div>
    <h1>Payment state chart</h1>
    <p class="lede">Drawn from the machine definition <code>${i.chart.machineId}</code> (version ${i.machineVersion}) this service runs.
    Boxes: payments now in each state. Arrows: transitions taken in the last hour.</p>
  </div>
  <span class="spacer"></span>
  <span class="live" data-live-status>live · updated ${new Date(i.stats.at).toISOString().slice(11, 19)} UTC</span>
  <span class="links"><a href="${i.basePath}.mmd">Mermaid</a><a href="${i.basePath}.json">Stately / XState JSON</a><a href="${i.basePath}/stats">Stats JSON</a></span>
</div>
<section class="card chart-panel" data-stats-url="${i.basePath}/stats" data-poll-ms="${i.pollMs}" data-updated-at="${i.stats.at}">
  ${chartSvg(i.layout, { stats: i.stats })}
</section>
${unmatchedNote(i.stats)}
<h2>States</h2>
${statesTable(i)}
<h2>Transitions</h2>
${transitionsTable(i)}
<p class="lede" style="margin-top:16px">To see why one order failed, paste its order id in the box above: its page shows the failure code and reason, its path on this chart and every step it took.</p>`;
  return page({ title: 'Payment state chart', section: 'chart', body, script: LIVE_CHART_SCRIPT });
}
