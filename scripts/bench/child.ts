import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, closeSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A process of this repo whose output goes straight to a log file, not
 * through the benchmark: at LOG_LEVEL=info a worker writes a few lines per
 * payment, and reading them here would spend the benchmark's CPU (on the same
 * two cores) and memory on every one.
 */
export interface Child {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Polls the log file for a line matching `pattern`; rejects if the process exits first or the deadline passes. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  tail(lines?: number): string;
}

export interface ChildOptions {
  name: string;
  entry: string;
  env: Record<string, string>;
  logFile: string;
  /** Node options before the entry (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export function startChild(o: ChildOptions): Child {
  const fd = openSync(o.logFile, 'a');
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), '--import', 'tsx', path.join(root, o.entry)], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...o.env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let gone: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = once(child, 'exit').then(([code, signal]) => (gone = { code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const read = () => {
    try {
      return readFileSync(o.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const tail = (n = 15) => read().trimEnd().split('\n').slice(-n).join('\n');

  return {
    name: o.name,
    pid: child.pid ?? -1,
    child,
    logFile: o.logFile,
    exited,
    tail,
    async waitForLine(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = read().split('\n').find((l) => pattern.test(l));
        if (line) return line;
        if (gone) throw new Error(`${o.name} exited (${gone.code ?? gone.signal}) before a line matching ${pattern}; last lines:\n${tail()}`);
        if (Date.now() > deadline) throw new Error(`${o.name}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${tail()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(signal = 'SIGTERM', timeoutMs = 40_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
