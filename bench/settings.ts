/**
 * The bench's flags and the sizes they imply:
 * `pnpm bench [--db sqlite|postgres] [--quick] [--instances N] [--only name,name] [--cpu-prof] [--pg-private]`.
 * `--quick` is the short version CI runs: small sizes, one second per timed scenario.
 */
export interface BenchSettings {
  quick: boolean;
  db: 'sqlite' | 'postgres';
  instances: number;
  /** The scenarios to run (all when absent). */
  only: string[] | undefined;
  /** Each server writes a V8 CPU profile (open it in Chrome DevTools) to bench/results/profiles/ when it stops. */
  cpuProf: boolean;
  /** PostgreSQL in a private cluster with pg_stat_statements: the per-statement profile of the work path. */
  pgPrivate: boolean;
  /** Connections of autocannon and wrk. */
  connections: number;
  /** Seconds each timed scenario runs. */
  seconds: number;
  /** Members of the swarm.status rows. */
  statusSizes: number[];
  /** Subtasks recorded before the second network.status row. */
  recordedSubtasks: number;
  heartbeatMembers: number;
  heartbeatSeconds: number;
  /** Subtasks the claims scenario queues. */
  claimSubtasks: number;
  /** Subtasks the batched-worker scenario drains. */
  batchedSubtasks: number;
  /** The map execution's items. */
  mapItems: number;
  dispatches: number;
}

export function benchSettings(args: string[]): BenchSettings {
  const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const quick = args.includes('--quick');
  const db = flag('--db') ?? 'sqlite';
  const instances = Number(flag('--instances') ?? 1);
  const pgPrivate = args.includes('--pg-private');
  if (db !== 'sqlite' && db !== 'postgres') throw new Error('--db takes sqlite or postgres');
  if (instances > 1 && db !== 'postgres') throw new Error('--instances needs --db postgres (several servers share one PostgreSQL)');
  if (pgPrivate && db !== 'postgres') throw new Error('--pg-private needs --db postgres');
  return {
    quick,
    db,
    instances,
    only: flag('--only')?.split(','),
    cpuProf: args.includes('--cpu-prof'),
    pgPrivate,
    connections: 64,
    seconds: quick ? 1 : 5,
    statusSizes: quick ? [100, 1000] : [100, 1000, 10_000],
    recordedSubtasks: quick ? 2000 : 100_000,
    heartbeatMembers: quick ? 1000 : 10_000,
    heartbeatSeconds: quick ? 2 : 30,
    claimSubtasks: quick ? 2000 : 20_000,
    batchedSubtasks: quick ? 5000 : 60_000,
    mapItems: quick ? 5000 : 100_000,
    dispatches: quick ? 50 : 400,
  };
}
