import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile (node --cpu-prof) the summary reads. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** False when no sample fell in the window asked for, and the whole profile was summarised instead. */
  windowed: boolean;
  /** Sampled time in ms, idle excluded. */
  busyMs: number;
  idleMs: number;
  /** Self time per package / source file / runtime part, ms. */
  self: Array<[string, number]>;
  /** Time with the part anywhere on the synchronous stack, ms (async continuations start a new stack). */
  inclusive: Array<[string, number]>;
  topFunctions: Array<[string, number]>;
}

/** Which part of the program a frame belongs to: an npm package, a file of ours, or the runtime. */
export function categoryOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts[0] === 'internal' ? (parts[1] ?? 'internal').replace(/\.js$/, '') : parts[0]}`;
  }
  const ours = /\/(src|scripts|tests)\/(.+)$/.exec(url.replace(/^file:\/\//, ''));
  return ours ? `${ours[1]}/${ours[2]}` : 'other';
}

/**
 * `window`: microseconds on the monotonic clock (process.hrtime), the clock
 * V8 stamps samples with, so only the measured phase counts, not start-up
 * (module loading, TypeScript transforms) or shutdown.
 */
export function summarizeProfile(file: string, top = 25, window?: { from: number; to: number }): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  let t = p.startTime;
  const times = p.timeDeltas.map((d) => (t += d));
  const inWindow = window ? times.some((x) => x >= window.from && x <= window.to) : false;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const fns = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

  p.samples.forEach((id, i) => {
    if (inWindow && (times[i]! < window!.from || times[i]! > window!.to)) return;
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id)!;
    const cat = categoryOf(node.callFrame.url, node.callFrame.functionName);
    if (cat === '(idle)') {
      idle += ms;
      return;
    }
    busy += ms;
    add(self, cat, ms);
    const where = node.callFrame.url ? `${categoryOf(node.callFrame.url, '')}:${node.callFrame.lineNumber + 1}` : '';
    add(fns, `${node.callFrame.functionName || '(anonymous)'} ${where}`.trim(), ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      seen.add(categoryOf(f.url, f.functionName));
    }
    for (const c of seen) add(inclusive, c, ms);
  });
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { windowed: inWindow, busyMs: busy, idleMs: idle, self: sorted(self), inclusive: sorted(inclusive).filter(([k]) => k !== '(root)'), topFunctions: sorted(fns) };
}
