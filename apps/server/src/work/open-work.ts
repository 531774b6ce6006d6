/**
 * Open work (pending, assigned and leased subtasks) read from the open_work
 * counts, which triggers on `subtasks` keep in step with every row change
 * (see prisma/schema.prisma, model OpenWork). A read sums a key's shards: a
 * few rows whatever the size of the queue.
 */
import { inList, type Query, type Sql, sql } from '../db/sql.ts';

export type OpenScope = 'network' | 'swarm' | 'assignee';

export interface OpenCounts {
  pending: number;
  assigned: number;
  leased: number;
}

const NONE: OpenCounts = { pending: 0, assigned: 0, leased: 0 };

interface CountsRow {
  key: string;
  pending: unknown;
  assigned: unknown;
  leased: unknown;
}

const countsOf = (r: Omit<CountsRow, 'key'> | undefined): OpenCounts =>
  r ? { pending: Number(r.pending ?? 0), assigned: Number(r.assigned ?? 0), leased: Number(r.leased ?? 0) } : NONE;

/** Open subtasks per key of one scope; a key with nothing open is absent. */
export async function openWork(db: Sql, scope: OpenScope, keys: string[]): Promise<Map<string, OpenCounts>> {
  if (keys.length === 0) return new Map();
  const rows = await db.all<CountsRow>(sql`
    SELECT "key", SUM("pending") AS "pending", SUM("assigned") AS "assigned", SUM("leased") AS "leased"
    FROM "open_work" WHERE "scope" = ${scope} AND "key" ${inList(keys)} GROUP BY "key"`);
  return new Map(rows.map((r) => [r.key, countsOf(r)]));
}

/** One key's open subtasks. */
export async function openWorkOf(db: Sql, scope: OpenScope, key: string): Promise<OpenCounts> {
  return (await openWork(db, scope, [key])).get(key) ?? NONE;
}

/** How many subtasks each assignee (an agent or a member) holds now: assigned or leased, across all its work. */
export async function openLoad(db: Sql, assigneeIds: string[]): Promise<Map<string, number>> {
  const counts = await openWork(db, 'assignee', assigneeIds);
  return new Map([...counts].map(([id, c]) => [id, c.assigned + c.leased]));
}

/** An assignee's load as openLoad counts it, as a column of a read that names the assignee in `assignee`. */
export const openLoadOf = (assignee: Query) =>
  sql`(SELECT COALESCE(SUM(o."assigned" + o."leased"), 0) FROM "open_work" o WHERE o."scope" = 'assignee' AND o."key" = ${assignee})`;

/** Open subtasks summed over every key of a scope (the /metrics gauges). */
export async function openWorkTotal(db: Sql, scope: OpenScope): Promise<OpenCounts> {
  return countsOf(
    await db.one(sql`
      SELECT SUM("pending") AS "pending", SUM("assigned") AS "assigned", SUM("leased") AS "leased"
      FROM "open_work" WHERE "scope" = ${scope}`),
  );
}
