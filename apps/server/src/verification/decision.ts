/**
 * One subtask's copies decided under a verification policy (README
 * "Verification"), the same for an execution's and a swarm task's: core's
 * decideCopies says what they mean, and this writes it: more copies (placed
 * by the parent), each copy's validation, the winner accepted, the open
 * copies withdrawn, and the hosts' records moved. Call with the parent
 * locked; what the decision means for the parent (a subtask decided, the
 * next stage, the parent failed) is the parent's.
 */
import { randomInt } from 'node:crypto';
import {
  type CopyOutcome,
  decideCopies,
  type HostKind,
  isTrusted,
  spotCheckDue,
  type ValidatedBy,
  type VerificationSettings,
} from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { inList, sql } from '../db/sql.ts';
import type { WorkEngine } from '../work/engine.ts';
import type { ParentRef } from '../work/sql/cancel.ts';
import { OPEN_STATES, type SubtaskRow } from '../work/subtasks.ts';
import {
  type CheckedHosts,
  type CheckSource,
  countTrustedRun,
  endProbation,
  readRecords,
  recordChecks,
  startProbation,
  trustInSight,
} from './records.ts';

/** The stored validation of a copy validated by its host's trust alone (shown as validated, by trust). */
export const TRUSTED = 'trusted';

/** What a decision moved, for the parent's counters (zero while the subtask waits). */
export interface VerifiedCounts {
  results: number;
  replicas: number;
  invalid: number;
}

export type Verified =
  /** Decided before (accepted, or inconclusive): nothing to do. */
  | { state: 'decided' }
  | { state: 'waiting'; added: number }
  | { state: 'validated'; by: ValidatedBy; winner: SubtaskRow; counts: VerifiedCounts; checked: CheckedHosts }
  | { state: 'inconclusive'; reason: string; counts: VerifiedCounts }
  | { state: 'failed'; reason: string };

export interface CopiesOf {
  kind: HostKind;
  ownerId: string;
  parent: ParentRef;
  source: CheckSource;
}

function outcomeOf(s: SubtaskRow, trusted: boolean): CopyOutcome {
  if (s.status === 'completed') return { replica: s.replica, state: 'completed', result: s.result, trusted };
  if (s.status === 'failed') return { replica: s.replica, state: 'failed' };
  return { replica: s.replica, state: 'open' };
}

/** The hosts (assignees) of these copies. */
const hostsOf = (rows: SubtaskRow[]) => rows.flatMap((s) => (s.assigneeId ? [s.assigneeId] : []));

/** Whether a draw with probability `rate` comes up (a spot check), from the server's own randomness. */
export function drawn(rate: number): boolean {
  return rate > 0 && randomInt(1_000_000) < rate * 1_000_000;
}

/**
 * Decide one subtask from `rows` (every row of it, in replica order, read with their results and payloads).
 * `place(count, behind)` adds up to `count` copies on hosts holding none and returns how many it placed; `behind`:
 * at the back of their queues rather than in the subtask's place (a parent without trust decisions may ignore it).
 */
export async function verifySubtask(
  tx: Tx,
  deps: { db: Database; work: WorkEngine },
  of: CopiesOf,
  rows: SubtaskRow[],
  settings: VerificationSettings,
  place: (count: number, behind: boolean) => Promise<number>,
  now: Date,
): Promise<Verified> {
  if (rows.some((r) => r.accepted || r.validation === 'inconclusive')) return { state: 'decided' };
  const live = rows.filter((r) => r.status !== 'cancelled');
  const lone = settings.policy === 'adaptive' && live.length === 1 && live[0]!.status === 'completed' ? live[0]! : null;
  const host = lone?.assigneeId ? (await readRecords(tx.sql, [lone.assigneeId])).get(lone.assigneeId) : undefined;
  const trusted = host ? isTrusted(host, settings.trust_after, now) : false;
  const outcomes = live.map((s) => outcomeOf(s, trusted && s === lone));
  // A trusted host's lone result: drawn for a spot check, or checked whatever the draw at the end of a long run.
  const spotCheck = trusted && (drawn(settings.spot_check_rate) || spotCheckDue(host!.trustedRun, settings.spot_check_rate));
  if (trusted) await countTrustedRun(tx.sql, host!.id, spotCheck, now);
  const context = { canAdd: Number.MAX_SAFE_INTEGER, spotCheck };
  let decision = decideCopies(outcomes, settings, context);
  const completed = live.filter((s) => s.status === 'completed');
  const validationOf = async (ids: string[], state: string) => {
    if (ids.length > 0)
      await tx.sql.run(sql`UPDATE "subtasks" SET "validation" = ${state}, "updated_at" = ${now} WHERE "id" ${inList(ids)}`);
  };
  // Results now awaiting their check; under adaptive, their hosts never yet validated go on probation (core's record.ts).
  const pending = async () => {
    const fresh = completed.filter((s) => s.validation === null);
    await validationOf(
      fresh.map((s) => s.id),
      'pending',
    );
    if (settings.policy === 'adaptive')
      await startProbation(tx, of.kind, of.ownerId, hostsOf(fresh), Math.max(...rows.map((r) => r.leaseSeconds)), now);
  };

  if (decision.state === 'add_copies') {
    // A lone result of an untrusted host that its pending checks may make trusted: its copy waits at the back.
    const behind = host && settings.policy === 'adaptive' && !trusted ? await trustInSight(tx.sql, host, settings.trust_after) : false;
    const added = await place(decision.count, behind);
    if (added > 0) {
      await pending();
      tx.afterCommit(() => {
        deps.work.outcomes.verification.replicas += added;
      });
      return { state: 'waiting', added };
    }
    // Nobody can take another copy (the candidates changed since): decide without one.
    decision = decideCopies(outcomes, settings, { ...context, canAdd: 0 });
  }
  if (decision.state === 'add_copies' || decision.state === 'waiting') {
    await pending();
    return { state: 'waiting', added: 0 };
  }
  if (decision.state === 'failed') return decision;

  const counts: VerifiedCounts = { results: completed.length, replicas: rows.length - 1, invalid: 0 };
  const seq = rows[0]!.seq;
  if (live.some((s) => OPEN_STATES.includes(s.status))) await deps.work.cancelOpen(tx, of.parent, seq, now);
  if (decision.state === 'inconclusive') {
    await validationOf(
      completed.map((s) => s.id),
      'inconclusive',
    );
    if (settings.policy === 'adaptive') await endProbation(tx, deps.work, hostsOf(completed), now);
    tx.afterCommit(() => {
      deps.work.outcomes.verification.inconclusive++;
    });
    return { state: 'inconclusive', reason: decision.reason, counts };
  }

  const byReplica = new Map(live.map((s) => [s.replica, s]));
  const winner = byReplica.get(decision.winner)!;
  const agreeing = decision.agreeing.map((r) => byReplica.get(r)!);
  const dissenting = decision.dissenting.map((r) => byReplica.get(r)!);
  const by = decision.by;
  // The agreeing copies validated and the winner (one of them) accepted, in one statement.
  const agreed = [...new Set([winner.id, ...agreeing.map((s) => s.id)])];
  await tx.sql.run(sql`
    UPDATE "subtasks" SET "validation" = ${by === 'trust' ? TRUSTED : 'validated'},
      "accepted" = CASE WHEN "id" = ${winner.id} THEN ${true} ELSE "accepted" END, "updated_at" = ${now}
    WHERE "id" ${inList(agreed)}`);
  await validationOf(
    dissenting.map((s) => s.id),
    'invalid',
  );
  // Only a quorum checks its hosts: a result taken on trust says nothing new about its host.
  const checks = new Map<string, boolean[]>();
  if (by === 'quorum') {
    for (const s of agreeing) if (s.assigneeId) checks.set(s.assigneeId, [...(checks.get(s.assigneeId) ?? []), true]);
    for (const s of dissenting) if (s.assigneeId) checks.set(s.assigneeId, [...(checks.get(s.assigneeId) ?? []), false]);
  }
  const checked = await recordChecks(tx, deps, of.kind, of.ownerId, checks, settings, of.source, now);
  tx.afterCommit(() => {
    deps.work.outcomes.verification[by]++;
  });
  return { state: 'validated', by, winner, counts: { ...counts, invalid: dissenting.length }, checked };
}
