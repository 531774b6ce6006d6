import { defineConfig } from 'vitest/config';

// `pnpm test` runs every package's suite in one vitest process: one summary,
// at most two test files at a time (the machines have 2 cores), and the
// PostgreSQL probe (apps/server/test/support/global-setup.ts) runs once.
export default defineConfig({
  test: {
    projects: ['packages/core', 'packages/client', 'apps/server', 'apps/cli', 'apps/web'],
    maxWorkers: 2,
  },
});
