/**
 * How far a swarm task is, from its subtasks' statuses: pure, so the task
 * status view (apps/server swarms/records.ts) only reads rows.
 *
 * - Progress, in percent, one decimal: a voting task (broadcast, consensus)
 *   counts votes in (subtasks completed or failed) against the members it
 *   expects, or against its subtasks when more were made (a replacement
 *   member's); any other task counts subtasks decided against the task's
 *   subtask count. A completed task is 100.
 * - A member's state for the task, from its own subtasks, first match wins:
 *   working (one is leased), assigned (one waits for it), done (one
 *   completed), failed (one failed), cancelled (all were cancelled), else
 *   reassigned (its work moved to another member).
 */
import { type MEMBER_WORK_STATES, type SwarmStrategy, type TaskStatus, VOTING_STRATEGIES } from '../schemas/swarm.ts';

export type MemberWorkState = (typeof MEMBER_WORK_STATES)[number];

export interface TaskProgressInput {
  strategy: SwarmStrategy;
  status: TaskStatus;
  /** Members the task expects to vote (voting tasks). */
  collaborators: number;
  subtaskCount: number;
  decidedCount: number;
}

const settled = (status: string) => status === 'completed' || status === 'failed';

export function taskProgress(task: TaskProgressInput, subtaskStatuses: readonly string[]): number {
  if (task.status === 'completed') return 100;
  let share = 0;
  if (VOTING_STRATEGIES.includes(task.strategy)) {
    const expected = Math.max(task.collaborators, subtaskStatuses.filter((s) => s !== 'cancelled').length);
    if (task.collaborators > 0) share = subtaskStatuses.filter(settled).length / expected;
  } else if (task.subtaskCount > 0) {
    share = task.decidedCount / task.subtaskCount;
  }
  return Math.min(100, Math.round(share * 1000) / 10);
}

export function memberWorkState(own: readonly string[]): MemberWorkState {
  if (own.includes('leased')) return 'working';
  if (own.includes('assigned') || own.includes('pending')) return 'assigned';
  if (own.includes('completed')) return 'done';
  if (own.includes('failed')) return 'failed';
  if (own.length > 0 && own.every((s) => s === 'cancelled')) return 'cancelled';
  return 'reassigned';
}
