import type { PrismaTx } from '../db/client.ts';
import type { SubtaskRow } from '../networks/views.ts';

/**
 * What a subtask belongs to, as the worker protocol needs it: an agent
 * network's execution or a swarm's coordination task. The lease mechanics
 * (claim, heartbeat, result, failure, expiry) are the same for both; what
 * happens to the work around them is the parent's.
 */
export interface WorkParent {
  leaseSeconds: number;
  claimTimeoutSeconds: number;
  /**
   * Takes the parent's row lock before any of its subtasks is settled, so
   * that two replicas finishing at once are decided one after the other.
   * False when the parent takes no more results (finished or cancelled).
   */
  lock(): Promise<boolean>;
  /** The next assignee for a replica taken from `avoid` (preferred not to get it back); null when nobody can take it. */
  reassign(s: SubtaskRow, avoid: string[]): Promise<string | null>;
  /** After a replica completed or failed for good: decide the subtask, and the parent when that was its last. */
  settle(s: SubtaskRow): Promise<void>;
  /** A claim started work on it. */
  started(): Promise<void>;
  /** The fields a lease view and a claim report about the parent (read again only when settling may have changed them). */
  describe(): Promise<{
    execution_id: string | null;
    network_id: string | null;
    task_id: string | null;
    swarm_id: string | null;
    status: string;
  }>;
}

/** What finds a subtask's parent. */
export type ParentKeys = Pick<SubtaskRow, 'executionId' | 'networkId' | 'coordinationId'>;

export type ParentFactory = (tx: PrismaTx, s: ParentKeys, now: Date) => Promise<WorkParent | null>;
