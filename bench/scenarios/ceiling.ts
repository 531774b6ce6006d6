/**
 * The database's own ceiling for the work path, in the same run as the server's figures: raw loops with no HTTP
 * and no ORM doing the claim and the completion on a scratch database migrated by the server's own migrations
 * (bench/raw-loop/). PostgreSQL: a `pg` pool of 10 at 1, 16 and 64 loops, unbatched and in batches of 32;
 * SQLite: better-sqlite3 on one connection (one loop), unbatched and in batches of 32. The claims and batched
 * scenarios read their rates against these (bench/ceilings.ts).
 */
import { join } from 'node:path';
import { migrateDatabase } from '../../apps/server/src/db/migrate.ts';
import { createScratchDatabase } from '../../apps/server/src/db/scratch-database.ts';
import type { Ceiling } from '../ceilings.ts';
import { postgresRawLoop, type RawLoopRun } from '../raw-loop/postgres.ts';
import { sqliteRawLoop } from '../raw-loop/sqlite.ts';
import { row } from '../row.ts';
import type { BenchContext, Scenario } from '../scenario.ts';
import { grouped } from '../stats.ts';
import { profiled } from '../work-path.ts';

const BATCH = 32;
const POSTGRES_LOOPS = [1, 16, 64];

/** What went wrong in a run: subtasks claimed twice or left uncompleted, failed iterations, a counter off. */
function errorsOf(run: RawLoopRun): number {
  const s = run.state;
  return (
    run.claimedTwice +
    run.notCompleted +
    run.failures +
    s.leased +
    Math.abs(s.decided - s.completed) +
    Math.abs(s.completed - run.subtasks) +
    Math.abs(s.attempts - s.completed)
  );
}

function record(ctx: BenchContext, db: Ceiling['db'], batch: number, loops: number, run: RawLoopRun): void {
  const name =
    db === 'postgres'
      ? `ceiling: PostgreSQL raw loop (pg, pool of 10), ${batch === 1 ? 'claim + complete' : `claims and completions of ${batch}`}, ${loops} loop${loops > 1 ? 's' : ''}`
      : `ceiling: SQLite raw loop (better-sqlite3, one connection), ${batch === 1 ? 'claim + complete' : `claims and completions of ${batch}`}`;
  const pairs = run.latencies.length;
  const r = row(name, batch === 1 ? 'pairs/s' : 'subtasks/s', run.latencies, run.seconds, errorsOf(run), []);
  r.count = run.subtasks;
  r.rate = Math.round((batch === 1 ? pairs : run.subtasks) / run.seconds);
  r.peakRssMiB = 0;
  ctx.rows.push(r);
  ctx.ceilings.push({
    db,
    batch,
    loops,
    pairsPerSecond: pairs / run.seconds,
    subtasksPerSecond: run.subtasks / run.seconds,
  });
  if (run.messages.length) ctx.notes.push(`${name}: ${run.failures} iterations failed: ${run.messages.join(' | ')}`);
}

export const ceiling: Scenario = {
  name: 'ceiling',
  async run(ctx) {
    const { seconds, claimSubtasks, batchedSubtasks } = ctx.settings;
    const sizes = (batch: number) => (batch === 1 ? claimSubtasks : batchedSubtasks);
    if (ctx.postgres) {
      const scratch = await createScratchDatabase(ctx.postgres.clusterUrl, 'aitbc_bench_ceiling');
      try {
        await migrateDatabase({ provider: 'postgresql', url: scratch.url });
        for (const batch of [1, BATCH])
          for (const loops of POSTGRES_LOOPS) {
            const label = `ceiling (${batch === 1 ? 'unbatched' : `batches of ${batch}`}, ${loops} loop${loops > 1 ? 's' : ''})`;
            const run = await postgresRawLoop(scratch.url, { batch, loops, seconds, subtasks: sizes(batch) }, (drain) =>
              profiled(ctx, label, scratch.url, drain, (d) => d.subtasks),
            );
            record(ctx, 'postgres', batch, loops, run);
          }
      } finally {
        await scratch.drop();
      }
    } else {
      const file = join(ctx.dataDir, 'ceiling', 'raw-loop.db');
      await migrateDatabase({ provider: 'sqlite', file, url: `file:${file}` });
      for (const batch of [1, BATCH])
        record(ctx, 'sqlite', batch, 1, await sqliteRawLoop(file, { batch, seconds, subtasks: sizes(batch) }));
    }
    const mine = ctx.ceilings.filter((c) => c.db === ctx.settings.db);
    const unbatched = mine.filter((c) => c.batch === 1);
    const batched = mine.filter((c) => c.batch > 1);
    ctx.notes.push(
      `ceiling: the work path with no HTTP and no ORM on the same schema (2 statements and 2 transactions per claim + complete, ` +
        `the open_work triggers firing): ${unbatched.map((c) => `${grouped(c.pairsPerSecond)} pairs/s`).join(' / ')} unbatched, ` +
        `${batched.map((c) => `${grouped(c.subtasksPerSecond)} subtasks/s`).join(' / ')} in batches of ${BATCH}` +
        (ctx.postgres ? ` at ${POSTGRES_LOOPS.join(' / ')} loops` : ' (one connection, one loop)'),
    );
  },
};
