/**
 * The queue a raw loop drains, written as the server writes it: one agent network, executions of 1,000 subtasks
 * assigned round-robin to the loops' agents, inserted by the server's own statement (work/sql/insert.ts, through
 * its own SqliteSql or PostgresSql). And what the database holds once the loops are done, to check nothing was
 * lost or counted twice.
 */
import { randomUUID } from 'node:crypto';
import { json, type Sql, sql } from '../../apps/server/src/db/sql.ts';
import { insertSubtasks, type NewSubtask } from '../../apps/server/src/work/sql/insert.ts';

export const OWNER = 'bench-raw-loop';
const PER_EXECUTION = 1000;
/** The batched network's settings (bench/scenarios/batched.ts): no claim timeout gets in the way. */
const CLAIM_TIMEOUT_SECONDS = 3600;

export interface Queue {
  /** The agents, one per loop: loop i claims for assignees[i]. */
  assignees: string[];
  executionIds: string[];
  networkId: string;
}

/** One subtask of the raw loops' network, assigned, as the server's insert takes it (one replica, three attempts). */
export function queuedSubtask(
  of: { networkId: string; executionId: string; seq: number; payload: unknown; assigneeId: string },
  now: Date,
): NewSubtask {
  return {
    ...of,
    id: randomUUID(),
    ownerId: OWNER,
    coordinationId: null,
    swarmId: null,
    replica: 0,
    requires: null,
    priorityRank: 1,
    claimBy: new Date(now.getTime() + CLAIM_TIMEOUT_SECONDS * 1000),
    maxAttempts: 3,
    leaseSeconds: 30,
    maxAttemptSeconds: 3600,
    createdAt: now,
  };
}

/** `subtasks` subtasks in executions of 1,000, assigned round-robin over `loops` new agents. */
export async function seedQueue(db: Sql, loops: number, subtasks: number): Promise<Queue> {
  const now = new Date();
  const assignees = Array.from({ length: loops }, () => randomUUID());
  const networkId = randomUUID();
  await db.run(sql`
    INSERT INTO "agent_networks" ("id", "name", "agents", "owner_id", "claim_timeout_seconds", "created_at", "updated_at")
    VALUES (${networkId}, ${`raw-loop-${networkId}`}, ${json(assignees)}, ${OWNER}, ${CLAIM_TIMEOUT_SECONDS}, ${now}, ${now})`);
  const executionIds: string[] = [];
  for (let first = 0; first < subtasks; first += PER_EXECUTION) {
    const count = Math.min(PER_EXECUTION, subtasks - first);
    const executionId = randomUUID();
    executionIds.push(executionId);
    await db.run(sql`
      INSERT INTO "agent_network_executions" ("id", "network_id", "owner_id", "task", "priority", "status", "subtask_count", "started_at", "created_at", "updated_at")
      VALUES (${executionId}, ${networkId}, ${OWNER}, ${json({ subtasks: count })}, 'normal', 'running', ${count}, ${now}, ${now}, ${now})`);
    const rows = Array.from({ length: count }, (_, seq) =>
      queuedSubtask({ networkId, executionId, seq, payload: first + seq, assigneeId: assignees[(first + seq) % loops]! }, now),
    );
    await insertSubtasks(db, rows, now);
  }
  return { assignees, executionIds, networkId };
}

export interface QueueState {
  completed: number;
  /** Claimed and never completed: a lost completion. */
  leased: number;
  /** The sharded counter's sum over the queue's executions. */
  decided: number;
  /** Attempt rows opened (one per claimed subtask). */
  attempts: number;
}

export async function queueState(db: Sql, executionIds: string[]): Promise<QueueState> {
  const ids = json(executionIds);
  // The ids as one JSON parameter, read back per dialect: the same text on both.
  const listed = db.dialect === 'postgresql' ? sql`SELECT jsonb_array_elements_text(${ids})` : sql`SELECT value FROM json_each(${ids})`;
  const row = await db.one<Record<string, unknown>>(sql`
    SELECT
      (SELECT count(*) FROM "subtasks" WHERE "execution_id" IN (${listed}) AND "status" = 'completed') AS "completed",
      (SELECT count(*) FROM "subtasks" WHERE "execution_id" IN (${listed}) AND "status" = 'leased') AS "leased",
      (SELECT COALESCE(SUM("decided"), 0) FROM "execution_progress" WHERE "execution_id" IN (${listed})) AS "decided",
      (SELECT count(*) FROM "subtask_attempts" WHERE "execution_id" IN (${listed})) AS "attempts"`);
  return {
    completed: Number(row!.completed),
    leased: Number(row!.leased),
    decided: Number(row!.decided),
    attempts: Number(row!.attempts),
  };
}
