import { z } from 'zod';
import { Id, IsoDateTime } from './common.ts';
import { MemberCounts, SwarmId, TaskStatusView } from './swarm.ts';

// The operators' dashboard (apps/web): what its live views read that the
// swarm and network procedures do not already give.

// ---------------------------------------------------------------- live changes

/**
 * One message of `live.changes`: `ready` when the stream (re)connects, then
 * `changed` whenever work moved. Changes within a short window are merged:
 * `everything` true means "anything of yours may have changed" (the sweeper
 * moved work without saying whose), else the ids say what moved.
 */
export const LiveChange = z.object({
  kind: z.enum(['ready', 'changed']),
  everything: z.boolean(),
  swarm_ids: z.array(z.string()),
  task_ids: z.array(z.string()),
  network_ids: z.array(z.string()),
  execution_ids: z.array(z.string()),
  /** Events merged into this message. */
  events: z.number().int(),
  at: IsoDateTime,
});
export type LiveChange = z.infer<typeof LiveChange>;

// ---------------------------------------------------------------- tasks

export const TaskListQuery = z.object({
  swarm_id: SwarmId.optional().describe('only this swarm’s tasks'),
  limit: z.number().int().min(1).max(100).default(20),
});
export type TaskListQuery = z.input<typeof TaskListQuery>;

export const TaskList = z.object({
  tasks: z.array(TaskStatusView).describe('newest first'),
  total_count: z.number().int(),
});
export type TaskList = z.infer<typeof TaskList>;

// ---------------------------------------------------------------- throughput history

export const HISTORY_MAX_MINUTES = 24 * 60;

export const HistoryQuery = z
  .object({
    network_id: Id.optional(),
    swarm_id: SwarmId.optional(),
    minutes: z.number().int().min(5).max(HISTORY_MAX_MINUTES).default(60).describe('how far back, in one-minute buckets'),
  })
  .refine((q) => (q.network_id === undefined) !== (q.swarm_id === undefined), {
    message: 'give exactly one of network_id and swarm_id',
    path: ['network_id'],
  });
export type HistoryQuery = z.input<typeof HistoryQuery>;

export const HistoryPoint = z.object({
  at: IsoDateTime.describe('the minute’s start'),
  completed: z.number().int().describe('attempts completed in this minute: the throughput, per minute'),
  failed: z.number().int().describe('attempts that failed or whose lease expired in this minute'),
  p95_task_time: z
    .number()
    .nonnegative()
    .nullable()
    .describe('95th percentile of claim-to-result seconds of the completed ones; null with none'),
});
export type HistoryPoint = z.infer<typeof HistoryPoint>;

export const HistoryView = z.object({
  scope: z.enum(['network', 'swarm']),
  id: z.string(),
  bucket_seconds: z.literal(60),
  from: IsoDateTime,
  to: IsoDateTime,
  points: z.array(HistoryPoint).describe('one per minute, oldest first, empty minutes included'),
  totals: z.object({
    completed: z.number().int(),
    failed: z.number().int(),
    throughput: z.number().nonnegative().describe('completed per minute over the whole window'),
    p95_task_time: z.number().nonnegative().nullable(),
  }),
  truncated: z.boolean().describe('more attempts than one query reads: the oldest minutes are undercounted'),
});
export type HistoryView = z.infer<typeof HistoryView>;

// ---------------------------------------------------------------- owners (admin)

export const OwnerSummary = z.object({
  owner_id: z.string(),
  keys: z.number().int().describe('API keys not revoked'),
  swarms: z.number().int(),
  members: MemberCounts,
  tasks_active: z.number().int().describe('coordination tasks queued or running'),
  agents: z.number().int(),
  networks: z.number().int().describe('not archived'),
  executions_active: z.number().int().describe('executions queued or running'),
});
export type OwnerSummary = z.infer<typeof OwnerSummary>;

export const OwnerList = z.object({ owners: z.array(OwnerSummary), at: IsoDateTime });
export type OwnerList = z.infer<typeof OwnerList>;
