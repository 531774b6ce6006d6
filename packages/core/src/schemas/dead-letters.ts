/**
 * A subtask's history (every attempt and how it ended), and dead letters:
 * the subtasks of network executions that failed for good, failing their
 * execution, listed per owner and redriven once the cause is fixed.
 */
import { z } from 'zod';
import { Id, IsoDateTime, NextCursor, PageQuery } from './common.ts';
import { SubtaskStatus } from './network.ts';

export const ATTEMPT_OUTCOMES = ['open', 'completed', 'failed', 'expired', 'cancelled'] as const;

export const AttemptView = z.object({
  lease_id: z.string().describe('the attempt’s id is its lease id'),
  assignee_id: z.string().describe('the agent or member that claimed it'),
  backup: z.boolean().describe('a speculative backup copy, run beside the first'),
  outcome: z.enum(ATTEMPT_OUTCOMES),
  error: z.string().nullable().describe('why it failed or expired, in the worker’s words or the server’s'),
  started_at: IsoDateTime,
  ended_at: IsoDateTime.nullable(),
});
export type AttemptView = z.infer<typeof AttemptView>;

export const SubtaskIdParam = z.object({ subtask_id: Id });

export const SubtaskHistory = z.object({
  subtask_id: z.string(),
  status: SubtaskStatus.describe('pending: a failed attempt’s retry waits out its backoff until retry_at'),
  execution_id: z.string().nullable(),
  network_id: z.string().nullable(),
  task_id: z.string().nullable(),
  swarm_id: z.string().nullable(),
  seq: z.number().int(),
  replica: z.number().int(),
  assignee_id: z.string().nullable(),
  attempts: z.number().int().describe('claims so far'),
  max_attempts: z.number().int(),
  max_attempt_seconds: z.number().int(),
  retry_at: IsoDateTime.nullable().describe('pending: when the retry is handed out'),
  lease_expires_at: IsoDateTime.nullable(),
  error: z.string().nullable().describe('the last attempt’s error'),
  created_at: IsoDateTime,
  completed_at: IsoDateTime.nullable(),
  history: z.array(AttemptView).describe('every attempt, oldest first'),
});
export type SubtaskHistory = z.infer<typeof SubtaskHistory>;

export const DeadLetterQuery = PageQuery.extend({
  network_id: Id.optional(),
  execution_id: Id.optional(),
  error: z.string().trim().min(1).max(200).optional().describe('only those whose last error contains this text'),
});

export const DeadLetterView = z.object({
  subtask_id: z.string(),
  network_id: z.string(),
  execution_id: z.string(),
  seq: z.number().int(),
  attempts: z.number().int(),
  error: z.string().describe('its last attempt’s error'),
  failed_at: IsoDateTime,
});
export type DeadLetterView = z.infer<typeof DeadLetterView>;

export const DeadLetterList = z.object({ dead_letters: z.array(DeadLetterView), next_cursor: NextCursor });

/** Most dead letters one redrive takes; the rest stay for the next. */
export const MAX_REDRIVE = 1000;

export const RedriveRequest = z
  .object({
    subtask_ids: z.array(Id).min(1).max(MAX_REDRIVE).optional().describe('these dead letters (default: every one the filters select)'),
    network_id: Id.optional(),
    execution_id: Id.optional(),
    error: z.string().trim().min(1).max(200).optional().describe('only those whose last error contains this text'),
  })
  .describe('which dead letters to run again: every one of yours, or those the ids and filters select');
export type RedriveRequest = z.input<typeof RedriveRequest>;

export const RedriveView = z.object({
  redriven: z
    .array(z.object({ execution_id: z.string(), subtasks: z.number().int().describe('subtasks queued again with fresh attempts') }))
    .describe('executions running again'),
  skipped: z.array(z.object({ execution_id: z.string(), reason: z.string() })).describe('executions that cannot run again, and why'),
});
export type RedriveView = z.infer<typeof RedriveView>;
