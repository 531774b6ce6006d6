/** What the bench reads from a server's /metrics (loopback, no key): statements sent, backups, the event loop's delay. */

/** SQL statements the server has sent so far (its /metrics counter). */
export async function statementsSent(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^aitbc_db_statements_total (\d+)/m.exec(text);
  if (!m) throw new Error('/metrics has no aitbc_db_statements_total');
  return Number(m[1]);
}

/** Backup copies (speculation) the servers launched so far, from their /metrics. */
export async function backupsLaunched(servers: { url: string }[]): Promise<number> {
  let n = 0;
  for (const sv of servers) {
    const text = await (await fetch(`${sv.url}/metrics`)).text();
    n += Number(/^aitbc_backups_total\{event="launched"\} (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return n;
}

/** Statements per unit of `work`, run alone (nothing else is running): the server's counter before and after. */
export async function statementsPer(base: string, units: number, work: () => Promise<void>): Promise<number> {
  const before = await statementsSent(base);
  await work();
  return Math.round((((await statementsSent(base)) - before) / units) * 100) / 100;
}

/** The event loop's delay histogram (bucket upper bound in s → count so far): read before and after a window. */
export async function loopDelayBuckets(base: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^aitbc_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/gm))
    buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  return buckets;
}

/** The event loop's delay p99 (ms, a bucket's bound) over the window between two readings; null if nothing was recorded. */
export function loopDelayP99(before: Map<number, number>, after: Map<number, number>): number | null {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= 0.99 * total) return le * 1000;
  return null;
}
