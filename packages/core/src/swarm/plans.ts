/**
 * What each swarm coordination strategy hands its selected members (already
 * ranked by selection, best first):
 *
 * - `map-reduce`: `parameters.items` split into chunks (as the network
 *   decomposition does: `chunk_size`, default one chunk per member), chunk i
 *   to member i mod n; the chunk results are reduced with
 *   `parameters.reduce` (default `concat`).
 * - `distributed`: the same shards, without a reduce: the results are the
 *   chunk results in order.
 * - `broadcast` and `consensus`: every member gets the same work; each
 *   member's result is its vote, and consensus decides the outcome.
 * - `leader-election`: the leader (highest reputation, ties by member id)
 *   does the work alone; if it fails, the next one is elected.
 * - `pipeline`: `parameters.stages` run in order; stage i goes to member
 *   i mod n with the previous stage's result as its `input`. Only stage 0
 *   exists at first; each next stage is made when the one before completes.
 *
 * Without `items`, map-reduce and distributed have one shard: the work.
 * "The work" is `parameters.payload`, else the legacy body's `task`, else
 * the parameters that are not control keys.
 */
import { type CoordinationParameters, type SwarmStrategy, workOf } from '../schemas/swarm.ts';
import { decomposeTask } from '../network/decomposition.ts';
import { executionResults } from '../network/reduce.ts';
import type { MemberCandidate } from './model.ts';
import { electLeader } from './selection.ts';

export interface PlannedMemberWork {
  seq: number;
  replica: number;
  memberId: string;
  payload: unknown;
}

export interface CoordinationPlan {
  work: PlannedMemberWork[];
  /** Subtasks the task has in all (a pipeline's later stages come later). */
  subtaskCount: number;
  leader: string | null;
}

/** A pipeline stage's payload. */
export function stagePayload(parameters: CoordinationParameters, stage: number, input: unknown): unknown {
  const stages = parameters.stages ?? [null];
  return { stage, stages: stages.length, params: stages[stage] ?? null, input };
}

/** The member a pipeline stage goes to. */
export function stageMember(members: readonly string[], stage: number): string {
  return members[stage % members.length]!;
}

export function planCoordination(
  strategy: SwarmStrategy,
  members: readonly MemberCandidate[],
  parameters: CoordinationParameters,
  task: unknown,
): CoordinationPlan {
  const ids = members.map((m) => m.memberId);
  switch (strategy) {
    case 'map-reduce':
    case 'distributed': {
      const shards = parameters.items
        ? decomposeTask(
            {
              items: parameters.items,
              ...(parameters.chunk_size ? { chunk_size: parameters.chunk_size } : {}),
              params: workOf(parameters, task),
            },
            ids.length,
          )
        : [{ seq: 0, payload: workOf(parameters, task), requires: [] }];
      return {
        work: shards.map((s) => ({ seq: s.seq, replica: 0, memberId: ids[s.seq % ids.length]!, payload: s.payload })),
        subtaskCount: shards.length,
        leader: null,
      };
    }
    case 'broadcast':
    case 'consensus': {
      const payload = workOf(parameters, task);
      return { work: ids.map((memberId, replica) => ({ seq: 0, replica, memberId, payload })), subtaskCount: 1, leader: null };
    }
    case 'leader-election': {
      const leader = electLeader([...members], []);
      if (!leader) return { work: [], subtaskCount: 1, leader: null };
      return {
        work: [{ seq: 0, replica: 0, memberId: leader.memberId, payload: workOf(parameters, task) }],
        subtaskCount: 1,
        leader: leader.memberId,
      };
    }
    case 'pipeline': {
      const stages = parameters.stages?.length ?? 1;
      const input = parameters.payload !== undefined ? parameters.payload : (task ?? null);
      return {
        work: [{ seq: 0, replica: 0, memberId: stageMember(ids, 0), payload: stagePayload(parameters, 0, input) }],
        subtaskCount: stages,
        leader: null,
      };
    }
  }
}

/**
 * A finished task's result from its decided subtask results (in task order):
 * map-reduce, the results and their reduction (`parameters.reduce`, default
 * `concat`); distributed, the list; pipeline, every stage's result and the
 * last one as `final`; the others (one piece of work), its result.
 */
export function taskResults(strategy: SwarmStrategy, parameters: CoordinationParameters, results: unknown[]): unknown {
  switch (strategy) {
    case 'map-reduce':
      return executionResults(results, parameters.reduce ?? 'concat');
    case 'distributed':
      return results;
    case 'pipeline':
      return { stages: results, final: results.at(-1) ?? null };
    default:
      return results[0] ?? null;
  }
}
