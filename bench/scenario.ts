/** What a scenario is handed, and what it is: a name for `--only` and a run that adds rows and notes. */
import type { Row } from './row.ts';
import type { Server } from './servers.ts';
import type { BenchSettings } from './settings.ts';

/** The servers' PostgreSQL (--db postgres). */
export interface BenchPostgres {
  /** The servers' database. */
  url: string;
  /** The cluster's URL (any database on it): scratch databases are made there. */
  clusterUrl: string;
}

export interface BenchContext {
  settings: BenchSettings;
  /** The servers, all on one database; `base` is the first one's URL. */
  servers: Server[];
  base: string;
  /** An owner key for the scenarios' own agents, networks and swarms. */
  key: string;
  /** The run's scratch directory (the SQLite database among others), removed after it. */
  dataDir: string;
  postgres: BenchPostgres | null;
  rows: Row[];
  notes: string[];
}

export interface Scenario {
  /** Its name in `--only`. */
  name: string;
  run(ctx: BenchContext): Promise<void>;
}
