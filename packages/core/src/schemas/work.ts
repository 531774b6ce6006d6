/**
 * The worker protocol, shared by agents (network work) and swarm members:
 * claim subtasks under a lease, extend the lease while working, and post a
 * result or a failure with the lease id. Each call has a single-item form
 * (the original paths) and a batched one.
 */
import { z } from 'zod';
import { Id, IsoDateTime } from './common.ts';
import { checkJson, MAX_RESULT_BYTES } from './limits.ts';
import { ExecutionStatus, SubtaskStatus } from './network.ts';

/** Most subtasks one claim takes. */
export const MAX_CLAIM_BATCH = 100;
/** Longest a claim waits for work (long poll). */
export const MAX_WAIT_SECONDS = 30;
/** Most results and failures in one request. */
export const MAX_RESULT_BATCH = 100;
/** Most leases one heartbeat extends. */
export const MAX_HEARTBEAT_BATCH = 1000;

export const LeaseSeconds = z.number().int().min(1).max(3600);

const WaitSeconds = z
  .number()
  .min(0)
  .max(MAX_WAIT_SECONDS)
  .optional()
  .describe(
    `long poll: when nothing waits, hold the claim open up to this many seconds (at most ${MAX_WAIT_SECONDS}) and answer as soon as work is assigned`,
  );

const ClaimMax = z.number().int().min(1).max(MAX_CLAIM_BATCH).default(1).describe(`most subtasks to take (at most ${MAX_CLAIM_BATCH})`);

export const ClaimRequest = z.object({
  agent_id: Id,
  lease_seconds: LeaseSeconds.optional().describe('defaults to the network’s lease_seconds'),
  wait_seconds: WaitSeconds,
});

export const ClaimBatchRequest = ClaimRequest.extend({ max: ClaimMax });

/** What a worker gets: the subtask's own payload, never the whole task. */
export const ClaimedSubtask = z.object({
  subtask_id: z.string(),
  lease_id: z.string().describe('present it with heartbeats, results and failures'),
  lease_expires_at: IsoDateTime,
  execution_id: z.string().nullable().describe('an agent network’s execution; null for swarm work'),
  network_id: z.string().nullable(),
  task_id: z.string().nullable().describe('a swarm coordination task; null for network work'),
  swarm_id: z.string().nullable(),
  seq: z.number().int(),
  replica: z.number().int(),
  attempt: z.number().int(),
  backup: z
    .boolean()
    .describe('a backup copy of a subtask another assignee is running: the first result wins, and the other copy’s lease is cancelled'),
  payload: z.unknown(),
  requires: z.array(z.string()),
});
export type ClaimedSubtask = z.infer<typeof ClaimedSubtask>;

export const ClaimResult = z.object({ subtask: ClaimedSubtask.nullable().describe('null when nothing is waiting for this agent') });
export type ClaimResult = z.infer<typeof ClaimResult>;

export const ClaimBatch = z.object({
  subtasks: z.array(ClaimedSubtask).describe('empty when nothing was waiting (or came within wait_seconds)'),
});
export type ClaimBatch = z.infer<typeof ClaimBatch>;

export const LeaseRef = z.object({ subtask_id: Id, lease_id: Id });
export type LeaseRef = z.infer<typeof LeaseRef>;

export const HeartbeatRequest = LeaseRef.extend({ lease_seconds: LeaseSeconds.optional() });

const Result = z
  .unknown()
  .refine((v) => v !== undefined, 'a result is required (any JSON, null included)')
  .superRefine((v, ctx) => void checkJson(v, MAX_RESULT_BYTES, ctx, [], 'the result'));

export const ResultRequest = LeaseRef.extend({ result: Result });

const FailureText = z.string().max(8000);

/** A failure the worker knows will fail again (a bad input, not a flaky host): the subtask fails for good at once. */
const Retryable = z.boolean().describe('false: retrying cannot help (a bad input); the subtask fails for good now (default true)');

export const FailureRequest = LeaseRef.extend({
  error: FailureText.default('the worker reported a failure'),
  retryable: Retryable.optional(),
});

export const LeaseView = z.object({
  subtask_id: z.string(),
  status: SubtaskStatus,
  lease_expires_at: IsoDateTime.nullable(),
  execution_id: z.string().nullable(),
  network_id: z.string().nullable(),
  execution_status: ExecutionStatus.nullable().describe('for network work'),
  task_id: z.string().nullable(),
  swarm_id: z.string().nullable(),
  task_status: z.string().nullable().describe('for swarm work: the coordination task’s status'),
});
export type LeaseView = z.infer<typeof LeaseView>;

/** Why a lease's holder was refused. */
export const REFUSALS = ['NOT_FOUND', 'LEASE_EXPIRED', 'LEASE_LOST', 'CANCELLED', 'CONFLICT', 'INVALID'] as const;
export const Refusal = z
  .enum(REFUSALS)
  .describe(
    'NOT_FOUND: no such subtask of yours; LEASE_EXPIRED: the lease ran out (refused whether or not the subtask was handed on yet); ' +
      'LEASE_LOST: another claim or outcome took it; CANCELLED: its execution or task was cancelled or decided without it; ' +
      'CONFLICT: a different result was already recorded under this lease; INVALID: this result breaks a limit',
  );
export type Refusal = z.infer<typeof Refusal>;

export const LeaseHeartbeatBatchRequest = z.object({
  leases: z.array(LeaseRef).min(1).max(MAX_HEARTBEAT_BATCH).describe(`every lease the worker holds (at most ${MAX_HEARTBEAT_BATCH})`),
  lease_seconds: LeaseSeconds.optional().describe('defaults to each subtask’s lease_seconds'),
});

export const LeaseState = LeaseRef.extend({
  held: z.boolean().describe('true: extended; false: the holder should stop working on it'),
  lease_expires_at: IsoDateTime.nullable(),
  refusal: Refusal.nullable(),
  message: z.string().nullable(),
});
export const LeaseHeartbeatBatchView = z.object({ leases: z.array(LeaseState) });
export type LeaseHeartbeatBatchView = z.infer<typeof LeaseHeartbeatBatchView>;

/**
 * One outcome in a batch: a result, or a failure (`error`). A result is not
 * checked against the limits here, so that one too large is refused on its
 * own (INVALID) rather than refusing the whole batch.
 */
export const ReportedOutcome = z.union([
  LeaseRef.extend({ result: z.unknown().refine((v) => v !== undefined, 'a result is required (any JSON, null included)') }).strict(),
  LeaseRef.extend({ error: FailureText, retryable: Retryable.optional() }).strict(),
]);
export type ReportedOutcome = z.infer<typeof ReportedOutcome>;

export const ResultBatchRequest = z.object({
  results: z
    .array(ReportedOutcome)
    .min(1)
    .max(MAX_RESULT_BATCH)
    .describe(`results ({subtask_id, lease_id, result}) and failures ({subtask_id, lease_id, error}), at most ${MAX_RESULT_BATCH}`),
});

export const OUTCOME_STATES = ['recorded', 'already_recorded', 'refused'] as const;
export const RecordedOutcome = LeaseRef.extend({
  status: z.enum(OUTCOME_STATES).describe('already_recorded: the same outcome was posted before under this lease (a retry)'),
  refusal: Refusal.nullable(),
  message: z.string().nullable(),
});
export type RecordedOutcome = z.infer<typeof RecordedOutcome>;

export const ResultBatchView = z.object({
  results: z.array(RecordedOutcome).describe('one per item, in the order sent'),
  recorded: z.number().int().describe('items that stand: recorded now, or already recorded before'),
  refused: z.number().int(),
});
export type ResultBatchView = z.infer<typeof ResultBatchView>;

/** Why a result breaks the limits (in the words the single-result call uses), or null: a batch refuses that item alone. */
export function resultProblem(result: unknown): string | null {
  const problems: string[] = [];
  checkJson(
    result,
    MAX_RESULT_BYTES,
    { addIssue: (issue: { message?: string }) => problems.push(issue.message ?? 'invalid') } as never,
    [],
    'the result',
  );
  return problems[0] ?? null;
}
