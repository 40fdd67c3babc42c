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
  },
});
