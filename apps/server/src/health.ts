import type { Health } from '@aitbc/core';
import type { Database } from './db/database.ts';
import { dialectal, sql } from './db/sql.ts';

const startedAt = Date.now();
const VERSION = '0.1.0';

/** Whether this session's transactions are read-only (a standby, default_transaction_read_only); SQLite never is. */
const READ_ONLY = dialectal(sql`SELECT 'off' AS "ro"`, sql`SELECT current_setting('transaction_read_only') AS "ro"`);

/**
 * Round-trips one query; a database that does not answer in `timeoutMs`
 * counts as unreachable (and makes db/availability.ts look). While an outage
 * is known, the answer says so at once, with how long it has lasted. Not
 * `ok` (so /healthz answers 503) when the database is unreachable or
 * read-only.
 */
export async function checkHealth(db: Database, timeoutMs = 2000): Promise<Health> {
  const t0 = performance.now();
  let error: string | undefined;
  let readOnly = false;
  if (db.availability.state === 'unreachable') error = 'unreachable';
  else {
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          db.availability.stalled(`the health check had no answer within ${timeoutMs} ms`, timeoutMs);
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      });
      const row = await Promise.race([db.run((_, q) => q.one<{ ro: string }>(sql`${READ_ONLY}`)), timeout]).finally(() =>
        clearTimeout(timer),
      );
      readOnly = row?.ro === 'on';
    } catch (e) {
      error = e instanceof Error ? e.message.split('\n')[0] : String(e);
    }
  }
  const reachable = error === undefined;
  const state = !reachable ? 'unreachable' : readOnly ? 'read-only' : 'up';
  const outage = db.availability.outageFor;
  return {
    status: state === 'up' ? 'ok' : 'degraded',
    database: {
      provider: db.provider,
      reachable,
      state,
      latency_ms: reachable ? Math.round((performance.now() - t0) * 100) / 100 : null,
      ...(state !== 'up' && outage > 0 ? { outage_s: Math.round(outage * 10) / 10 } : {}),
      ...(error ? { error } : {}),
    },
    version: VERSION,
    uptime_s: Math.round((Date.now() - startedAt) / 1000),
  };
}
