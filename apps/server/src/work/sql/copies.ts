/**
 * Copies of one subtask: its replicas (a replicated strategy runs the same
 * seq on several assignees) and a backup copy (speculation). No assignee
 * ever holds two copies of one subtask: its two results would count as two
 * hosts agreeing. Reads that find work to take (stealCandidates, the
 * stragglers) apply the rule; the statements that take it (claim.ts,
 * backup.ts) apply it again under the lock, since what was read may be
 * stale: a thief with two claims in flight, or a backup chosen from a
 * parent's runs read a moment ago.
 *
 * Nor does an assignee take a copy of a subtask another copy of which runs
 * on its host: agents (or members) whose owner gave them the same `host`
 * label run on one machine, and their results are no more independent than
 * one assignee's (README "Verification").
 */
import { inList, join, raw, type Query, type Sql, sql } from '../../db/sql.ts';
import type { ParentKind } from '../parent.ts';

/**
 * No other copy of subtask `s` (a table alias) is `who`'s, held, done or
 * failed (cancelled ones do not count). With `kind`, the parent column is
 * known (an index lookup); without, either parent matches.
 */
export function holdsNoCopy(s: string, who: string, kind?: ParentKind): Query {
  const col = (c: string) => raw(`${s}."${c}"`);
  const sameParent = kind
    ? raw(`o."${kind}_id" = ${s}."${kind}_id"`)
    : sql`(o."execution_id" = ${col('execution_id')} OR o."coordination_id" = ${col('coordination_id')})`;
  const hosts =
    kind === 'execution'
      ? [sameHost('agents', 'id', who)]
      : kind
        ? [sameHost('swarm_members', 'member_id', who)]
        : [sameHost('agents', 'id', who), sameHost('swarm_members', 'member_id', who)];
  return sql`NOT EXISTS (
    SELECT 1 FROM "subtasks" o WHERE ${sameParent} AND o."seq" = ${col('seq')} AND o."id" <> ${col('id')} AND o."status" <> 'cancelled'
      AND (o."assignee_id" = ${who} OR o."backup_assignee_id" = ${who}${join(
        hosts.map((h) => sql` OR ${h}`),
        '',
      )}))`;
}

/** Copy `o`'s holder (or backup holder) shares `who`'s host label (of the same owner), in the agents or members table. */
function sameHost(table: 'agents' | 'swarm_members', id: 'id' | 'member_id', who: string): Query {
  const [t, key] = [raw(`"${table}"`), raw(`"${id}"`)];
  return sql`EXISTS (
    SELECT 1 FROM ${t} me JOIN ${t} h ON h."owner_id" = me."owner_id" AND h."host" = me."host"
    WHERE me.${key} = ${who} AND h.${key} IN (o."assignee_id", o."backup_assignee_id"))`;
}

/**
 * PostgreSQL: takers of copies of these subtasks queue, subtask by subtask,
 * until this transaction ends (advisory locks, taken in key order so two
 * takers never wait on each other in a circle). The statement that takes
 * them then sees every copy a concurrent taker committed. SQLite runs one
 * transaction at a time: nothing to do.
 */
export async function lockCopies(db: Sql, ids: string[]): Promise<void> {
  if (db.dialect !== 'postgresql' || ids.length === 0) return;
  await db.all(sql`
    SELECT pg_advisory_xact_lock(k) FROM (
      SELECT DISTINCT hashtextextended(COALESCE("execution_id", "coordination_id") || ':' || "seq", 0) AS k
      FROM "subtasks" WHERE "id" ${inList(ids)}) copies
    ORDER BY k`);
}
