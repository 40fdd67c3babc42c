import dagre from '@dagrejs/dagre';
import type { ChartEdge, ChartState, ChartTransition, StateChart } from './machine.graph.js';

/**
 * Places the chart's states and arrows with dagre's layered layout, on the
 * server: the page then needs no layout script at all, only the SVG.
 * Text is measured by character count (monospace widths are predictable),
 * which is all a layout of a dozen boxes needs.
 */

export const START_NODE = '__start__';

export interface Point {
  x: number;
  y: number;
}

export interface PlacedState extends ChartState {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedEdge extends ChartEdge {
  points: Point[];
  label: { x: number; y: number; width: number; height: number; lines: string[] };
}

export interface ChartLayout {
  /** The drawing's extent: everything drawn lies inside, so the SVG's viewBox is exactly this. */
  box: { x: number; y: number; width: number; height: number };
  start: Point & { edge: Point[] };
  states: PlacedState[];
  edges: PlacedEdge[];
}

export const CHAR_WIDTH = { title: 9.6, mono: 7.0 } as const;
export const LINE_HEIGHT = 16;
const START_RADIUS = 8;
const SELF_LOOP_DEPTH = 44;

export function transitionText(t: ChartTransition): string {
  return t.guard ? `${t.event} [${t.guard}]` : t.event;
}

/** The edge label's lines: one per transition, then a line for the count. */
export function edgeLines(edge: ChartEdge): string[] {
  return [...edge.transitions.map(transitionText), '0 in last hour'];
}

/** The small print under a state's count: its entry effects, then what it does without leaving. */
export function stateNotes(state: ChartState): string[] {
  const notes = state.entry.length > 0 ? [`entry / ${state.entry.join(', ')}`] : [];
  for (const t of state.internal) notes.push(`${transitionText(t)}${t.actions.length ? ` / ${t.actions.join(', ')}` : ''}`);
  return notes;
}

export const NOTE_LINE = 15;

function stateSize(state: ChartState): { width: number; height: number } {
  const notes = stateNotes(state);
  const widest = Math.max(state.name.length * CHAR_WIDTH.title + 70, ...notes.map((n) => n.length * CHAR_WIDTH.mono));
  return { width: Math.max(170, Math.ceil(widest) + 28), height: 74 + (notes.length > 0 ? 4 + notes.length * NOTE_LINE : 0) };
}

function labelSize(lines: string[]): { width: number; height: number } {
  const widest = Math.max(...lines.map((l) => l.length));
  return { width: Math.ceil(widest * CHAR_WIDTH.mono) + 16, height: lines.length * LINE_HEIGHT + 8 };
}

/**
 * dagre routes a self-edge around the node's side in its own way; a small
 * loop under the state, label beneath it, reads better and stays inside the
 * room dagre reserved for the label.
 */
function selfLoop(node: PlacedState, label: PlacedEdge['label']): Pick<PlacedEdge, 'points' | 'label'> {
  const bottom = node.y + node.height / 2;
  const spread = Math.min(56, node.width / 4);
  const points = [
    { x: node.x + spread, y: bottom },
    { x: node.x + spread + 14, y: bottom + 30 },
    { x: node.x, y: bottom + SELF_LOOP_DEPTH - 6 },
    { x: node.x - spread - 14, y: bottom + 30 },
    { x: node.x - spread, y: bottom + 2 },
  ];
  return { points, label: { ...label, x: node.x, y: bottom + SELF_LOOP_DEPTH + label.height / 2 + 4 } };
}

export function layoutChart(chart: StateChart): ChartLayout {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 46, ranksep: 90, edgesep: 24, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  g.setNode(START_NODE, { width: START_RADIUS * 2, height: START_RADIUS * 2 });
  for (const s of chart.states) g.setNode(s.name, { ...stateSize(s) });
  g.setEdge(START_NODE, chart.initial, { minlen: 1, width: 0, height: 0 });
  for (const e of chart.edges) {
    const size = labelSize(edgeLines(e));
    // A self-transition is drawn as a loop under its state: reserve room for the loop too.
    const height = e.source === e.target ? size.height + SELF_LOOP_DEPTH : size.height;
    g.setEdge(e.source, e.target, { width: size.width, height, labelpos: 'c' });
  }
  dagre.layout(g);

  const states = chart.states.map((s) => {
    const n = g.node(s.name);
    return { ...s, x: n.x ?? 0, y: n.y ?? 0, width: n.width, height: n.height };
  });
  const byName = new Map(states.map((s) => [s.name, s]));
  const edges = chart.edges.map((e): PlacedEdge => {
    const placed = g.edge(e.source, e.target);
    const lines = edgeLines(e);
    const label = { x: placed.x ?? 0, y: placed.y ?? 0, ...labelSize(lines), lines };
    const node = byName.get(e.source);
    if (e.source === e.target && node) return { ...e, ...selfLoop(node, label) };
    return { ...e, points: placed.points ?? [], label };
  });
  const startNode = g.node(START_NODE);
  const start = { x: startNode.x ?? 0, y: startNode.y ?? 0, edge: g.edge(START_NODE, chart.initial).points ?? [] };
  return { box: extent(states, edges, start), start, states, edges };
}

/** dagre's graph size includes room it reserved and we did not use (a self-loop's); measure what is drawn. */
function extent(states: PlacedState[], edges: PlacedEdge[], start: Point): ChartLayout['box'] {
  const rects = [
    ...states,
    ...edges.map((e) => e.label),
    ...edges.flatMap((e) => e.points.map((p) => ({ ...p, width: 0, height: 0 }))),
    { ...start, width: START_RADIUS * 2, height: START_RADIUS * 2 + 28 },
  ];
  const left = Math.min(...rects.map((r) => r.x - r.width / 2));
  const top = Math.min(...rects.map((r) => r.y - r.height / 2));
  const right = Math.max(...rects.map((r) => r.x + r.width / 2));
  const bottom = Math.max(...rects.map((r) => r.y + r.height / 2));
  const margin = 12;
  return {
    x: Math.floor(left - margin),
    y: Math.floor(top - margin),
    width: Math.ceil(right - left + margin * 2),
    height: Math.ceil(bottom - top + margin * 2),
  };
}
