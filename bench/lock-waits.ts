/** PostgreSQL lock waits sampled while the work path runs (the claims and batched scenarios). */
import pg from 'pg';

/**
 * PostgreSQL lock waits while `work` runs: every 20 ms, which backends of this database wait on a lock, and on
 * which table. Returns the share of samples with any waiter and the tables most waited on.
 */
export async function lockWaits<T>(url: string | undefined, work: () => Promise<T>): Promise<{ value: T; summary: string | null }> {
  if (!url) return { value: await work(), summary: null };
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let samples = 0;
  let withWaiter = 0;
  let waiters = 0;
  const byTable = new Map<string, number>();
  let done = false;
  const sampling = (async () => {
    while (!done) {
      const { rows } = await client.query<{ relation: string | null }>(
        `SELECT COALESCE(c.relname, l.locktype) || ' (' || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 48) || ')'
           || COALESCE(' behind ' || b.state || ': ' || left(regexp_replace(b.query, '\\s+', ' ', 'g'), 48), '') AS relation
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid LEFT JOIN pg_class c ON c.oid = l.relation
         LEFT JOIN pg_stat_activity b ON b.pid = (pg_blocking_pids(a.pid))[1]
         WHERE NOT l.granted AND a.datname = current_database()`,
      );
      samples++;
      if (rows.length > 0) withWaiter++;
      waiters += rows.length;
      for (const r of rows)
        byTable.set(r.relation ?? '(transaction or tuple)', (byTable.get(r.relation ?? '(transaction or tuple)') ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const value = await work();
    return {
      value,
      summary:
        `lock waits: a backend waited in ${withWaiter} of ${samples} samples (${((withWaiter / Math.max(1, samples)) * 100).toFixed(1)}%), ` +
        `${(waiters / Math.max(1, samples)).toFixed(2)} waiting on average` +
        (byTable.size
          ? `; waited on: ${[...byTable]
              .sort((a, b) => b[1] - a[1])
              .slice(0, 4)
              .map(([t, n]) => `${t} ${n}`)
              .join(', ')}`
          : ''),
    };
  } finally {
    done = true;
    await sampling;
    await client.end();
  }
}
