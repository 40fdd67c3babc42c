import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Imports go one way: tests -> scripts/lib -> src. src is the product and
 * knows neither the commands nor the tests; the commands (scripts/) never
 * reach into tests/; scripts/lib, the module both share, reaches into no
 * command; src/persistence imports none of the layers above it (workers,
 * queues, http); and a test-only helper lives in tests/support, not beside one test.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const AREAS = ['src', 'scripts', 'tests'];

interface Rule {
  from: string;
  to: string;
  why: string;
}

const RULES: Rule[] = [
  { from: 'src/', to: 'scripts/', why: 'the product must not depend on a user command' },
  { from: 'src/', to: 'tests/', why: 'the product must not depend on test code' },
  { from: 'scripts/', to: 'tests/', why: 'move what both use to scripts/lib' },
  { from: 'scripts/lib/', to: 'scripts/', why: 'scripts/lib is shared by commands and tests, so it imports no command' },
  ...['src/workers/', 'src/queues/', 'src/http/'].map((to) => ({
    from: 'src/persistence/',
    to,
    why: 'persistence is the layer the others build on: take what it needs as a parameter, or move it to a module both import',
  })),
];

/** Repo-relative paths of every .ts file under src/, scripts/ and tests/. */
function tsFiles(): string[] {
  return AREAS.flatMap((area) =>
    readdirSync(path.join(ROOT, area), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => path.posix.join(area, f.split(path.sep).join('/'))),
  );
}

/** The repo-relative targets of a file's relative imports (static, `export from`, `import()`), `.js` read as `.ts`. */
export function importsOf(file: string, text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((spec) => spec.startsWith('./') || spec.startsWith('../'))
    .map((spec) => path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
}

/** Every import that breaks a rule, as "file -> target: why". */
export function violations(sources: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of Object.entries(sources)) {
    for (const target of importsOf(file, text)) {
      const rule = RULES.find((r) => file.startsWith(r.from) && target.startsWith(r.to) && !target.startsWith(r.from));
      if (rule) found.push(`${file} -> ${target}: ${rule.why}`);
    }
  }
  return found;
}

/** Helpers (any .ts under tests/ that is not a test) outside tests/support. */
export function strayHelpers(files: string[]): string[] {
  return files.filter((f) => f.startsWith('tests/') && !f.endsWith('.test.ts') && !f.startsWith('tests/support/'));
}

const PERSISTENCE = RULES.find((r) => r.from === 'src/persistence/')!.why;

describe('one-way imports', () => {
  it('catches each kind of wrong-way import, whatever its form', () => {
    const found = violations({
      'src/a.ts': "import { x } from '../scripts/lib/saga-client.js';",
      'src/b.ts': "export * from '../tests/support/isolation.js';",
      'scripts/bench/c.ts': "import type { Isolated } from '../../tests/support/isolation.js';",
      'scripts/lib/d.ts': "const m = await import('../chaos/traffic.js');",
      'scripts/lib/e.ts': "import { f } from './processes.js'; import { m } from '../../src/money.js';",
      'tests/e2e/f.test.ts': "import { g } from '../../scripts/lib/processes.js'; import { h } from '../../scripts/chaos/run-chaos.js';",
      'src/persistence/g.ts': "import { crashPoint } from '../workers/crash-points.js'; import type { View } from '../http/payment.view.js';",
      'src/persistence/migrations/h.ts': "import { q } from '../../queues/payment-events.js'; import { m } from '../../money.js'; import { s } from '../sql.js';",
    });
    expect(found).toEqual([
      'src/a.ts -> scripts/lib/saga-client.ts: the product must not depend on a user command',
      'src/b.ts -> tests/support/isolation.ts: the product must not depend on test code',
      'scripts/bench/c.ts -> tests/support/isolation.ts: move what both use to scripts/lib',
      'scripts/lib/d.ts -> scripts/chaos/traffic.ts: scripts/lib is shared by commands and tests, so it imports no command',
      `src/persistence/g.ts -> src/workers/crash-points.ts: ${PERSISTENCE}`,
      `src/persistence/g.ts -> src/http/payment.view.ts: ${PERSISTENCE}`,
      `src/persistence/migrations/h.ts -> src/queues/payment-events.ts: ${PERSISTENCE}`,
    ]);
  });

  it('holds for every .ts file under src/, scripts/ and tests/', () => {
    const files = tsFiles();
    expect(files.length, 'the scan found the source tree').toBeGreaterThan(100);
    const sources = Object.fromEntries(files.map((f) => [f, readFileSync(path.join(ROOT, f), 'utf8')]));
    expect(violations(sources)).toEqual([]);
  });

  it('keeps test-only helpers in tests/support', () => {
    expect(strayHelpers(['tests/e2e/harness.ts', 'tests/support/e2e-harness.ts', 'tests/unit/x.test.ts'])).toEqual(['tests/e2e/harness.ts']);
    expect(strayHelpers(tsFiles())).toEqual([]);
  });
});
