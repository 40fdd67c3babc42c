import type { AnyStateMachine, AnyStateNode } from 'xstate';
import type { StateChart } from './machine.graph.js';

/**
 * The chart in the two forms other tools read: Mermaid text (renders in
 * GitHub, GitLab, Notion, mermaid.live) and a `createMachine` config as JSON,
 * which Stately's editor imports and XState itself accepts.
 */

function label(t: { event: string; guard: string | null }): string {
  return t.guard ? `${t.event} [${t.guard}]` : t.event;
}

export function toMermaid(chart: StateChart): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${chart.initial}`];
  for (const edge of chart.edges) {
    for (const t of edge.transitions) lines.push(`  ${edge.source} --> ${edge.target} : ${label(t)}`);
  }
  for (const s of chart.states) {
    if (s.entry.length > 0) lines.push(`  ${s.name} : entry / ${s.entry.join(', ')}`);
    for (const t of s.internal) lines.push(`  ${s.name} : ${label(t)}${t.actions.length ? ` / ${t.actions.join(', ')}` : ''}`);
    if (s.final) lines.push(`  ${s.name} --> [*]`);
  }
  return `${lines.join('\n')}\n`;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** An action or guard as config names it: a string, or `{ type, params }` when it has params. */
function reference(thing: unknown): Json {
  if (typeof thing === 'string') return thing;
  if (typeof thing === 'function') return thing.name || 'inline';
  const { type, params } = (thing ?? {}) as { type?: unknown; params?: unknown };
  const name = typeof type === 'string' ? type : 'inline';
  return params !== undefined && typeof params !== 'function' ? { type: name, params: params as Json } : name;
}

/** Sibling targets by key (as people write them), anything else by `#id`. */
function targetOf(from: AnyStateNode, target: AnyStateNode): string {
  return target.parent === from.parent ? target.key : `#${target.id}`;
}

function transitionsOf(node: AnyStateNode): Record<string, Json> {
  const on: Record<string, Json> = {};
  for (const [event, transitions] of node.transitions) {
    const configs = transitions.map((t) => {
      const c: Record<string, Json> = {};
      if (t.target?.length) c.target = t.target.map((x) => targetOf(node, x)).join(',');
      if (t.guard) c.guard = reference(t.guard);
      if (t.actions.length) c.actions = t.actions.map(reference);
      if (t.reenter) c.reenter = true;
      return c;
    });
    on[event] = configs.length === 1 ? configs[0]! : configs;
  }
  return on;
}

function stateConfig(node: AnyStateNode): Record<string, Json> {
  const c: Record<string, Json> = {};
  if (node.type === 'final' || node.type === 'parallel' || node.type === 'history') c.type = node.type;
  const initial = node.initial?.target?.[0];
  if (node.type === 'compound' && initial) c.initial = initial.key;
  if (node.description) c.description = node.description;
  if (node.entry.length) c.entry = node.entry.map(reference);
  if (node.exit.length) c.exit = node.exit.map(reference);
  const on = transitionsOf(node);
  if (Object.keys(on).length) c.on = on;
  const children = Object.entries(node.states);
  if (children.length) c.states = Object.fromEntries(children.map(([k, child]) => [k, stateConfig(child)]));
  return c;
}

/** The machine as a `createMachine` config: structure, event, guard and action names; no code. */
export function toMachineConfig(machine: AnyStateMachine): Record<string, Json> {
  return { id: machine.root.id, ...stateConfig(machine.root) };
}
