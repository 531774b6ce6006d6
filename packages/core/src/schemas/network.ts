import { z } from 'zod';
import { Capability } from './agent.ts';
import { Id, Idempotent, IsoDateTime, NextCursor, PageQuery } from './common.ts';
import { checkChunks, checkJson, MAX_COPIED_BYTES, MAX_TASK_BYTES } from './limits.ts';
import { DEFAULT_RETRY_SETTINGS, RetrySettings } from './retries.ts';
import { DEFAULT_STRAGGLER_SETTINGS, SpeculationView, StragglerSettings } from './stragglers.ts';
import { ValidatedBy, ValidationState, VerificationInput, VerificationSettings, VerificationView } from './verification.ts';

/**
 * How a network hands subtasks to its agents. The meanings live in
 * `network/strategies.ts`; the README documents them.
 */
export const COORDINATION_STRATEGIES = [
  'round-robin',
  'least-loaded',
  'capability-match',
  'centralized',
  'decentralized',
  'hybrid',
] as const;
export const CoordinationStrategy = z.enum(COORDINATION_STRATEGIES);
export type CoordinationStrategy = z.infer<typeof CoordinationStrategy>;

/** Networks a user can set; `archived` is what delete leaves behind. */
export const NETWORK_STATUSES = ['active', 'paused', 'archived'] as const;
export const NetworkStatus = z.enum(NETWORK_STATUSES);
export type NetworkStatus = z.infer<typeof NetworkStatus>;

export const PRIORITIES = ['low', 'normal', 'high'] as const;
export const Priority = z.enum(PRIORITIES);
export type Priority = z.infer<typeof Priority>;

export const MAX_AGENTS_PER_NETWORK = 256;
export const MAX_SUBTASKS_PER_TASK = 1000;
export const MAX_ITEMS_PER_TASK = 100_000;

/** An agent reference in a network: the agent's id (the CLI also resolves names to ids). */
const AgentRef = z.string().trim().min(1).max(128);

/** Tunables every network has; defaults are the issue's (30 s lease and claim timeout, 3 attempts, replication 2). */
export const NetworkSettings = z
  .object({
    lease_seconds: z.number().int().min(1).max(3600).describe('how long a claim holds a subtask without a heartbeat'),
    claim_timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .describe('how long an assigned subtask may wait unclaimed before it is reassigned'),
    max_attempts: z.number().int().min(1).max(100).describe('claims a subtask gets before it fails for good'),
    replication: z.number().int().min(1).max(16).describe('hybrid: agents that must agree on each subtask'),
    max_replication: z.number().int().min(1).max(32).describe('hybrid: the most agents a disputed subtask is given'),
  })
  .extend(StragglerSettings.shape)
  .extend(RetrySettings.shape);
export type NetworkSettings = z.infer<typeof NetworkSettings>;

export const DEFAULT_NETWORK_SETTINGS: NetworkSettings = {
  lease_seconds: 30,
  claim_timeout_seconds: 30,
  max_attempts: 3,
  replication: 2,
  max_replication: 4,
  ...DEFAULT_STRAGGLER_SETTINGS,
  ...DEFAULT_RETRY_SETTINGS,
};

export const NetworkCreate = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(2000).nullish(),
    agents: z
      .array(AgentRef)
      .min(1, 'a network needs at least one agent')
      .max(MAX_AGENTS_PER_NETWORK)
      .transform((ids) => [...new Set(ids)]),
    coordination_strategy: CoordinationStrategy.default('round-robin'),
    verification: VerificationInput.optional(),
    ...Idempotent,
  })
  .extend(NetworkSettings.partial().shape);
export type NetworkCreate = z.input<typeof NetworkCreate>;

export const NetworkIdParam = z.object({ network_id: Id });

export const NetworkUpdate = NetworkIdParam.extend({
  name: z.string().trim().min(1).max(200).optional(),
  description: z.string().max(2000).nullish(),
  agents: NetworkCreate.shape.agents.optional(),
  coordination_strategy: CoordinationStrategy.optional(),
  status: z.enum(['active', 'paused']).optional().describe('paused networks accept no new executions; delete archives'),
  verification: VerificationInput.optional().describe('merged into the current policy; executions already submitted keep theirs'),
}).extend(NetworkSettings.partial().shape);
export type NetworkUpdate = z.input<typeof NetworkUpdate>;

export const NetworkView = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    agents: z.array(z.string()),
    coordination_strategy: CoordinationStrategy,
    status: NetworkStatus,
    verification: VerificationSettings,
    owner_id: z.string(),
    created_at: IsoDateTime,
    updated_at: IsoDateTime,
  })
  .extend(NetworkSettings.shape);
export type NetworkView = z.infer<typeof NetworkView>;

export const NetworkListQuery = PageQuery.extend({ status: NetworkStatus.optional() });
export type NetworkListQuery = z.input<typeof NetworkListQuery>;

export const NetworkList = z.object({
  networks: z.array(NetworkView),
  total_count: z.number().int(),
  next_cursor: NextCursor,
});
export type NetworkList = z.infer<typeof NetworkList>;

// ---------------------------------------------------------------- tasks

export const REDUCERS = ['concat', 'sum', 'count', 'majority'] as const;
export const Reducer = z.enum(REDUCERS);
export type Reducer = z.infer<typeof Reducer>;

const Requires = z
  .array(Capability)
  .max(32)
  .transform((tags) => [...new Set(tags)]);

/**
 * A task is any JSON object. Three shapes are understood (see the README):
 * `subtasks: [...]` (each element is one subtask, sent to its worker as is;
 * an object element may carry `requires`), `items: [...]` (split into chunks
 * of `chunk_size`, each sent as `{items, offset, params}`), or anything else
 * (one subtask whose payload is the whole task). `requires` on the task
 * applies to every subtask that has none of its own.
 */
const AnyTask = z
  .looseObject({
    subtasks: z.array(z.unknown()).min(1).max(MAX_SUBTASKS_PER_TASK).optional(),
    items: z.array(z.unknown()).min(1).max(MAX_ITEMS_PER_TASK).optional(),
    chunk_size: z.number().int().min(1).max(MAX_ITEMS_PER_TASK).optional(),
    params: z.unknown().optional().describe('passed to every chunk of `items` as `params`'),
    requires: Requires.optional(),
    reduce: Reducer.optional(),
  })
  .superRefine((task, ctx) => {
    // Limits (docs/limits.md): depth and size of the whole task, of `params` (copied into every chunk), and the chunks `items` make.
    if (checkJson(task, MAX_TASK_BYTES, ctx, [], 'the task'))
      checkJson(task.params, MAX_COPIED_BYTES, ctx, ['params'], 'params (copied into every chunk)');
    checkChunks(task, MAX_SUBTASKS_PER_TASK, ctx);
    // An explicit subtask's own `requires` is checked here, so a bad tag is a 400 naming it.
    task.subtasks?.forEach((element, i) => {
      if (element === null || typeof element !== 'object' || Array.isArray(element) || !('requires' in element)) return;
      const parsed = Requires.safeParse(element.requires);
      for (const issue of parsed.error?.issues ?? [])
        ctx.addIssue({ code: 'custom', message: issue.message, path: ['subtasks', i, 'requires', ...issue.path] });
    });
  });
/**
 * The three task shapes as a typed client writes them. The server accepts any JSON
 * object (the legacy CLI sends a task file as it is, and extra keys are kept),
 * but a program that names `chunkSize` for `chunk_size` meant an items task and
 * gets one chunk per agent instead: the types say so at compile time.
 */
export type NetworkTaskInput = ItemsTask | SubtasksTask | CustomTask;

/** `items`, split into chunks of `chunk_size`; each chunk goes to a worker as `{items, offset, params}`. */
export interface ItemsTask {
  items: unknown[];
  /** Items per chunk; by default one chunk per agent of the network. */
  chunk_size?: number;
  /** Passed to every chunk as `params`. */
  params?: unknown;
  /** How the chunks' results combine into `results.reduced`. */
  reduce?: Reducer;
  /** Capabilities every chunk's agent must have. */
  requires?: string[];
  /** An items task has none (subtasks would win, and the items be passed over). */
  subtasks?: never;
}

/** `subtasks`: each element goes to a worker as it is; an object element may name its own `requires`. */
export interface SubtasksTask {
  subtasks: unknown[];
  reduce?: Reducer;
  /** Capabilities of the subtasks that name none of their own. */
  requires?: string[];
  items?: never;
}

/** Any other object: one subtask, whose payload is the whole task less `reduce` and `requires`. */
export interface CustomTask {
  [key: string]: unknown;
  items?: never;
  subtasks?: never;
  reduce?: Reducer;
  requires?: string[];
}

// The run-time schema is AnyTask's (whatever was accepted stays accepted); only the type a client writes is narrower.
export const NetworkTask = AnyTask as unknown as z.ZodType<z.output<typeof AnyTask>, NetworkTaskInput>;
export type NetworkTask = z.infer<typeof NetworkTask>;

export const ExecuteRequest = NetworkIdParam.extend({
  task: NetworkTask,
  priority: Priority.default('normal'),
  ...Idempotent,
});
export type ExecuteRequest = z.input<typeof ExecuteRequest>;

export const EXECUTION_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export const ExecutionStatus = z.enum(EXECUTION_STATUSES);
export type ExecutionStatus = z.infer<typeof ExecutionStatus>;

export const SUBTASK_STATUSES = ['pending', 'assigned', 'leased', 'completed', 'failed', 'cancelled'] as const;
export const SubtaskStatus = z.enum(SUBTASK_STATUSES);
export type SubtaskStatus = z.infer<typeof SubtaskStatus>;

export const SubtaskView = z.object({
  id: z.string(),
  seq: z.number().int().describe('position in the task; results aggregate in this order'),
  replica: z.number().int().describe('0 unless the strategy runs a subtask on several agents'),
  status: SubtaskStatus,
  requires: z.array(z.string()),
  assignee_id: z.string().nullable(),
  attempts: z.number().int(),
  accepted: z.boolean().describe('this replica carries the subtask’s decided result'),
  validation: ValidationState.nullable().describe('under a verification policy, once it has a result; null otherwise'),
  validated_by: ValidatedBy.nullable().describe('a validated copy: by a quorum that agreed, or by its host’s trust alone'),
  result: z.unknown().optional(),
  error: z.string().nullable(),
  started_at: IsoDateTime.nullable(),
  completed_at: IsoDateTime.nullable(),
});
export type SubtaskView = z.infer<typeof SubtaskView>;

export const ExecutionResults = z.object({
  subtask_results: z.array(z.unknown()).describe('each subtask’s decided result, in task order'),
  reduce: Reducer.nullable(),
  reduced: z.unknown().optional().describe('the reduction of subtask_results when the task names `reduce`'),
  reduce_error: z.string().nullable(),
  inconclusive: z
    .array(z.number().int())
    .optional()
    .describe('subtasks (seq) no quorum agreed on: null in subtask_results, left out of the reduce'),
});
export type ExecutionResults = z.infer<typeof ExecutionResults>;

export const ExecutionProgress = z.object({
  total: z.number().int().describe('subtasks in the task'),
  completed: z.number().int().describe('subtasks with a decided result'),
  failed: z.number().int().describe('subtasks that failed for good'),
});

const ExecutionBase = z.object({
  id: z.string(),
  execution_id: z.string().describe('the same as id (the spec’s name for it)'),
  network_id: z.string(),
  priority: Priority,
  status: ExecutionStatus,
  progress: ExecutionProgress,
  error: z.string().nullable(),
  created_at: IsoDateTime,
  started_at: IsoDateTime.nullable(),
  completed_at: IsoDateTime.nullable(),
  speculation: SpeculationView,
});

export const ExecutionSummary = ExecutionBase;
export type ExecutionSummary = z.infer<typeof ExecutionSummary>;

export const ExecutionView = ExecutionBase.extend({
  task: z.record(z.string(), z.unknown()),
  verification: VerificationView.nullable().describe('null without a verification policy'),
  results: ExecutionResults.nullable(),
  subtasks: z.array(SubtaskView),
});
export type ExecutionView = z.infer<typeof ExecutionView>;

export const ExecutionIdParam = NetworkIdParam.extend({ execution_id: Id });

export const ExecutionListQuery = NetworkIdParam.extend(PageQuery.shape).extend({ status: ExecutionStatus.optional() });

export const ExecutionList = z.object({
  executions: z.array(ExecutionSummary),
  total_count: z.number().int(),
  next_cursor: NextCursor,
});
export type ExecutionList = z.infer<typeof ExecutionList>;
