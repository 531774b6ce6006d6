/**
 * Leases: heartbeats that extend them, who holds them, why one is not held
 * (any more), and a subtask's lease as it stands (see the fencing rule in
 * work/engine.ts).
 */
import type { LeaseView, Refusal } from '@aitbc/core';
import type { Sql } from '../db/sql.ts';
import { conflict, DomainError, notFound } from '../errors.ts';
import { parentOf } from './parent.ts';
import type { Assignee, EngineState } from './state.ts';
import { describe } from './views.ts';
import type { SubtaskRow } from './subtasks.ts';

/** A refused lease or outcome, as the batch answers say it and the single calls throw it. */
export interface Refused {
  refusal: Refusal;
  message: string;
}

export type LeaseState =
  | { subtask_id: string; lease_id: string; held: true; lease_expires_at: string; refusal: null; message: null }
  | { subtask_id: string; lease_id: string; held: false; lease_expires_at: null; refusal: Refusal; message: string };

/** Refusals a single-item call turns into an error: NOT_FOUND is a 404, the rest 409s. */
export function refusalError(r: Refused): DomainError {
  return r.refusal === 'NOT_FOUND' ? notFound(r.message) : conflict(r.message);
}

/** Extend every listed lease the caller still holds; each lease is answered on its own. */
export async function extend(
  w: EngineState,
  ownerId: string,
  leases: { subtask_id: string; lease_id: string }[],
  leaseSeconds: number | undefined,
): Promise<LeaseState[]> {
  const now = w.deps.clock.now();
  const unique = [...new Map(leases.map((l) => [`${l.subtask_id}\n${l.lease_id}`, l])).values()];
  const extended = await w.deps.db.run((_, sql) => w.deps.sql.extendLeases(sql, ownerId, unique, leaseSeconds, now));
  // By subtask and lease: a subtask's first copy and its backup are two leases.
  const held = new Map(extended.map((e) => [`${e.subtaskId}\n${e.leaseId}`, e]));
  const byLease = (l: { subtask_id: string; lease_id: string }) => held.get(`${l.subtask_id}\n${l.lease_id}`);
  await sawAssignees(w, ownerId, extended, now);
  const missing = unique.filter((l) => byLease(l) === undefined);
  const why = missing.length ? await w.deps.db.run((_, sql) => refusals(w, sql, ownerId, missing, now)) : new Map<string, Refused>();
  return leases.map((l) => {
    const e = byLease(l);
    if (e) return { ...l, held: true, lease_expires_at: e.leaseExpiresAt.toISOString(), refusal: null, message: null };
    const refused = why.get(`${l.subtask_id}\n${l.lease_id}`)!;
    return { ...l, held: false, lease_expires_at: null, ...refused };
  });
}

/**
 * Who was given each of these leases, by subtask and lease id: the
 * assignee of its claim attempt, whether the lease is still held or has
 * ended (expired, failed, cancelled, beaten by a backup). A lease that was
 * never given on that subtask, or is another owner's, is absent.
 */
export async function leaseHolders(
  w: EngineState,
  ownerId: string,
  leases: { subtask_id: string; lease_id: string }[],
): Promise<Map<string, Assignee>> {
  const ids = [...new Set(leases.map((l) => l.lease_id))];
  const rows = ids.length ? await w.deps.db.run((_, sql) => w.deps.sql.attemptHolders(sql, ownerId, ids)) : [];
  return new Map(rows.map((a) => [`${a.subtaskId}\n${a.leaseId}`, { kind: a.kind, id: a.assigneeId }]));
}

/** Lease heartbeats and results are signs of life of whoever holds the work. */
export async function sawAssignees(
  w: EngineState,
  ownerId: string,
  rows: { assigneeId: string | null; kind: Assignee['kind'] }[],
  now: Date,
): Promise<void> {
  const seen = new Map(rows.flatMap((r) => (r.assigneeId ? [[r.assigneeId, r.kind] as const] : [])));
  for (const [id, kind] of seen) {
    // A member that left may still post what it finished: only its own refusal is ignored.
    await w.deps.presence.seen(ownerId, { kind, id }, now).catch((error: unknown) => {
      if (!(error instanceof DomainError)) throw error;
    });
  }
}

/** Why each of these leases is not held (any more), by subtask and lease id. */
export async function refusals(
  w: EngineState,
  sql: Sql,
  ownerId: string,
  leases: { subtask_id: string; lease_id: string }[],
  now: Date,
): Promise<Map<string, Refused>> {
  const rows = new Map((await w.deps.sql.readSubtasks(sql, ownerId, [...new Set(leases.map((l) => l.subtask_id))])).map((s) => [s.id, s]));
  const attempts = await w.deps.sql.attemptOutcomes(
    sql,
    leases.filter((l) => rows.get(l.subtask_id)?.leaseId !== l.lease_id).map((l) => l.lease_id),
  );
  const why = new Map<string, Refused>();
  for (const { subtask_id: id, lease_id: lease } of leases) {
    const s = rows.get(id);
    const held = `Lease ${lease} on subtask ${id}`;
    const attempt = attempts.get(lease);
    const expired =
      (s?.leaseId === lease && s.status === 'leased' && s.leaseExpiresAt! <= now) ||
      (s?.backupLeaseId === lease && s.status === 'leased' && (s.backupLeaseExpiresAt?.getTime() ?? 0) <= now.getTime()) ||
      (attempt?.subtaskId === id && attempt.outcome === 'expired');
    const beaten = s?.status === 'completed' && s.backupLeaseId === lease && attempt?.outcome === 'cancelled';
    why.set(
      `${id}\n${lease}`,
      !s
        ? { refusal: 'NOT_FOUND', message: `Subtask ${id} not found` }
        : expired
          ? {
              refusal: 'LEASE_EXPIRED',
              message:
                s.leaseId === lease && s.attemptDeadlineAt && s.attemptDeadlineAt <= now
                  ? `${held} has expired: the attempt ran past its time limit (max_attempt_seconds ${s.maxAttemptSeconds}), whatever its heartbeats said; the subtask goes back to the queue`
                  : `${held} has expired: a heartbeat or outcome after the lease ran out is refused, and the subtask goes back to the queue`,
            }
          : beaten
            ? {
                refusal: 'CANCELLED',
                message: `${held} is no longer held: another copy of the subtask (a backup) finished first, so this copy's work is not needed`,
              }
            : s.status === 'cancelled' || (attempt?.subtaskId === id && attempt.outcome === 'cancelled')
              ? {
                  refusal: 'CANCELLED',
                  message: `${held} is no longer held: it was cancelled (its execution or task was cancelled or already decided)`,
                }
              : s.leaseId === lease
                ? { refusal: 'LEASE_LOST', message: `${held} is no longer held: it is already ${s.status}` }
                : {
                    refusal: 'LEASE_LOST',
                    message:
                      attempt?.subtaskId === id
                        ? `${held} is no longer held: its ${attempt.outcome === 'failed' ? 'failure was reported and it was handed on' : 'attempt ended'}`
                        : `${held} is no longer held: it was handed to another claim`,
                  },
    );
  }
  return why;
}

/**
 * What recording learned that a single result's answer would otherwise read again: the rows of results decided
 * alone, and the parents' statuses their done checks left.
 */
export interface Known {
  rows: Map<string, SubtaskRow>;
  parents: Map<string, string>;
}

/** A subtask's lease as it stands now (the single-item calls answer with it). */
export async function leaseView(w: EngineState, ownerId: string, subtaskId: string, known?: Known): Promise<LeaseView> {
  return w.deps.db.run(async (_, sql) => {
    const row = known?.rows.get(subtaskId);
    const [s] = row ? [row] : await w.deps.sql.readSubtasks(sql, ownerId, [subtaskId]);
    if (!s) throw notFound(`Subtask ${subtaskId} not found`);
    const parentId = parentOf(s)?.id ?? '';
    // The parent's status as the result's done check left it, when it ran one: not read again.
    const checked = known?.parents.get(parentId);
    const described = (await describe(w, sql, [s], checked === undefined)).get(parentId);
    const about = described && checked !== undefined ? { ...described, status: checked } : described;
    return {
      subtask_id: s.id,
      status: s.status as LeaseView['status'],
      lease_expires_at: s.leaseExpiresAt?.toISOString() ?? null,
      execution_id: about?.execution_id ?? null,
      network_id: about?.network_id ?? null,
      execution_status: s.executionId ? ((about?.status ?? 'running') as LeaseView['execution_status']) : null,
      task_id: about?.task_id ?? null,
      swarm_id: about?.swarm_id ?? null,
      task_status: s.coordinationId ? (about?.status ?? null) : null,
    };
  });
}
