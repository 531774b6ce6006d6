import type { Health } from '@aitbc/core';
import type { Database } from './db/database.ts';
import { sql } from './db/sql.ts';

const startedAt = Date.now();
const VERSION = '0.1.0';

/** Round-trips one query; a database that does not answer in `timeoutMs` counts as unreachable. */
export async function checkHealth(db: Database, timeoutMs = 2000): Promise<Health> {
  const t0 = performance.now();
  let error: string | undefined;
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([db.run((_, q) => q.one(sql`SELECT 1 AS "up"`)), timeout]).finally(() => clearTimeout(timer));
  } catch (e) {
    error = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  const reachable = error === undefined;
  return {
    status: reachable ? 'ok' : 'degraded',
    database: {
      provider: db.provider,
      reachable,
      latency_ms: reachable ? Math.round((performance.now() - t0) * 100) / 100 : null,
      ...(error ? { error } : {}),
    },
    version: VERSION,
    uptime_s: Math.round((Date.now() - startedAt) / 1000),
  };
}
