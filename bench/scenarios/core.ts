/** packages/core's micro-benchmarks (vitest bench), in their own process. */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Scenario } from '../scenario.ts';
import { root } from '../servers.ts';
import { round } from '../stats.ts';

export const core: Scenario = {
  name: 'core',
  async run(ctx) {
    const { rows, notes, dataDir } = ctx;
    // 6. core micro-benchmarks (vitest bench), in their own process.
    const out = join(dataDir, 'core-bench.json');
    execSync(`npx vitest bench --run --outputJson ${out}`, { cwd: join(root, 'packages/core'), stdio: 'ignore' });
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      files: {
        groups: { fullName: string; benchmarks: { name: string; mean: number; p99: number; hz: number; sampleCount: number }[] }[];
      }[];
    };
    for (const group of report.files.flatMap((f) => f.groups)) {
      for (const b of group.benchmarks) {
        rows.push({
          scenario: `core: ${group.fullName.split(' > ').pop()}: ${b.name}`,
          unit: 'ops/s',
          count: b.sampleCount,
          rate: Math.round(b.hz),
          p50: round(b.mean),
          p95: round(b.p99),
          p99: round(b.p99),
          errors: 0,
          peakRssMiB: 0,
        });
      }
    }
    notes.push('core rows: p50 is the mean and p95/p99 the p99 of vitest bench, in ms per call');
  },
};
