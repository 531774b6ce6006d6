/** What a scenario is handed, and what it is: a name for `--only` and a run that adds rows and notes. */
import type { Ceiling } from './ceilings.ts';
import type { StatementProfile, StatementProfiler } from './statement-profile.ts';
import type { Row } from './row.ts';
import type { Server } from './servers.ts';
import type { BenchSettings } from './settings.ts';

/** The servers' PostgreSQL (--db postgres). */
export interface BenchPostgres {
  /** The servers' database. */
  url: string;
  /** The cluster's URL (any database on it): scratch databases are made there. */
  clusterUrl: string;
  /** The servers' database for the bench's own probes (lock waits): under --pg-private as a role the profile leaves out. */
  probeUrl: string;
  /** With --pg-private: pg_stat_statements, WAL, wait events and PostgreSQL's CPU around a piece of work. */
  profiler: StatementProfiler | null;
}

export interface BenchContext {
  settings: BenchSettings;
  /** The servers, all on one database; `base` is the first one's URL. */
  servers: Server[];
  base: string;
  /** An owner key for the scenarios' own agents, networks and swarms. */
  key: string;
  /** The servers' admin key: scenarios that need owners of their own issue their keys with it. */
  adminKey: string;
  /** The run's scratch directory (the SQLite database among others), removed after it. */
  dataDir: string;
  postgres: BenchPostgres | null;
  rows: Row[];
  notes: string[];
  /** The raw loops' figures (the ceiling scenario), read by the work-path scenarios for their ratios. */
  ceilings: Ceiling[];
  /** Per-statement profiles (--pg-private), written into the results JSON. */
  statementProfiles: StatementProfile[];
}

export interface Scenario {
  /** Its name in `--only`. */
  name: string;
  run(ctx: BenchContext): Promise<void>;
}
