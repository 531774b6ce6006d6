/**
 * The unit of work: a subtask row, as Prisma types it and as raw SQL reads
 * it (decoded to the same shape, so parents see one type either way).
 */
import type { PrismaTx } from '../db/client.ts';
import { flag, fromJson, raw, time } from '../db/sql.ts';

export type SubtaskRow = NonNullable<Awaited<ReturnType<PrismaTx['subtask']['findFirst']>>>;

/** Subtask states that still expect work from someone. */
export const OPEN_STATES: string[] = ['pending', 'assigned', 'leased'];

const COLUMNS = {
  id: 'id',
  ownerId: 'owner_id',
  networkId: 'network_id',
  executionId: 'execution_id',
  coordinationId: 'coordination_id',
  swarmId: 'swarm_id',
  seq: 'seq',
  replica: 'replica',
  payload: 'payload',
  requires: 'requires',
  priorityRank: 'priority_rank',
  status: 'status',
  assigneeId: 'assignee_id',
  assignedAt: 'assigned_at',
  claimBy: 'claim_by',
  leaseExpiresAt: 'lease_expires_at',
  attempts: 'attempts',
  maxAttempts: 'max_attempts',
  leaseSeconds: 'lease_seconds',
  maxAttemptSeconds: 'max_attempt_seconds',
  attemptDeadlineAt: 'attempt_deadline_at',
  backupDeadlineAt: 'backup_deadline_at',
  leaseId: 'lease_id',
  backupAssigneeId: 'backup_assignee_id',
  backupLeaseId: 'backup_lease_id',
  backupLeaseExpiresAt: 'backup_lease_expires_at',
  result: 'result',
  resultKey: 'result_key',
  accepted: 'accepted',
  validation: 'validation',
  error: 'error',
  startedAt: 'started_at',
  completedAt: 'completed_at',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
} satisfies Record<keyof SubtaskRow, string>;

/** Every column of subtasks, for SELECT and RETURNING (`prefix`: a table alias). */
export const subtaskColumns = (prefix = '') =>
  raw(
    Object.values(COLUMNS)
      .map((c) => `${prefix}"${c}"`)
      .join(', '),
  );

/**
 * Every column but the payload: what a result's RETURNING gives back (the
 * payload, possibly large, is the worker's input and settles nothing).
 * Rows read so have a null payload.
 */
export const settledColumns = (prefix = '') =>
  raw(
    Object.values(COLUMNS)
      .filter((c) => c !== 'payload')
      .map((c) => `${prefix}"${c}"`)
      .join(', '),
  );

/** A subtasks row read with raw SQL, as Prisma would have returned it. */
export function subtaskFrom(r: Record<string, unknown>): SubtaskRow {
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    networkId: (r.network_id as string | null) ?? null,
    executionId: (r.execution_id as string | null) ?? null,
    coordinationId: (r.coordination_id as string | null) ?? null,
    swarmId: (r.swarm_id as string | null) ?? null,
    seq: Number(r.seq),
    replica: Number(r.replica),
    payload: fromJson(r.payload),
    requires: fromJson(r.requires),
    priorityRank: Number(r.priority_rank),
    status: r.status as string,
    assigneeId: (r.assignee_id as string | null) ?? null,
    assignedAt: time(r.assigned_at),
    claimBy: time(r.claim_by),
    leaseExpiresAt: time(r.lease_expires_at),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    leaseSeconds: Number(r.lease_seconds),
    maxAttemptSeconds: Number(r.max_attempt_seconds),
    attemptDeadlineAt: time(r.attempt_deadline_at),
    backupDeadlineAt: time(r.backup_deadline_at),
    leaseId: (r.lease_id as string | null) ?? null,
    backupAssigneeId: (r.backup_assignee_id as string | null) ?? null,
    backupLeaseId: (r.backup_lease_id as string | null) ?? null,
    backupLeaseExpiresAt: time(r.backup_lease_expires_at),
    result: fromJson(r.result),
    resultKey: (r.result_key as string | null) ?? null,
    accepted: flag(r.accepted),
    validation: (r.validation as string | null) ?? null,
    error: (r.error as string | null) ?? null,
    startedAt: time(r.started_at),
    completedAt: time(r.completed_at),
    createdAt: time(r.created_at),
    updatedAt: time(r.updated_at),
  } as SubtaskRow;
}
