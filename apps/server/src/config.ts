import { DEFAULT_REQUESTS_RUNNING, DEFAULT_REQUESTS_RUNNING_PER_OWNER } from './db/admission.ts';
import { resolve } from 'node:path';
import { sqliteFileOf } from './db/target.ts';
import { type LogFormat, logFormatFrom } from './log-format.ts';

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
  /** LOG_FORMAT: json or pretty; undefined: pretty when stdout is a terminal, JSON lines otherwise (see log-format.ts). */
  logFormat?: LogFormat;
  /** How often expired leases and unclaimed assignments are swept, in ms. */
  sweepIntervalMs: number;
  /** How often buffered swarm heartbeats are written, in ms. */
  heartbeatFlushMs: number;
  /**
   * Requests per minute, per API key and per client IP for requests without
   * a valid key (see docs/limits.md). null: no rate limiting, which only
   * AITBC_RATE_LIMIT=off asks for. Absent (a config built in code, as the
   * test servers do): no rate limiting either; loadConfig always sets it.
   */
  rateLimit?: RateLimitConfig | null;
  /** Origins a browser may call the API from (CORS); empty: CORS stays off. */
  corsOrigins?: string[];
  /** GET /metrics served (AITBC_METRICS=off removes it); default on. */
  metricsEnabled?: boolean;
  /**
   * Requests slower than this are logged at warn (AITBC_SLOW_REQUEST_MS, default 1000); at debug every request is.
   * A long poll (a claim or task wait with wait_seconds) is slow only past the wait it asked for.
   */
  slowRequestMs?: number;
  /**
   * Where traces go (OTLP/HTTP): OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; unset, tracing is
   * off and costs nothing. `traceExportDelayMs`: how long finished spans wait to be sent (OTEL_BSP_SCHEDULE_DELAY, 1000).
   */
  otlpEndpoint?: string | null;
  traceExportDelayMs?: number;
  /** How often keys' last_used_at is written (AITBC_KEY_USAGE_FLUSH_MS, default 60000): once per key per flush, not per request. */
  keyUsageFlushMs?: number;
  /** The built dashboard served at / (AITBC_WEB_DIR); default apps/web/dist. */
  webDir?: string | undefined;
  /**
   * Requests running at once, in turn by owner (db/admission.ts RequestTurns): in all (AITBC_REQUESTS_RUNNING, default
   * 64) and of one owner (AITBC_REQUESTS_RUNNING_PER_OWNER, default 8) while another's run or wait; an owner alone
   * leaves that many free.
   */
  requestsRunning?: number;
  requestsRunningPerOwner?: number;
}

export interface RateLimitConfig {
  /** Requests per minute each API key may make (a burst may spend the whole minute at once). */
  perKey: number;
  /** Requests per minute each client IP may make without a valid key; null: unlimited. */
  perIp: number | null;
}

export const DEFAULT_RATE_LIMIT: RateLimitConfig = { perKey: 1200, perIp: 300 };

/** AITBC_RATE_LIMIT / AITBC_RATE_LIMIT_ANONYMOUS: a number of requests per minute, or `off`. */
function perMinute(name: string, raw: string | undefined, fallback: number): number | null {
  if (raw?.trim().toLowerCase() === 'off') return null;
  return integer(name, raw, fallback, 1, 1_000_000);
}

function rateLimitFrom(env: NodeJS.ProcessEnv): RateLimitConfig | null {
  const perKey = perMinute('AITBC_RATE_LIMIT', env.AITBC_RATE_LIMIT, DEFAULT_RATE_LIMIT.perKey);
  if (perKey === null) return null;
  return { perKey, perIp: perMinute('AITBC_RATE_LIMIT_ANONYMOUS', env.AITBC_RATE_LIMIT_ANONYMOUS, DEFAULT_RATE_LIMIT.perIp!) };
}

/** AITBC_CORS_ORIGINS: comma-separated origins (`https://app.example.com`); each must be a bare origin. */
function corsOriginsFrom(raw: string | undefined): string[] {
  const origins = (raw ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      // reported below
    }
    if (!parsed || parsed.origin !== origin)
      throw new Error(
        `AITBC_CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com (scheme, host, optional port, nothing else)`,
      );
  }
  return origins;
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
    logFormat: logFormatFrom(env.LOG_FORMAT),
    sweepIntervalMs: integer('AITBC_SWEEP_INTERVAL_MS', env.AITBC_SWEEP_INTERVAL_MS, 1000, 50, 60_000),
    heartbeatFlushMs: integer('AITBC_HEARTBEAT_FLUSH_MS', env.AITBC_HEARTBEAT_FLUSH_MS, 500, 10, 10_000),
    rateLimit: rateLimitFrom(env),
    corsOrigins: corsOriginsFrom(env.AITBC_CORS_ORIGINS),
    metricsEnabled: env.AITBC_METRICS?.trim().toLowerCase() !== 'off',
    slowRequestMs: integer('AITBC_SLOW_REQUEST_MS', env.AITBC_SLOW_REQUEST_MS, 1000, 1, 3_600_000),
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || null,
    traceExportDelayMs: integer('OTEL_BSP_SCHEDULE_DELAY', env.OTEL_BSP_SCHEDULE_DELAY, 1000, 1, 60_000),
    keyUsageFlushMs: integer('AITBC_KEY_USAGE_FLUSH_MS', env.AITBC_KEY_USAGE_FLUSH_MS, 60_000, 10, 3_600_000),
    webDir: env.AITBC_WEB_DIR?.trim() ? resolve(cwd, env.AITBC_WEB_DIR.trim()) : undefined,
    requestsRunning: integer('AITBC_REQUESTS_RUNNING', env.AITBC_REQUESTS_RUNNING, DEFAULT_REQUESTS_RUNNING, 1, 100_000),
    requestsRunningPerOwner: integer(
      'AITBC_REQUESTS_RUNNING_PER_OWNER',
      env.AITBC_REQUESTS_RUNNING_PER_OWNER,
      DEFAULT_REQUESTS_RUNNING_PER_OWNER,
      1,
      100_000,
    ),
  };
}
