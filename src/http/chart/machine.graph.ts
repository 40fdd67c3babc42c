import type { AnyStateMachine } from 'xstate';

/**
 * A state machine read as a plain graph: what the chart, the Mermaid text and
 * the stats all draw from. Built by walking the machine's own state nodes, so
 * a change to the machine changes every drawing of it.
 */
export interface ChartState {
  /** The state's key ("Processing"): what the payments table stores as status. */
  name: string;
  final: boolean;
  initial: boolean;
  /** Entry actions by name: the effects the worker runs on entering. */
  entry: string[];
  /** Transitions without a target: actions only, the payment stays (and no entry action runs again). */
  internal: ChartTransition[];
}

export interface ChartTransition {
  event: string;
  guard: string | null;
  actions: string[];
  reenter: boolean;
}

/** One arrow: every transition from `source` to `target`, whatever the event. */
export interface ChartEdge {
  id: string;
  source: string;
  target: string;
  transitions: ChartTransition[];
}

export interface StateChart {
  machineId: string;
  initial: string;
  states: ChartState[];
  edges: ChartEdge[];
}

interface NamedThing {
  type?: unknown;
}

function nameOf(thing: unknown): string {
  if (typeof thing === 'string') return thing;
  if (typeof thing === 'function') return thing.name || 'inline';
  const type = (thing as NamedThing | null)?.type;
  return typeof type === 'string' ? type : 'inline';
}

/** "payment.Processing" → "Processing": state names are keys below the root. */
function keyOf(stateId: string, machineId: string): string {
  return stateId.startsWith(`${machineId}.`) ? stateId.slice(machineId.length + 1) : stateId;
}

export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

/**
 * Reads the top-level states of `machine` and every transition between them.
 * A transition without a target does not move the payment: it is kept on its
 * state (`internal`) rather than drawn as an arrow.
 */
export function machineGraph(machine: AnyStateMachine): StateChart {
  const root = machine.root;
  const initialTarget = root.initial?.target?.[0];
  const initial = initialTarget ? keyOf(initialTarget.id, root.id) : Object.keys(root.states)[0] ?? '';
  const states: ChartState[] = [];
  const edges = new Map<string, ChartEdge>();

  for (const [name, node] of Object.entries(root.states)) {
    const state: ChartState = { name, final: node.type === 'final', initial: name === initial, entry: node.entry.map(nameOf), internal: [] };
    states.push(state);
    for (const [, transitions] of node.transitions) {
      for (const t of transitions) {
        const transition = { event: t.eventType, guard: t.guard ? nameOf(t.guard) : null, actions: t.actions.map(nameOf), reenter: t.reenter };
        if (!t.target?.length) state.internal.push(transition);
        for (const targetNode of t.target ?? []) {
          const target = keyOf(targetNode.id, root.id);
          const id = edgeId(name, target);
          const edge = edges.get(id) ?? { id, source: name, target, transitions: [] };
          edge.transitions.push(transition);
          edges.set(id, edge);
        }
      }
    }
  }
  return { machineId: root.id, initial, states, edges: [...edges.values()] };
}
