import { resolve } from 'node:path';
import { sqliteFileOf } from './db/target.ts';

export interface ServerConfig {
  host: string;
  port: number;
  /** Where the SQLite file and admin.key live. */
  dataDir: string;
  /** Unset: embedded SQLite in dataDir. */
  databaseUrl: string | undefined;
  /** Plaintext admin keys from AITBC_ADMIN_API_KEYS (comma-separated). */
  adminApiKeys: string[];
  /** Largest request body accepted, in bytes; larger gets 413. */
  bodyLimit: number;
  logLevel: string;
  /** How often expired leases and unclaimed assignments are swept, in ms. */
  sweepIntervalMs: number;
  /** How often buffered swarm heartbeats are written, in ms. */
  heartbeatFlushMs: number;
}

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  return n;
}

/** Reads the server's settings from the environment; `cwd` anchors relative paths. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = env.INIT_CWD ?? process.cwd()): ServerConfig {
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  return {
    host: env.HOST?.trim() || '127.0.0.1',
    port: integer('PORT', env.PORT, 8000, 0, 65535),
    dataDir: resolve(cwd, env.AITBC_DATA_DIR?.trim() || './data'),
    // A relative file: path is taken from where the user ran the command, like AITBC_DATA_DIR.
    databaseUrl: databaseUrl?.startsWith('file:') ? `file:${sqliteFileOf(databaseUrl, cwd)}` : databaseUrl,
    adminApiKeys: (env.AITBC_ADMIN_API_KEYS ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
    bodyLimit: integer('AITBC_BODY_LIMIT', env.AITBC_BODY_LIMIT, 1024 * 1024, 1024, 64 * 1024 * 1024),
    logLevel: env.LOG_LEVEL?.trim() || 'info',
    sweepIntervalMs: integer('AITBC_SWEEP_INTERVAL_MS', env.AITBC_SWEEP_INTERVAL_MS, 1000, 50, 60_000),
    heartbeatFlushMs: integer('AITBC_HEARTBEAT_FLUSH_MS', env.AITBC_HEARTBEAT_FLUSH_MS, 500, 10, 10_000),
  };
}
