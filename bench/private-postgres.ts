/**
 * --pg-private: a PostgreSQL cluster of the bench's own (Debian's initdb and pg_ctl as the postgres user, a temp
 * directory, a free port: the fault suite's apps/server/test/support/postgres-cluster.ts), durable as PostgreSQL
 * ships (fsync, synchronous_commit and full_page_writes on), with pg_stat_statements loaded and a probe role for
 * the statement profile. Stopped and removed after the run.
 */
import { type PrivateCluster, privateClusterUnavailable, startPrivateCluster } from '../apps/server/test/support/postgres-cluster.ts';
import { PROBE_ROLE, StatementProfiler } from './statement-profile.ts';

export interface ProfiledCluster {
  cluster: PrivateCluster;
  /** A URL for `database` as the probe role, whose statements the profile leaves out. */
  probeUrl(database: string): string;
  profiler: StatementProfiler;
  /** Stops and removes the cluster; safe to call twice. */
  stop(): Promise<void>;
}

export async function startProfiledCluster(): Promise<ProfiledCluster> {
  const unavailable = privateClusterUnavailable();
  if (unavailable) throw new Error(`--pg-private: ${unavailable}`);
  const cluster = await startPrivateCluster({
    durable: true,
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      // Statements inside functions too (the open_work triggers'), each marked as nested.
      'pg_stat_statements.track': 'all',
      track_wal_io_timing: 'on',
      track_io_timing: 'on',
    },
  });
  try {
    await cluster.query(`CREATE ROLE ${PROBE_ROLE} LOGIN SUPERUSER`);
    await cluster.query('CREATE EXTENSION pg_stat_statements');
    const probeUrl = (database: string) => `postgresql://${PROBE_ROLE}@127.0.0.1:${cluster.port}/${database}`;
    const profiler = new StatementProfiler(probeUrl('postgres'));
    await profiler.open();
    let stopped: Promise<void> | undefined;
    return {
      cluster,
      probeUrl,
      profiler,
      stop: () =>
        (stopped ??= (async () => {
          await profiler.close().catch(() => undefined);
          await cluster.destroy();
        })()),
    };
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}
