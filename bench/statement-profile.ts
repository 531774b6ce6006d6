/**
 * Where PostgreSQL's time goes during a piece of work (--pg-private): the statements of the servers' database
 * from pg_stat_statements (reset before), the WAL written (pg_current_wal_lsn, and pg_stat_wal for writes and
 * syncs), write transactions (transaction ids assigned), what the backends wait on (pg_stat_activity every
 * 20 ms), and the CPU of every PostgreSQL process (the postmaster's tree, from /proc). Everything is divided by
 * the subtasks the work completed.
 *
 * The probe connects as its own role, whose statements are left out, so only the servers' (and the raw loops')
 * statements are counted. pg_stat_statements and the WAL position are exact at once; pg_stat_wal is flushed by
 * each backend when it goes idle, at most every second and up to 10 s later, so it is read after waiting that
 * out (and may carry up to a second of the step before).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parentOf, treeCpuSeconds } from './processes.ts';
import { grouped, round } from './stats.ts';

/** The role the probe connects as (a superuser of the private cluster): its own statements are not counted. */
export const PROBE_ROLE = 'aitbc_bench_probe';
const TOP = 12;
/** PostgreSQL flushes a backend's pending statistics when it idles, at most this long after (PGSTAT_IDLE_INTERVAL). */
const STATS_FLUSH_MS = 10_500;

export interface StatementRow {
  /** Normalised text ($n for constants). */
  query: string;
  /** False for a statement run inside another (a trigger's function); its time is inside its caller's too. */
  toplevel: boolean;
  calls: number;
  calls_per_subtask: number;
  total_ms: number;
  mean_ms: number;
  rows_per_call: number;
  /** Share of the top-level statements' total time (nested ones: of the same total). */
  share: number;
  wal_bytes_per_call: number;
  shared_blocks_dirtied_per_call: number;
}

export interface StatementProfile {
  scenario: string;
  subtasks: number;
  seconds: number;
  /** Top-level statements of the database, BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE not counted. */
  statements_per_subtask: number;
  /** COMMITs sent (explicit transactions; a statement outside one commits on its own). */
  commits_per_subtask: number;
  /** Transaction ids assigned (every transaction that wrote), cluster-wide. */
  write_transactions_per_subtask: number;
  wal_bytes_per_subtask: number;
  /** From the statements' own counts (pg_stat_statements): WAL records and full-page images. */
  wal_records_per_subtask: number;
  wal_fpi_per_subtask: number;
  /** pg_stat_wal: WAL syncs (fsync/fdatasync) and their time. */
  wal_syncs_per_subtask: number | null;
  wal_sync_ms_per_sync: number | null;
  /** CPU seconds of every PostgreSQL process (backends, WAL writer, checkpointer, autovacuum) per 1,000 subtasks. */
  postgres_cpu_seconds_per_1000_subtasks: number;
  postgres_cpu_share_of_a_core: number;
  /** Backends of the database not idle, on average per sample. */
  busy_backends: number;
  /** Per sample and backend not idle: what it was doing (CPU = active with no wait event). */
  wait_events: { event: string; share: number }[];
  statements: StatementRow[];
}

const isTransactionControl = (q: string) => /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START TRANSACTION)\b/i.test(q);

interface Snapshot {
  lsn: string;
  nextXid: number;
  wal: { syncs: number; syncMs: number };
  cpu: number;
  at: number;
}

export class StatementProfiler {
  private readonly client: pg.Client;
  private postmaster = 0;

  /** `url`: the cluster's postgres database as the probe role (it must have pg_stat_statements installed). */
  constructor(url: string) {
    this.client = new pg.Client({ connectionString: url, application_name: 'aitbc-bench-probe' });
    // A connection lost while idle fails the next query, where the profile reports it; not as an unhandled event.
    this.client.on('error', () => undefined);
  }

  async open(): Promise<void> {
    await this.client.connect();
    const { rows } = await this.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    this.postmaster = parentOf(rows[0]!.pid);
  }

  async close(): Promise<void> {
    await this.client.end();
  }

  private async snapshot(): Promise<Snapshot> {
    const { rows } = await this.client.query<{ lsn: string; next_xid: string; syncs: string; sync_ms: number }>(
      `SELECT pg_current_wal_lsn()::text AS lsn, pg_snapshot_xmax(pg_current_snapshot())::text AS next_xid,
              w.wal_sync::text AS syncs, w.wal_sync_time AS sync_ms
       FROM pg_stat_wal w`,
    );
    const r = rows[0]!;
    return {
      lsn: r.lsn,
      nextXid: Number(r.next_xid),
      wal: { syncs: Number(r.syncs), syncMs: Number(r.sync_ms) },
      cpu: treeCpuSeconds(this.postmaster),
      at: performance.now(),
    };
  }

  /**
   * Runs `work` with the profile around it; `subtasks` reads how many subtasks it completed (after it). `database`
   * is the database whose statements and backends are counted.
   */
  async around<T>(
    scenario: string,
    database: string,
    work: () => Promise<T>,
    subtasks: (value: T) => number,
  ): Promise<{ value: T; profile: StatementProfile }> {
    const c = this.client;
    await c.query('SELECT pg_stat_statements_reset()');
    const before = await this.snapshot();
    const waits = new Map<string, number>();
    let samples = 0;
    let busy = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await c.query<{ state: string; wait: string | null }>(
          `SELECT state, wait_event_type || ':' || wait_event AS wait FROM pg_stat_activity
           WHERE datname = $1 AND backend_type = 'client backend' AND usename <> $2 AND state <> 'idle'`,
          [database, PROBE_ROLE],
        );
        samples++;
        busy += rows.length;
        for (const r of rows) {
          const event =
            r.state === 'idle in transaction'
              ? 'idle in transaction (waiting for the server)'
              : r.state === 'active'
                ? (r.wait ?? 'CPU (active, no wait event)')
                : `${r.state}${r.wait ? ` ${r.wait}` : ''}`;
          waits.set(event, (waits.get(event) ?? 0) + 1);
        }
        await sleep(20);
      }
    })();
    let value: T;
    let after: Snapshot;
    try {
      value = await work();
      after = await this.snapshot();
    } finally {
      sampling = false;
      await sampler;
    }
    const n = Math.max(1, subtasks(value));
    const { rows: statements } = await c.query<{
      query: string;
      toplevel: boolean;
      calls: string;
      total_ms: number;
      rows: string;
      wal_records: string;
      wal_fpi: string;
      wal_bytes: string;
      dirtied: string;
    }>(
      `SELECT s.query, s.toplevel, s.calls::text AS calls, s.total_exec_time AS total_ms, s.rows::text AS rows,
              s.wal_records::text AS wal_records, s.wal_fpi::text AS wal_fpi, s.wal_bytes::text AS wal_bytes,
              s.shared_blks_dirtied::text AS dirtied
       FROM pg_stat_statements s
       WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND s.userid <> (SELECT oid FROM pg_roles WHERE rolname = $2)`,
      [database, PROBE_ROLE],
    );
    const { rows: walBytes } = await c.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS bytes', [after.lsn, before.lsn]);
    // pg_stat_wal lags by up to PGSTAT_IDLE_INTERVAL: wait for the backends to flush it.
    await sleep(STATS_FLUSH_MS);
    const settled = await this.snapshot();
    const seconds = (after.at - before.at) / 1000;
    const top = statements.filter((s) => s.toplevel);
    const topTime = top.reduce((sum, s) => sum + s.total_ms, 0) || 1;
    const syncs = settled.wal.syncs - before.wal.syncs;
    const profile: StatementProfile = {
      scenario,
      subtasks: n,
      seconds: round(seconds),
      statements_per_subtask: round(top.filter((s) => !isTransactionControl(s.query)).reduce((sum, s) => sum + Number(s.calls), 0) / n),
      commits_per_subtask: round(top.filter((s) => /^\s*COMMIT\b/i.test(s.query)).reduce((sum, s) => sum + Number(s.calls), 0) / n),
      write_transactions_per_subtask: round((after.nextXid - before.nextXid) / n),
      wal_bytes_per_subtask: Math.round(Number(walBytes[0]!.bytes) / n),
      wal_records_per_subtask: round(top.reduce((sum, s) => sum + Number(s.wal_records), 0) / n),
      wal_fpi_per_subtask: round(top.reduce((sum, s) => sum + Number(s.wal_fpi), 0) / n),
      wal_syncs_per_subtask: syncs >= 0 ? round(syncs / n) : null,
      wal_sync_ms_per_sync: syncs > 0 ? round((settled.wal.syncMs - before.wal.syncMs) / syncs) : null,
      postgres_cpu_seconds_per_1000_subtasks: round(((after.cpu - before.cpu) / n) * 1000),
      postgres_cpu_share_of_a_core: round((after.cpu - before.cpu) / seconds),
      busy_backends: round(busy / Math.max(1, samples)),
      wait_events: [...waits].sort((a, b) => b[1] - a[1]).map(([event, count]) => ({ event, share: round(count / Math.max(1, busy)) })),
      statements: statements
        .sort((a, b) => b.total_ms - a.total_ms)
        .slice(0, TOP)
        .map((s) => {
          const calls = Number(s.calls);
          return {
            query: s.query.replace(/\s+/g, ' ').trim(),
            toplevel: s.toplevel,
            calls,
            calls_per_subtask: round(calls / n),
            total_ms: round(s.total_ms),
            mean_ms: round(s.total_ms / Math.max(1, calls)),
            rows_per_call: round(Number(s.rows) / Math.max(1, calls)),
            share: Math.round((s.total_ms / topTime) * 1000) / 1000,
            wal_bytes_per_call: Math.round(Number(s.wal_bytes) / Math.max(1, calls)),
            shared_blocks_dirtied_per_call: round(Number(s.dirtied) / Math.max(1, calls)),
          };
        }),
    };
    return { value, profile };
  }
}

/** One line: the profile's figures per subtask. */
export function profileSummary(p: StatementProfile): string {
  const waits = p.wait_events
    .slice(0, 6)
    .map((w) => `${w.event} ${Math.round(w.share * 100)}%`)
    .join(', ');
  return (
    `${p.scenario}: ${grouped(p.subtasks)} subtasks in ${p.seconds} s; per subtask ${p.statements_per_subtask} statements ` +
    `(BEGIN/COMMIT not counted), ${p.commits_per_subtask} COMMITs, ${p.write_transactions_per_subtask} write transactions; ` +
    `WAL ${grouped(p.wal_bytes_per_subtask)} bytes, ${p.wal_records_per_subtask} records, ${p.wal_fpi_per_subtask} full-page images, ` +
    `${p.wal_syncs_per_subtask ?? '?'} syncs${p.wal_sync_ms_per_sync !== null ? ` (${p.wal_sync_ms_per_sync} ms each)` : ''}; ` +
    `PostgreSQL CPU ${p.postgres_cpu_seconds_per_1000_subtasks} s per 1,000 subtasks (${Math.round(p.postgres_cpu_share_of_a_core * 100)}% of a core); ` +
    `${p.busy_backends} backends busy on average: ${waits || 'none sampled'}`
  );
}

/** The top statements as a console table. */
export function statementTable(p: StatementProfile): string {
  const head = ['time %', 'calls/subtask', 'mean ms', 'rows/call', 'WAL B/call', 'dirtied/call', 'statement'];
  const body = p.statements.map((s) => [
    `${(s.share * 100).toFixed(1)}`,
    String(s.calls_per_subtask),
    s.mean_ms.toFixed(3),
    String(s.rows_per_call),
    String(s.wal_bytes_per_call),
    String(s.shared_blocks_dirtied_per_call),
    `${s.toplevel ? '' : '↳ '}${s.query.length > 150 ? `${s.query.slice(0, 147)}…` : s.query}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
