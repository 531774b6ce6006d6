import {
  canonicalJson,
  type ConsensusAlgorithm,
  type ConsensusDecision,
  type ConsensusView,
  DEFAULT_CONSENSUS_THRESHOLD,
  decideConsensus,
  type MemberPriority,
  reputationChanges,
  tallyVotes,
  type Vote,
  LIVE_TASK_STATUSES,
  votePreview,
} from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { taskPolicy, votesChecked } from './verified.ts';
import { fromJson, inList, join, type Sql, sql } from '../db/sql.ts';
import { resultsAccepted } from '../stats.ts';
import { lockSwarm } from './lock.ts';
import { resultKey, type WorkEngine } from '../work/engine.ts';
import { findTask, finish, isVoting, lockTask, openSubtasks, readTask, strategyOf } from './tasks.ts';
import { type CoordinationRow, coordinationFrom, iso } from './views.ts';
import { conflict } from '../errors.ts';
import { later } from '../clock.ts';

/** A vote's key (equal compared values, equal keys) and preview. */
export function voteKey(value: unknown): { hash: string; preview: string } {
  return { hash: resultKey(value), preview: votePreview(canonicalJson(value)) };
}

/** A vote as consensus reads it, with the result it carries. */
type CastVote = Vote & { result: unknown };

/** The votes cast so far, by member id. */
async function votesOf(db: Sql, coordinationId: string): Promise<CastVote[]> {
  const rows = await db.all<{
    member_id: string;
    result_hash: string;
    preview: string;
    reputation: unknown;
    priority: string;
    result: unknown;
  }>(sql`
    SELECT "member_id", "result_hash", "preview", "reputation", "priority", "result" FROM "swarm_votes"
    WHERE "coordination_id" = ${coordinationId} ORDER BY "member_id"`);
  return rows.map((v) => ({
    memberId: v.member_id,
    resultKey: v.result_hash,
    preview: v.preview,
    reputation: Number(v.reputation),
    priority: v.priority as MemberPriority,
    result: fromJson(v.result),
  }));
}

/** The result the consensus chose: the first agreeing vote's (by member id). */
const winningResult = (votes: CastVote[], winner: string): unknown => votes.find((v) => v.resultKey === winner)?.result ?? null;

interface ConsensusSettings {
  algorithm: ConsensusAlgorithm;
  threshold: number;
}

const settingsOf = (c: CoordinationRow): ConsensusSettings => ({
  algorithm: (c.consensusAlgorithm as ConsensusAlgorithm | null) ?? 'majority-vote',
  threshold: c.consensusThreshold ?? DEFAULT_CONSENSUS_THRESHOLD,
});

/**
 * Decide the task's consensus now with the votes cast (the last vote is in,
 * or the deadline passed), store the decision, and move reputations: members
 * who agreed gain, dissenters lose. Done under the task's lock, once.
 */
export async function decideVotes(
  tx: Tx,
  deps: { db: Database; work: WorkEngine },
  c: CoordinationRow,
  now: Date,
  deadlinePassed: boolean,
): Promise<void> {
  const { work } = deps;
  const votes = await votesOf(tx.sql, c.id);
  // Under a verification policy the decision checks the voters (README "Verification").
  const policy = taskPolicy(c);
  const settings = settingsOf(c);
  const decision = decideConsensus(votes, { ...settings, expectedVoters: c.collaborators, final: true });
  tx.afterCommit(() => work.outcomes.consensus[decision.state === 'reached' ? 'reached' : 'failed']++);
  if (decision.state === 'reached') {
    const voters = [...decision.agreeing, ...decision.dissenting];
    const members = await tx.sql.all<{ member_id: string; reputation: unknown }>(
      sql`SELECT "member_id", "reputation" FROM "swarm_members" WHERE "member_id" ${inList(voters)}`,
    );
    const changes = reputationChanges(decision, new Map(members.map((m) => [m.member_id, Number(m.reputation)])));
    for (const [memberId, reputation] of changes)
      await tx.sql.run(sql`UPDATE "swarm_members" SET "reputation" = ${reputation}, "updated_at" = ${now} WHERE "member_id" = ${memberId}`);
    // The agreeing members' work is what the outcome is made of.
    const agreed = await tx.sql.run(sql`
      UPDATE "subtasks" SET "accepted" = ${true}, "updated_at" = ${now}
      WHERE "coordination_id" = ${c.id} AND "status" = 'completed' AND "assignee_id" ${inList(decision.agreeing)}`);
    await resultsAccepted(tx, c.swarmId, agreed);
    if (policy) await votesChecked(tx, deps, c, policy, decision, now);
    return finish(tx, work, c, 'completed', { results: winningResult(votes, decision.winner), decision }, now);
  }
  if (policy) await votesChecked(tx, deps, c, policy, null, now);
  const reason = decision.state === 'failed' ? decision.reason : 'votes are still outstanding';
  return finish(
    tx,
    work,
    c,
    deadlinePassed && votes.length < c.collaborators ? 'timed_out' : 'failed',
    { error: `no consensus: ${reason}`, decision },
    now,
  );
}

// ---------------------------------------------------------------- consensus requests

function decisionOf(c: CoordinationRow): ConsensusDecision | null {
  return (c.consensus as ConsensusDecision | null) ?? null;
}

/**
 * The consensus view of a task: the stored decision, or the current tally while votes are outstanding.
 *
 * With `asked`, the view answers a question instead: what a threshold vote at that threshold says of the votes
 * so far (final once the task has ended), computed and never stored, so asking cannot change how the task is
 * decided. That is the legacy CLI's `swarm consensus TASK_ID --consensus-threshold T`.
 */
export async function consensusView(db: Sql, c: CoordinationRow, asked?: { threshold: number }): Promise<ConsensusView> {
  const settings: ConsensusSettings = asked ? { algorithm: 'threshold', threshold: asked.threshold } : settingsOf(c);
  const votes = await votesOf(db, c.id);
  const decision = asked
    ? decideConsensus(votes, { ...settings, expectedVoters: c.collaborators, final: !LIVE_TASK_STATUSES.includes(c.status) })
    : decisionOf(c);
  let decided = decision && decision.state !== 'pending' ? decision : null;
  // A task cancelled before its votes were in was never decided, and never will be.
  if (!decided && !LIVE_TASK_STATUSES.includes(c.status))
    decided = {
      state: 'failed',
      reason: `no decision: the task was ${c.status} before its votes were in`,
      confidence: null,
      tallies: tallyVotes(votes, settings.algorithm),
    };
  const tallies = decided?.tallies ?? tallyVotes(votes, settings.algorithm);
  const reached = decided?.state === 'reached' ? decided : null;
  const counts: Record<string, number> = {};
  for (const t of tallies)
    counts[tallies.filter((x) => x.preview === t.preview).length > 1 ? `${t.preview}#${t.resultKey.slice(0, 8)}` : t.preview] = t.count;
  const participating = votes.map((v) => v.memberId).sort();
  const waiting = c.collaborators - votes.length;
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    consensus_algorithm: settings.algorithm,
    consensus_threshold: settings.algorithm === 'threshold' ? settings.threshold : null,
    consensus_reached: reached !== null,
    status: decided ? decided.state : 'pending',
    result: reached ? { final_answer: winningResult(votes, reached.winner), votes: counts } : null,
    confidence_score: decided ? decided.confidence : null,
    votes: tallies.map((t) => ({ result_hash: t.resultKey, preview: t.preview, count: t.count, weight: t.weight, members: t.members })),
    participating_members: participating,
    dissenting_members: reached ? reached.dissenting : [],
    expected_votes: c.collaborators,
    reason:
      decided?.state === 'failed'
        ? decided.reason
        : decided
          ? null
          : `waiting for ${waiting} of ${c.collaborators} votes until ${iso(c.deadlineAt) ?? 'the deadline'}`,
    consensus_reached_at: asked ? null : iso(c.consensusReachedAt),
    deadline_at: iso(c.deadlineAt),
  };
}

/**
 * The legacy consensus call (`POST /swarm/tasks/{id}/consensus`): a read-only threshold view (see consensusView).
 * A task whose members do not vote answers that there is no vote, as a 200: the legacy CLI takes any other status
 * for an error.
 */
export async function thresholdView(db: Sql, ownerId: string, taskId: string, threshold: number): Promise<ConsensusView> {
  const c = await findTask(db, ownerId, taskId);
  if (isVoting(c)) return consensusView(db, c, { threshold });
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    consensus_algorithm: 'threshold',
    consensus_threshold: threshold,
    consensus_reached: false,
    status: 'failed',
    result: null,
    confidence_score: null,
    votes: [],
    participating_members: [],
    dissenting_members: [],
    expected_votes: 0,
    reason: `no vote: ${c.taskId} is a ${strategyOf(c)} task, and its members do not vote. Its result is in GET /swarm/tasks/${c.taskId}/status`,
    consensus_reached_at: null,
    deadline_at: iso(c.deadlineAt),
  };
}

/**
 * A consensus request: the algorithm (and threshold) asked for apply to a
 * task not yet decided, and `timeout_seconds` sets its voting deadline
 * (counted from the task's start). When every vote is in or the deadline has
 * passed, the decision is made now; otherwise the answer is pending.
 */
export async function requestConsensus(
  tx: Tx,
  { db, work }: { db: Database; work: WorkEngine },
  ownerId: string,
  input: {
    task_id: string;
    consensus_algorithm?: ConsensusAlgorithm | undefined;
    consensus_threshold?: number | undefined;
    timeout_seconds?: number | undefined;
  },
  now: Date,
): Promise<ConsensusView> {
  const found = await findTask(tx.sql, ownerId, input.task_id);
  if (!isVoting(found)) {
    throw conflict(
      `Task ${found.taskId} is a ${found.strategy} task: its members do not vote. Consensus applies to broadcast and consensus tasks; its result is in GET /swarm/tasks/${found.taskId}/status`,
    );
  }
  let c = found;
  if (LIVE_TASK_STATUSES.includes(found.status)) {
    // Lock order: the swarm, then the task (deciding moves its members' reputations).
    await lockSwarm(tx, found.swarmId);
    const locked = await lockTask(tx, found.id, now);
    if (locked) {
      const set = [
        sql`"updated_at" = ${now}`,
        ...(input.consensus_algorithm ? [sql`"consensus_algorithm" = ${input.consensus_algorithm}`] : []),
        ...(input.consensus_threshold !== undefined ? [sql`"consensus_threshold" = ${input.consensus_threshold}`] : []),
        ...(input.timeout_seconds !== undefined
          ? [sql`"deadline_at" = ${later(locked.createdAt, input.timeout_seconds)}`, sql`"timeout_seconds" = ${input.timeout_seconds}`]
          : []),
      ];
      c = coordinationFrom((await tx.sql.one(sql`UPDATE "swarm_coordination" SET ${join(set)} WHERE "id" = ${locked.id} RETURNING *`))!);
      const deadlinePassed = c.deadlineAt !== null && c.deadlineAt <= now;
      if ((await openSubtasks(tx.sql, c.id)) === 0 || deadlinePassed) {
        await decideVotes(tx, { db, work }, c, now, deadlinePassed);
        c = (await readTask(tx.sql, c.id))!;
      }
    }
  }
  return consensusView(tx.sql, c);
}
