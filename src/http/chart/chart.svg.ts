import { html, type SafeHtml } from '../pages/html.js';
import { LINE_HEIGHT, NOTE_LINE, stateNotes, transitionText, type ChartLayout, type PlacedEdge, type PlacedState, type Point } from './chart.layout.js';
import type { ChartStats, PaymentPath } from './chart.stats.js';
import { stateTone } from './state.tone.js';

/**
 * The laid-out chart as inline SVG. Every state and arrow carries data
 * attributes (`data-state`, `data-count`, `data-edge`, `data-visited`) so the
 * live script, and any test or scraper, can find them without parsing text.
 */
export interface ChartOverlay {
  /** Counts per state and per arrow: the fleet view. */
  stats?: ChartStats;
  /** One payment's path: that payment's view. */
  path?: PaymentPath;
}

const r = (n: number) => Math.round(n * 10) / 10;

/** A smooth curve through dagre's points: quadratic segments between midpoints. */
export function curve(points: Point[]): string {
  if (points.length === 0) return '';
  const [first, ...rest] = points;
  if (rest.length <= 1) return `M${r(first!.x)},${r(first!.y)}${rest.map((p) => ` L${r(p.x)},${r(p.y)}`).join('')}`;
  let d = `M${r(first!.x)},${r(first!.y)}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const p = rest[i]!;
    const next = rest[i + 1]!;
    d += ` Q${r(p.x)},${r(p.y)} ${r((p.x + next.x) / 2)},${r((p.y + next.y) / 2)}`;
  }
  const last = rest[rest.length - 1]!;
  return `${d} L${r(last.x)},${r(last.y)}`;
}

export function countLabel(n: number | null): string {
  return n === null ? 'not counted' : `${n} in last hour`;
}

/** The line under a state's name: its count (fleet view) or what this payment did there (payment view). */
function stateFigure(s: PlacedState, o: ChartOverlay, left: number, top: number): SafeHtml | null {
  const count = o.stats?.states[s.name];
  if (count !== undefined) {
    return html`<text x="${r(left + 16)}" y="${r(top + 58)}"><tspan class="state-count">${count}</tspan><tspan class="state-unit" dx="6">${count === 1 ? 'payment' : 'payments'}</tspan></text>`;
  }
  if (!o.path) return null;
  const said = o.path.current === s.name ? 'current state' : o.path.states.has(s.name) ? 'passed through' : 'not reached';
  return html`<text class="state-unit" x="${r(left + 16)}" y="${r(top + 56)}">${said}</text>`;
}

function stateMarkup(s: PlacedState, o: ChartOverlay): SafeHtml {
  const left = s.x - s.width / 2;
  const top = s.y - s.height / 2;
  const count = o.stats?.states[s.name];
  const visited = o.path?.states.has(s.name) ?? false;
  const current = o.path?.current === s.name;
  const kind = s.final ? 'final' : s.initial ? 'initial' : '';
  const inset = s.final
    ? html`<rect class="state-inset" x="${r(left + 4)}" y="${r(top + 4)}" width="${r(s.width - 8)}" height="${r(s.height - 8)}" rx="8"/>`
    : null;
  const notes = stateNotes(s);
  const notesTop = top + s.height - 12 - (notes.length - 1) * NOTE_LINE;
  return html`<g class="state tone-${stateTone(s.name, s.final)}${s.final ? ' state--final' : ''}${visited ? ' is-visited' : ''}${current ? ' is-current' : ''}"
    data-state="${s.name}"${count !== undefined ? html` data-count="${count}"` : null}${o.path ? html` data-visited="${String(visited)}" data-current="${String(current)}"` : null}>
    <title>${[s.name, ...notes].join('\n')}</title>
    <rect class="state-box" x="${r(left)}" y="${r(top)}" width="${r(s.width)}" height="${r(s.height)}" rx="12"/>${inset}
    <text class="state-name" x="${r(left + 16)}" y="${r(top + 26)}">${s.name}</text>
    ${kind ? html`<text class="state-kind" x="${r(left + s.width - 14)}" y="${r(top + 24)}" text-anchor="end">${kind}</text>` : null}
    ${stateFigure(s, o, left, top)}
    ${notes.map((n, i) => html`<text class="state-entry" x="${r(left + 16)}" y="${r(notesTop + i * NOTE_LINE)}">${n}</text>`)}
  </g>`;
}

function edgeMarkup(e: PlacedEdge, o: ChartOverlay): SafeHtml {
  const count = o.stats?.edges[e.id];
  const visited = o.path?.edges.has(e.id) ?? false;
  const { x, y, width, height } = e.label;
  const top = y - height / 2;
  const lines = e.transitions.map((t, i) => {
    const taken = o.path?.transitions.has(`${e.id} ${t.event}`) ?? false;
    return html`<text class="edge-event${taken ? ' is-taken' : ''}" x="${r(x)}" y="${r(top + 16 + i * LINE_HEIGHT)}" text-anchor="middle">${transitionText(t)}</text>`;
  });
  const countLine =
    count !== undefined
      ? html`<text class="edge-count" x="${r(x)}" y="${r(top + 16 + e.transitions.length * LINE_HEIGHT)}" text-anchor="middle">${countLabel(count)}</text>`
      : null;
  const boxHeight = count !== undefined ? height : height - LINE_HEIGHT;
  return html`<g class="edge${visited ? ' is-visited' : ''}" data-edge="${e.id}" data-source="${e.source}" data-target="${e.target}"${count !== undefined ? html` data-count="${count ?? ''}"` : null}${o.path ? html` data-visited="${String(visited)}"` : null}>
    <path class="edge-line" d="${curve(e.points)}" marker-end="url(#${visited ? 'arrow-visited' : 'arrow'})"/>
    <rect class="edge-label" x="${r(x - width / 2)}" y="${r(top)}" width="${r(width)}" height="${r(boxHeight)}" rx="6"/>
    ${lines}${countLine}
  </g>`;
}

function startMarkup(layout: ChartLayout, o: ChartOverlay): SafeHtml {
  const visited = o.path?.started ?? false;
  const started = o.stats?.started;
  return html`<g class="edge start${visited ? ' is-visited' : ''}" data-edge="start"${started !== undefined ? html` data-count="${started}"` : null}${o.path ? html` data-visited="${String(visited)}"` : null}>
    <title>Where every payment starts${started !== undefined ? `: ${started} created in the last hour` : ''}</title>
    <circle class="start-dot" cx="${r(layout.start.x)}" cy="${r(layout.start.y)}" r="8"/>
    <path class="edge-line" d="${curve(layout.start.edge)}" marker-end="url(#${visited ? 'arrow-visited' : 'arrow'})"/>
    ${started !== undefined ? html`<text class="edge-count start-count" x="${r(layout.start.x)}" y="${r(layout.start.y + 28)}" text-anchor="start">${started} new</text>` : null}
  </g>`;
}

const DEFS = html`<defs>
    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker>
    <marker id="arrow-visited" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="14" markerHeight="14" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head is-visited"/></marker>
  </defs>`;

export function chartSvg(layout: ChartLayout, overlay: ChartOverlay = {}): SafeHtml {
  const { x, y, width, height } = layout.box;
  return html`<svg class="chart${overlay.path ? ' path' : ''}" xmlns="http://www.w3.org/2000/svg" viewBox="${x} ${y} ${width} ${height}"
    width="${width}" height="${height}" role="img" aria-label="Payment state chart">
  ${DEFS}
  ${startMarkup(layout, overlay)}
  ${layout.edges.map((e) => edgeMarkup(e, overlay))}
  ${layout.states.map((s) => stateMarkup(s, overlay))}
</svg>`;
}
