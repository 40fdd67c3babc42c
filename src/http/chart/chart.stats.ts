import { edgeId, type StateChart } from './machine.graph.js';

/**
 * Puts numbers from the payments tables onto the chart: payments per state,
 * and transitions taken per arrow. Also one payment's path through it.
 */

export interface TransitionCount {
  from: string | null;
  to: string;
  /** When the source counts by event too, a self-transition (a retry) can be told from a note. */
  event?: string;
  n: number;
}

export interface ChartStats {
  at: string;
  windowSeconds: number;
  /** Payments now in each state, every state of the chart present (0 when none). */
  states: Record<string, number>;
  /**
   * Transitions taken in the window, by edge id ("Processing->Failed").
   * null for a self-transition when the counts carry no event: a retry
   * cannot then be told from a note, so it is not guessed.
   */
  edges: Record<string, number | null>;
  /** Payments created in the window: the arrow into the initial state. */
  started: number;
  /** Counted moves the chart has no arrow for (a row written by another machine version): shown, not hidden. */
  unmatched: TransitionCount[];
}

/**
 * A history row with no `from` is a payment's creation. One born terminal
 * (rejected on arrival) is stored as null → Failed: it counts as created and
 * as having taken the initial state's arrow to Failed, as the machine says.
 */
export function chartStats(
  chart: StateChart,
  counts: Record<string, number>,
  moves: TransitionCount[],
  window: { at: Date; seconds: number },
): ChartStats {
  const perEvent = moves.some((m) => m.event !== undefined);
  const byId = new Map(chart.edges.map((e) => [e.id, e]));
  const states = Object.fromEntries(chart.states.map((s) => [s.name, counts[s.name] ?? 0]));
  const edges: Record<string, number | null> = Object.fromEntries(
    chart.edges.map((e) => [e.id, e.source === e.target && !perEvent ? null : 0]),
  );
  let started = 0;
  const unmatched: TransitionCount[] = [];
  for (const m of moves) {
    if (m.from === null) started += m.n;
    if (m.from === null && m.to === chart.initial) continue;
    const edge = byId.get(edgeId(m.from ?? chart.initial, m.to));
    if (m.from === m.to) {
      // Staying put is a note (a gateway call, a look-up) unless the machine has a self-transition for the event.
      if (edge && m.event !== undefined && edge.transitions.some((t) => t.event === m.event)) edges[edge.id]! += m.n;
      continue;
    }
    if (edge) edges[edge.id] = (edges[edge.id] ?? 0) + m.n;
    else unmatched.push(m);
  }
  return { at: window.at.toISOString(), windowSeconds: window.seconds, states, edges, started, unmatched };
}

export interface HistoryStep {
  fromStatus: string | null;
  toStatus: string;
  event: string;
}

export interface PaymentPath {
  states: Set<string>;
  edges: Set<string>;
  /** `${edgeId} ${event}`: which of an arrow's transitions this payment took. */
  transitions: Set<string>;
  started: boolean;
  current: string | null;
}

/**
 * The states and arrows one payment passed through, from its history rows.
 * A row that stays in its state is a note (a gateway call) unless the chart
 * has a self-transition for that event (a retry re-entering Processing).
 */
export function paymentPath(chart: StateChart, history: HistoryStep[]): PaymentPath {
  const path: PaymentPath = { states: new Set(), edges: new Set(), transitions: new Set(), started: false, current: null };
  const byId = new Map(chart.edges.map((e) => [e.id, e]));
  for (const step of history) {
    path.states.add(step.toStatus);
    path.current = step.toStatus;
    if (step.fromStatus === null) {
      path.started = true;
      path.states.add(chart.initial);
      if (step.toStatus === chart.initial) continue;
    } else {
      path.states.add(step.fromStatus);
    }
    const id = edgeId(step.fromStatus ?? chart.initial, step.toStatus);
    const edge = byId.get(id);
    if (!edge) continue;
    const taken = edge.transitions.find((t) => t.event === step.event);
    if (step.fromStatus === step.toStatus && !taken) continue;
    path.edges.add(id);
    if (taken) path.transitions.add(`${id} ${taken.event}`);
  }
  return path;
}
