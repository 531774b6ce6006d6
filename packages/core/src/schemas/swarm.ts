import { z } from 'zod';
import { Id, Idempotent, IsoDateTime, NextCursor, PageQuery } from './common.ts';
import { MAX_ITEMS_PER_TASK, MAX_SUBTASKS_PER_TASK, Reducer } from './network.ts';
import { checkChunks, checkJson, MAX_COPIED_BYTES, MAX_TASK_BYTES } from './limits.ts';
import { RetrySettings } from './retries.ts';
import { SpeculationView, StragglerSettings } from './stragglers.ts';
import { ClaimBatchRequest, ClaimRequest, LeaseSeconds, MAX_WAIT_SECONDS } from './work.ts';
import { HostLabel, ValidatedBy, ValidationState, VerificationInput, VerificationView } from './verification.ts';

export const SWARM_ROLES = ['load-balancer', 'resource-optimizer', 'task-coordinator', 'monitor'] as const;
export const SwarmRole = z.enum(SWARM_ROLES, { error: () => `Invalid role. Must be one of: ${SWARM_ROLES.join(', ')}` });
export type SwarmRole = z.infer<typeof SwarmRole>;

export const MEMBER_PRIORITIES = ['low', 'normal', 'high'] as const;
export const MemberPriority = z.enum(MEMBER_PRIORITIES, {
  error: () => `Invalid priority. Must be one of: ${MEMBER_PRIORITIES.join(', ')}`,
});
export type MemberPriority = z.infer<typeof MemberPriority>;

/** active → suspect (silent for suspect_after) → failed (silent for fail_after); a heartbeat revives; left is final. */
export const MEMBER_STATUSES = ['active', 'suspect', 'failed', 'left'] as const;
export const MemberStatus = z.enum(MEMBER_STATUSES);
export type MemberStatus = z.infer<typeof MemberStatus>;

export const CONSENSUS_ALGORITHMS = ['majority-vote', 'weighted', 'threshold', 'unanimous'] as const;
export const ConsensusAlgorithm = z.enum(CONSENSUS_ALGORITHMS, {
  error: () => `Invalid consensus algorithm. Must be one of: ${CONSENSUS_ALGORITHMS.join(', ')}`,
});
export type ConsensusAlgorithm = z.infer<typeof ConsensusAlgorithm>;

/**
 * Coordination strategies: the spec's (`map-reduce`, the default, `broadcast`,
 * `pipeline`) and the legacy CLI's (`consensus`, `leader-election`,
 * `distributed`). Their meanings are in the README and `swarms/plans.ts`.
 */
export const SPEC_SWARM_STRATEGIES = ['map-reduce', 'broadcast', 'pipeline'] as const;
export const LEGACY_SWARM_STRATEGIES = ['consensus', 'leader-election', 'distributed'] as const;
export const SWARM_STRATEGIES = [...SPEC_SWARM_STRATEGIES, ...LEGACY_SWARM_STRATEGIES] as const;
export const SwarmStrategy = z.enum(SWARM_STRATEGIES, { error: () => `Invalid strategy. Must be one of: ${SWARM_STRATEGIES.join(', ')}` });
export type SwarmStrategy = z.infer<typeof SwarmStrategy>;
/** Strategies whose members' results are votes. */
export const VOTING_STRATEGIES: readonly SwarmStrategy[] = ['broadcast', 'consensus'];

/** Selection's default collaborators: the spec's 3, the legacy CLI's 5. */
export const DEFAULT_COLLABORATORS = { spec: 3, legacy: 5 } as const;
/** The legacy CLI's consensus threshold. */
export const DEFAULT_CONSENSUS_THRESHOLD = 0.7;

const Tag = z.string().trim().min(1).max(100);
const Region = z.string().trim().min(1).max(50);
export const SwarmId = Id.describe('a swarm id (swarm_…)');
export const MemberId = Id.describe('a member id (member_…)');
export const TaskId = z.string().trim().min(1).max(200);

// ---------------------------------------------------------------- membership

export const JoinRequest = z.object({
  role: SwarmRole,
  capability: Tag,
  region: Region.nullish(),
  priority: MemberPriority.default('normal'),
  host: HostLabel.nullish(),
  swarm_id: SwarmId.optional().describe(
    'join this swarm; without it, your swarm for this capability (created when there is none). One swarm holds every region: region is the member’s, and selection filters on it',
  ),
  suspect_after_seconds: z
    .number()
    .int()
    .min(1)
    .max(86_400)
    .optional()
    .describe("sets the swarm's: silent this long, a member is suspect (default 15)"),
  fail_after_seconds: z
    .number()
    .int()
    .min(1)
    .max(86_400)
    .optional()
    .describe("sets the swarm's: silent this long, a member has failed (default 45)"),
});
export type JoinRequest = z.input<typeof JoinRequest>;

export const MemberView = z.object({
  member_id: z.string(),
  swarm_id: z.string(),
  role: z.string(),
  capability: z.string(),
  region: z.string().nullable(),
  priority: MemberPriority,
  host: z.string().nullable().describe('the machine it runs on: copies of one subtask never go to two members of one host'),
  status: MemberStatus,
  reputation: z.number().describe('agreement with decided consensus, a bounded moving average in [0, 1]; 0.5 when new'),
  joined_at: IsoDateTime,
  last_heartbeat_at: IsoDateTime.nullable(),
  seconds_since_heartbeat: z.number().nullable(),
  left_at: IsoDateTime.nullable(),
});
export type MemberView = z.infer<typeof MemberView>;

export const JoinView = MemberView.extend({ joined_at: IsoDateTime });
export type JoinView = z.infer<typeof JoinView>;

export const LeaveRequest = z.object({
  swarm_id: SwarmId,
  member_id: MemberId.optional().describe('without it, every one of your members in the swarm leaves'),
});
export const LegacyLeaveRequest = z.object({ swarm_id: SwarmId });

export const LeaveView = z.object({
  swarm_id: z.string(),
  member_id: z.string().describe('the (first) member that left'),
  left_at: IsoDateTime,
  status: z.literal('left'),
  members: z.array(z.string()).describe('every member that left'),
  requeued_subtasks: z.number().int().describe('work they held, handed to other members'),
});
export type LeaveView = z.infer<typeof LeaveView>;

export const MemberHeartbeatRequest = z.object({ member_id: MemberId });

/** A host running many members sends their heartbeats together. */
export const MAX_HEARTBEATS_PER_BATCH = 1000;
export const HeartbeatBatchRequest = z.object({ member_ids: z.array(MemberId).min(1).max(MAX_HEARTBEATS_PER_BATCH) });
export const HeartbeatBatchView = z.object({
  accepted: z.number().int().describe('heartbeats taken'),
  refused: z
    .array(z.object({ member_id: z.string(), code: z.enum(['NOT_FOUND', 'CONFLICT']), message: z.string() }))
    .describe('members that are not yours or have left'),
});
export type HeartbeatBatchView = z.infer<typeof HeartbeatBatchView>;
export const MemberHeartbeatView = z.object({
  member_id: z.string(),
  swarm_id: z.string(),
  status: MemberStatus,
  last_heartbeat_at: IsoDateTime,
  suspect_at: IsoDateTime.describe('silent until then, it becomes suspect'),
  fail_at: IsoDateTime.describe('silent until then, it has failed'),
});
export type MemberHeartbeatView = z.infer<typeof MemberHeartbeatView>;

// ---------------------------------------------------------------- swarms

export const SWARM_STATUSES = ['active', 'degraded', 'empty'] as const;
export const SwarmStatus = z.enum(SWARM_STATUSES);

export const MemberCounts = z.object({
  active: z.number().int(),
  suspect: z.number().int(),
  failed: z.number().int(),
  left: z.number().int(),
});

export const SwarmView = z.object({
  swarm_id: z.string(),
  capability: z.string(),
  status: SwarmStatus.describe('active: some member is active; degraded: members, none active; empty: every member left'),
  coordination_status: z.string().describe('coordinating while tasks are queued or running, else idle'),
  members: z.array(MemberView).describe('members that have not left'),
  member_counts: MemberCounts,
  suspect_after_seconds: z.number().int(),
  fail_after_seconds: z.number().int(),
  created_at: IsoDateTime,
});
export type SwarmView = z.infer<typeof SwarmView>;

export const SwarmListQuery = PageQuery.extend({
  swarm_id: SwarmId.optional(),
  status: SwarmStatus.optional(),
  members_limit: z.coerce
    .number()
    .int()
    .min(0)
    .max(10_000)
    .default(100)
    .describe('members shown per swarm (oldest first); member_counts has the totals'),
});
export const SwarmList = z.object({ swarms: z.array(SwarmView), total_count: z.number().int(), next_cursor: NextCursor });
export type SwarmList = z.infer<typeof SwarmList>;

export const SwarmMetricsView = z.object({
  avg_task_time: z.number().nullable().describe('mean seconds from claim to result of completed member attempts'),
  success_rate: z.number().nullable().describe('completed / (completed + failed + timed out) tasks'),
  coordination_efficiency: z
    .number()
    .nullable()
    .describe('share of finished member attempts whose result was used (an accepted result, or a vote that agreed with the consensus)'),
  sample: z.object({ tasks: z.number().int(), attempts: z.number().int() }),
});

export const SwarmStatusQuery = z.object({ swarm_id: SwarmId.optional() });
export const SwarmStatusView = z.object({
  swarm_id: z.string(),
  member_count: z.number().int().describe('members that have not left'),
  member_counts: MemberCounts,
  active_tasks: z.number().int().describe('coordination tasks queued or running'),
  coordination_status: z.string(),
  performance_metrics: SwarmMetricsView,
  verification: VerificationView.describe('the swarm’s verified work in all'),
});
export type SwarmStatusView = z.infer<typeof SwarmStatusView>;

// ---------------------------------------------------------------- coordination

/**
 * `parameters` steer the coordination; the rest of the object is passed to
 * members as `params` (map-reduce, distributed) or as the payload (the others).
 */
export const CoordinationParameters = z
  .looseObject({
    items: z
      .array(z.unknown())
      .min(1)
      .max(MAX_ITEMS_PER_TASK)
      .optional()
      .describe('map-reduce and distributed: the items to split across members'),
    chunk_size: z.number().int().min(1).max(MAX_ITEMS_PER_TASK).optional(),
    reduce: Reducer.optional().describe('map-reduce: how chunk results combine (default concat)'),
    payload: z.unknown().optional().describe('the work every member (broadcast, consensus) or the leader gets; default: the task'),
    stages: z.array(z.unknown()).min(1).max(100).optional().describe('pipeline: one element per stage, run in order'),
    capability: Tag.optional().describe('only members with this capability'),
    region: Region.optional(),
    role: SwarmRole.optional(),
    collaborators: z.number().int().min(1).max(1000).optional(),
    consensus_algorithm: ConsensusAlgorithm.optional(),
    consensus_threshold: z.number().gt(0).max(1).optional(),
    compare: z.string().trim().min(1).max(200).optional().describe('compare votes by this field path (a.b.0) instead of the whole result'),
    timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .optional(),
    lease_seconds: z.number().int().min(1).max(3600).optional(),
    max_attempts: z.number().int().min(1).max(100).optional(),
    verification: VerificationInput.optional(),
  })
  // The straggler settings, as for networks; a voting task (consensus, broadcast) never speculates: a vote is a member's own work.
  .extend(StragglerSettings.partial().shape)
  // Retries and the attempt time limit, as for networks.
  .extend(RetrySettings.partial().shape)
  .superRefine((parameters, ctx) => checkChunks(parameters, MAX_SUBTASKS_PER_TASK, ctx));
export type CoordinationParameters = z.infer<typeof CoordinationParameters>;

/** Both bodies: the spec's `{task_id, strategy, parameters}` and the legacy `{task, collaborators, strategy, timeout_seconds}`. */
export const CoordinateRequest = z
  .object({
    task_id: TaskId.optional().describe('generated when absent; unique among your tasks'),
    swarm_id: SwarmId.optional().describe('default: your swarm with the most eligible members'),
    strategy: SwarmStrategy.default('map-reduce'),
    parameters: CoordinationParameters.default({}),
    task: z.unknown().optional().describe('the legacy body’s task (any JSON)'),
    collaborators: z.number().int().min(1).max(1000).optional().describe('members to select (default 3; 5 for the legacy strategies)'),
    timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .optional()
      .describe('the task times out after this (default 3600)'),
    ...Idempotent,
  })
  .superRefine((request, ctx) => {
    // Limits (docs/limits.md): depth and size of the task and of the parameters, and of the work copied to every member or chunk.
    const task = checkJson(request.task, MAX_TASK_BYTES, ctx, ['task'], 'the task');
    if (!checkJson(request.parameters, MAX_TASK_BYTES, ctx, ['parameters'], 'the parameters') || !task) return;
    const { strategy, parameters } = request;
    const copied =
      strategy === 'broadcast' ||
      strategy === 'consensus' ||
      ((strategy === 'map-reduce' || strategy === 'distributed') && parameters.items !== undefined);
    const where = parameters.payload !== undefined ? ['parameters', 'payload'] : request.task !== undefined ? ['task'] : ['parameters'];
    if (copied) checkJson(workOf(parameters, request.task), MAX_COPIED_BYTES, ctx, where, 'the work copied to every member or chunk');
  });
export type CoordinateRequest = z.input<typeof CoordinateRequest>;

export const TASK_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out'] as const;
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;
/**
 * The `status` a task view reports. A task whose deadline passed is stored as `timed_out` (swarm metrics count
 * it apart), but its views report `failed` with `timed_out: true`: the legacy CLI polls a task until it is
 * completed, failed or cancelled, and would never stop on a status it does not know. New clients read
 * `timed_out` for the distinction.
 */
export const REPORTED_TASK_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export const ReportedTaskStatus = z.enum(REPORTED_TASK_STATUSES);
export type ReportedTaskStatus = z.infer<typeof ReportedTaskStatus>;

export function reportedTaskStatus(stored: TaskStatus): { status: ReportedTaskStatus; timed_out: boolean } {
  return stored === 'timed_out' ? { status: 'failed', timed_out: true } : { status: stored, timed_out: false };
}

const TimedOut = z.boolean().describe('true when the task ended at its deadline (its status is then failed)');

/** A task in these states still takes work and votes; the others are final. */
export const LIVE_TASK_STATUSES: readonly string[] = ['queued', 'running'] satisfies TaskStatus[];

export const CoordinateView = z.object({
  task_id: z.string(),
  swarm_id: z.string(),
  coordination_strategy: SwarmStrategy,
  status: ReportedTaskStatus,
  timed_out: TimedOut,
  assigned_members: z.array(z.string()),
  collaborators: z.number().int(),
  consensus_algorithm: ConsensusAlgorithm.nullable(),
  subtasks: z.number().int(),
  deadline_at: IsoDateTime.nullable(),
  started_at: IsoDateTime,
});
export type CoordinateView = z.infer<typeof CoordinateView>;

export const TaskIdParam = z.object({ task_id: TaskId });

export const TaskStatusQuery = TaskIdParam.extend({
  wait_seconds: z.coerce
    .number()
    .min(0)
    .max(MAX_WAIT_SECONDS)
    .optional()
    .describe(
      `long poll: while the task is queued or running, hold the answer up to this many seconds (at most ${MAX_WAIT_SECONDS}) and answer as soon as it ends`,
    ),
});

export const VoteView = z.object({
  result_hash: z.string(),
  preview: z.string(),
  count: z.number().int(),
  weight: z.number(),
  members: z.array(z.string()),
});
export type VoteView = z.infer<typeof VoteView>;

export const CONSENSUS_STATES = ['pending', 'reached', 'failed'] as const;

export const ConsensusView = z.object({
  task_id: z.string(),
  swarm_id: z.string(),
  consensus_algorithm: ConsensusAlgorithm,
  consensus_threshold: z.number().nullable(),
  consensus_reached: z.boolean(),
  status: z.enum(CONSENSUS_STATES),
  result: z
    .object({ final_answer: z.unknown(), votes: z.record(z.string(), z.number()) })
    .nullable()
    .describe('the winning result and the count of each distinct result; null until reached'),
  confidence_score: z.number().nullable().describe('the winning share of the vote weight'),
  votes: z.array(VoteView),
  participating_members: z.array(z.string()),
  dissenting_members: z.array(z.string()),
  expected_votes: z.number().int(),
  reason: z.string().nullable().describe('why it failed, or what it waits for'),
  consensus_reached_at: IsoDateTime.nullable(),
  deadline_at: IsoDateTime.nullable(),
});
export type ConsensusView = z.infer<typeof ConsensusView>;

export const ConsensusRequest = z.object({
  task_id: TaskId,
  consensus_algorithm: ConsensusAlgorithm.optional().describe("default: the task's, else majority-vote"),
  consensus_threshold: z.number().gt(0).max(1).optional(),
  timeout_seconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .optional()
    .describe('votes are awaited until this long after the task started'),
});
export const LegacyConsensusRequest = TaskIdParam.extend({
  consensus_threshold: z.number().gt(0).max(1).default(DEFAULT_CONSENSUS_THRESHOLD),
});

export const MEMBER_WORK_STATES = ['assigned', 'working', 'done', 'failed', 'reassigned', 'cancelled'] as const;

export const TaskMemberView = z.object({
  member_id: z.string(),
  membership: MemberStatus.nullable(),
  state: z.enum(MEMBER_WORK_STATES),
  subtasks: z.number().int(),
  completed: z.number().int(),
});

/** A task's copy of a subtask and its validation. */
export const TaskCopyView = z.object({
  seq: z.number().int(),
  replica: z.number().int(),
  member_id: z.string().nullable(),
  status: z.string(),
  validation: ValidationState.nullable(),
  validated_by: ValidatedBy.nullable(),
});

export const TaskVerificationView = VerificationView.extend({
  copies: z.array(TaskCopyView).describe('every copy of every subtask, by seq and replica'),
});
export type TaskVerificationView = z.infer<typeof TaskVerificationView>;

export const TaskStatusView = z.object({
  task_id: z.string(),
  swarm_id: z.string(),
  strategy: SwarmStrategy,
  status: ReportedTaskStatus,
  timed_out: TimedOut,
  progress: z.number().min(0).max(100).describe('percent of the subtasks (or votes) decided'),
  active_collaborators: z.number().int().describe('assigned members that are active now'),
  total_collaborators: z.number().int(),
  members: z.array(TaskMemberView),
  leader: z.string().nullable(),
  result: z.unknown().optional().describe('present once there is one'),
  consensus: ConsensusView.nullable(),
  error: z.string().nullable(),
  speculation: SpeculationView,
  verification: TaskVerificationView.nullable().describe('null without a verification policy'),
  created_at: IsoDateTime,
  started_at: IsoDateTime.nullable(),
  completed_at: IsoDateTime.nullable(),
  deadline_at: IsoDateTime.nullable(),
});
export type TaskStatusView = z.infer<typeof TaskStatusView>;

export const MemberClaimRequest = ClaimRequest.omit({ agent_id: true }).extend({
  member_id: MemberId,
  lease_seconds: LeaseSeconds.optional().describe('defaults to the task’s lease_seconds'),
});

export const MemberClaimBatchRequest = ClaimBatchRequest.omit({ agent_id: true }).extend({
  member_id: MemberId,
  lease_seconds: LeaseSeconds.optional().describe('defaults to the task’s lease_seconds'),
});

/** Parameters that steer the coordination rather than describe the work. */
const CONTROL_KEYS = new Set([
  'items',
  'chunk_size',
  'reduce',
  'payload',
  'stages',
  'capability',
  'region',
  'role',
  'collaborators',
  'consensus_algorithm',
  'consensus_threshold',
  'compare',
  'timeout_seconds',
  'lease_seconds',
  'max_attempts',
  'work_stealing',
  'speculation',
  'speculation_multiplier',
  'speculation_quantile',
  'verification',
]);

/** The work a coordination hands its members: `parameters.payload`, else the legacy `task`, else the parameters that are not controls. */
export function workOf(parameters: CoordinationParameters, task: unknown): unknown {
  if (parameters.payload !== undefined) return parameters.payload;
  if (task !== undefined) return task;
  return Object.fromEntries(Object.entries(parameters).filter(([key]) => !CONTROL_KEYS.has(key)));
}
