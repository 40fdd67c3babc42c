import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file isolates itself (database, vhost, Redis prefix), so files run in parallel.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    // Off for `npm test` (it slows every file); `npm run coverage` turns it on.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text', 'html'],
      reportsDirectory: 'coverage',
      // Floors at what tests/machines, tests/unit/workers and tests/integration/workers
      // alone reach (rounded down; the whole suite only adds to them): a change that
      // leaves the saga's core less tested fails `npm run coverage`.
      thresholds: {
        'src/machines/**': { statements: 96, branches: 89, functions: 86, lines: 99 },
        'src/workers/**': { statements: 89, branches: 82, functions: 88, lines: 92 },
      },
    },
  },
});
