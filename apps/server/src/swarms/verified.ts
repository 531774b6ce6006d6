/**
 * A swarm task's verified work (README "Verification"). A task names its
 * policy in `parameters.verification`. Map-reduce, distributed, pipeline and
 * leader-election subtasks are decided by their copies, as an execution's
 * are; a voting task's members already each answer, so there the policy's
 * comparator groups the votes and the decision checks the voters. Called
 * with the swarm and the task locked.
 */
import {
  asSets,
  comparedValue,
  type DecidedSubtask,
  type PlannedMemberWork,
  type MemberCandidate,
  resultsAgree,
  type SwarmStrategy,
  taskResults,
  type VerificationSettings,
  verificationSettings,
  verifiedResults,
} from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { flag, fromJson, inList, json, type Sql, sql } from '../db/sql.ts';
import { resultsAccepted, verifiedDecided } from '../stats.ts';
import { TRUSTED, verifySubtask } from '../verification/decision.ts';
import { type CheckSource, doubtedAmong, recordChecks } from '../verification/records.ts';
import { resultKey, type WorkEngine } from '../work/engine.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../work/subtasks.ts';
import { memberHosts, membersOf, paramsOf, replacements, strategyOf, subtaskRow } from './tasks.ts';
import type { CoordinationRow } from './views.ts';

type Deps = { db: Database; work: WorkEngine };

/** The policy a task runs under (null: none). */
export function taskPolicy(c: CoordinationRow): VerificationSettings | null {
  const input = paramsOf(c).verification;
  if (!input) return null;
  const settings = verificationSettings(input);
  return settings.policy === 'none' ? null : settings;
}

/** Strategies whose subtasks a caught member's results taken on trust can be reopened in (no later stage built on them). */
const REOPENABLE: readonly SwarmStrategy[] = ['map-reduce', 'distributed'];

/**
 * Under `replicate`, each planned subtask's k − 1 more copies, on other selected members and never on the host of
 * another copy (members in ranking order after the one planned). Fewer when fewer hosts are selected: the
 * decision adds copies on other eligible members later if a quorum needs them.
 */
export function replicateCopies(
  work: PlannedMemberWork[],
  members: Pick<MemberCandidate, 'memberId' | 'host'>[],
  copies: number,
): PlannedMemberWork[] {
  const more: PlannedMemberWork[] = [];
  for (const w of work) {
    const start = members.findIndex((m) => m.memberId === w.memberId);
    const holders = [members[start]!];
    for (let i = 1; i < members.length && holders.length < copies; i++) {
      const m = members[(start + i) % members.length]!;
      if (holders.some((h) => h.memberId === m.memberId || (h.host && h.host === m.host))) continue;
      holders.push(m);
      more.push({ seq: w.seq, replica: holders.length - 1, memberId: m.memberId, payload: w.payload });
    }
  }
  return more;
}

/** What deciding a subtask means for the task: it is decided (by `winner`, or inconclusive: null), or the task fails. */
export interface TaskHooks {
  decided(winner: SubtaskRow | null, seq: number): Promise<void>;
  fail(error: string): Promise<void>;
  /** Trusted members a quorum caught with an invalid result: their results taken on trust are checked again (after commit). */
  caught(members: string[]): void;
}

async function copiesOf(db: Sql, coordinationId: string, seq: number): Promise<SubtaskRow[]> {
  const rows = await db.all(sql`
    SELECT ${subtaskColumns()} FROM "subtasks" WHERE "coordination_id" = ${coordinationId} AND "seq" = ${seq} ORDER BY "replica"`);
  return rows.map(subtaskFrom);
}

/** Up to `count` more copies of a subtask, on the best eligible members holding none (and on other hosts). */
async function addCopies(tx: Tx, work: WorkEngine, c: CoordinationRow, rows: SubtaskRow[], count: number, now: Date): Promise<number> {
  const first = rows[0]!;
  const eligible = await replacements(tx.sql, c, { id: '', seq: first.seq });
  // A doubted member (never validated, or an invalid result among its last checked) only when nobody else can.
  const doubted = new Set(await doubtedAmong(tx.sql, eligible));
  const ranked = [...eligible.filter((id) => !doubted.has(id)), ...eligible.filter((id) => doubted.has(id))];
  const hosts = await memberHosts(tx.sql, ranked);
  const chosen: string[] = [];
  for (const id of ranked) {
    if (chosen.length >= count) break;
    const host = hosts.get(id);
    if (host && chosen.some((other) => hosts.get(other) === host)) continue;
    chosen.push(id);
  }
  if (chosen.length === 0) return 0;
  let replica = Math.max(...rows.map((r) => r.replica));
  // Its place in each queue is the subtask's original one.
  const added = chosen.map((id) => ({ ...subtaskRow(c, first.seq, ++replica, id, first.payload, now), createdAt: first.createdAt }));
  const assigned = membersOf(c);
  const joined = chosen.filter((id) => !assigned.includes(id));
  if (joined.length > 0) {
    // Selected members may take (steal) the task's work: the new copies' members are selected now.
    await tx.sql.run(sql`UPDATE "swarm_coordination" SET "assigned_members" = ${json([...assigned, ...joined])} WHERE "id" = ${c.id}`);
    c.assignedMembers = [...assigned, ...joined];
  }
  await work.enqueue(tx, added, now);
  return added.length;
}

/** Decide subtask `seq` of a verified, non-voting task. */
export async function decideVerifiedTask(
  tx: Tx,
  deps: Deps,
  c: CoordinationRow,
  seq: number,
  settings: VerificationSettings,
  hooks: TaskHooks,
  now: Date,
): Promise<void> {
  const rows = await copiesOf(tx.sql, c.id, seq);
  const verified = await verifySubtask(
    tx,
    deps,
    { kind: 'member', ownerId: c.ownerId, parent: { coordinationId: c.id }, source: { task_id: c.taskId } },
    rows,
    settings,
    (count) => addCopies(tx, deps.work, c, rows, count, now),
    now,
  );
  if (verified.state === 'decided' || verified.state === 'waiting') return;
  if (verified.state === 'failed') {
    const lastError = rows.filter((r) => r.status === 'failed' && r.error).at(-1)?.error;
    return hooks.fail(`subtask ${seq} failed: ${verified.reason}${lastError ? ` (last error: ${lastError})` : ''}`);
  }
  const validated = verified.state === 'validated' ? 1 : 0;
  await verifiedDecided(tx, 'swarms', c.swarmId, { validated, inconclusive: 1 - validated, ...verified.counts });
  if (verified.state === 'inconclusive') return hooks.decided(null, seq);
  // The agreeing copies' results were used (coordination efficiency counts them).
  await resultsAccepted(tx, c.swarmId, verified.counts.results - verified.counts.invalid);
  if (verified.checked.caught.length > 0) hooks.caught(verified.checked.caught);
  return hooks.decided(verified.winner, seq);
}

/**
 * A caught member's results in live map-reduce and distributed tasks that were taken on its trust alone, by task
 * (a pipeline's later stages, or a leader's task, are built on a result already: those stay, the README's residual).
 */
export async function takenOnTrust(db: Database, memberId: string): Promise<Map<string, number[]>> {
  const rows = await db.run((_, q) =>
    q.all<{ coordination_id: string; seq: unknown }>(sql`
      SELECT s."coordination_id", s."seq" FROM "subtasks" s JOIN "swarm_coordination" c ON c."id" = s."coordination_id"
      WHERE s."assignee_id" = ${memberId} AND s."status" = 'completed' AND s."validation" = ${TRUSTED} AND s."accepted" = ${true}
        AND c."status" IN ('queued', 'running') AND c."strategy" ${inList([...REOPENABLE])}`),
  );
  const by = new Map<string, number[]>();
  for (const r of rows) by.set(r.coordination_id, [...(by.get(r.coordination_id) ?? []), Number(r.seq)]);
  return by;
}

/** Reopen these subtasks of a locked, live task: pending again, not decided, and decided again by another copy. */
export async function reopenTrusted(
  tx: Tx,
  c: CoordinationRow,
  memberId: string,
  seqs: number[],
  decide: (seq: number) => Promise<void>,
  now: Date,
): Promise<void> {
  const reopened = await tx.sql.all<{ seq: unknown }>(sql`
    UPDATE "subtasks" SET "accepted" = ${false}, "validation" = 'pending', "updated_at" = ${now}
    WHERE "coordination_id" = ${c.id} AND "seq" ${inList(seqs)} AND "assignee_id" = ${memberId} AND "validation" = ${TRUSTED}
      AND "accepted" = ${true}
    RETURNING "seq"`);
  if (reopened.length === 0) return;
  await tx.sql.run(sql`
    UPDATE "swarm_coordination" SET "decided_count" = "decided_count" - ${reopened.length}, "updated_at" = ${now} WHERE "id" = ${c.id}`);
  await verifiedDecided(tx, 'swarms', c.swarmId, {
    validated: -reopened.length,
    inconclusive: 0,
    results: -reopened.length,
    replicas: 0,
    invalid: 0,
  });
  for (const r of reopened) await decide(Number(r.seq));
}

/** A verified task's result once every subtask is decided: only validated results count (inconclusive: null, not reduced). */
export async function verifiedTaskResults(db: Sql, c: CoordinationRow): Promise<unknown> {
  const rows = await db.all<{ seq: unknown; result: unknown; accepted: unknown }>(sql`
    SELECT "seq", "result", "accepted" FROM "subtasks"
    WHERE "coordination_id" = ${c.id} AND ("accepted" = ${true} OR "validation" = 'inconclusive') ORDER BY "seq", "replica"`);
  const bySeq = new Map<number, DecidedSubtask>();
  for (const r of rows) {
    const seq = Number(r.seq);
    const validated = flag(r.accepted);
    if (validated || !bySeq.has(seq)) bySeq.set(seq, { seq, validated, result: validated ? fromJson(r.result) : null });
  }
  const decided = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const parameters = paramsOf(c);
  if (strategyOf(c) === 'map-reduce') return verifiedResults(decided, parameters.reduce ?? 'concat');
  return taskResults(
    strategyOf(c),
    parameters,
    decided.map((d) => (d.validated ? d.result : null)),
  );
}

// ---------------------------------------------------------------- votes

/**
 * A vote's key under the policy's comparator: exact, the compared value's hash; set, the hash of it made a set;
 * numeric, the key of the first vote already cast that it agrees with (else its own hash).
 */
export async function voteHash(db: Sql, c: CoordinationRow, value: unknown, settings: VerificationSettings | null): Promise<string> {
  if (!settings || settings.comparator === 'exact') return resultKey(value);
  if (settings.comparator === 'set') return resultKey(asSets(value));
  const cast = await db.all<{ result_hash: string; result: unknown }>(sql`
    SELECT "result_hash", "result" FROM "swarm_votes" WHERE "coordination_id" = ${c.id} ORDER BY "created_at", "member_id"`);
  const same = cast.find((v) => resultsAgree(comparedValue(fromJson(v.result), paramsOf(c).compare), value, settings));
  return same ? same.result_hash : resultKey(value);
}

/**
 * A verified voting task's decision checks its voters: those who agreed with a reached consensus are valid, the
 * dissenters invalid (records and quarantine; their reputation already moved with the consensus), and each vote's
 * copy shows it. A consensus not reached leaves the votes inconclusive.
 */
export async function votesChecked(
  tx: Tx,
  deps: Deps,
  c: CoordinationRow,
  settings: VerificationSettings,
  decision: { agreeing: string[]; dissenting: string[] } | null,
  now: Date,
): Promise<void> {
  const votes = Number(
    (await tx.sql.one<{ n: unknown }>(sql`SELECT COUNT(*) AS "n" FROM "swarm_votes" WHERE "coordination_id" = ${c.id}`))?.n ?? 0,
  );
  await verifiedDecided(tx, 'swarms', c.swarmId, {
    validated: decision ? 1 : 0,
    inconclusive: decision ? 0 : 1,
    results: votes,
    replicas: Math.max(0, c.collaborators - 1),
    invalid: decision?.dissenting.length ?? 0,
  });
  const mark = async (members: string[], state: string) => {
    if (members.length > 0)
      await tx.sql.run(sql`
        UPDATE "subtasks" SET "validation" = ${state}, "updated_at" = ${now}
        WHERE "coordination_id" = ${c.id} AND "status" = 'completed' AND "assignee_id" ${inList(members)}`);
  };
  if (!decision) {
    await tx.sql.run(sql`
      UPDATE "subtasks" SET "validation" = 'inconclusive', "updated_at" = ${now} WHERE "coordination_id" = ${c.id} AND "status" = 'completed'`);
    return;
  }
  await mark(decision.agreeing, 'validated');
  await mark(decision.dissenting, 'invalid');
  const checks = new Map<string, boolean[]>([
    ...decision.agreeing.map((m) => [m, [true]] as [string, boolean[]]),
    ...decision.dissenting.map((m) => [m, [false]] as [string, boolean[]]),
  ]);
  const source: CheckSource = { task_id: c.taskId };
  await recordChecks(tx, deps, 'member', c.ownerId, checks, settings, source, now, { reputation: false });
}
