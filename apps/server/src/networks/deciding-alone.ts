/**
 * Which results of network executions decide their subtask alone, and the
 * counters they move (work/sql/decide.ts runs them in the statement that
 * records the results): a subtask of an execution whose network runs one
 * replica per subtask and that has no verification policy is decided by its
 * result; the agent's counts and task time, the network's completions of
 * the minute, and the execution's progress move, each on this connection's
 * shard, as `attemptsEnded` and `settle` move them on the general path, and
 * in key order as they do: two statements on one shard never take two
 * counter rows in opposite orders.
 */
import { REPLICATED_STRATEGIES } from '@aitbc/core';
import { inList, shard, sql } from '../db/sql.ts';
import type { DecidingAlone } from '../work/sql/decide.ts';

export function executionsDecidingAlone(now: Date): Omit<DecidingAlone, 'decided'> {
  const minute = Math.floor(now.getTime() / 60_000);
  return {
    alone: sql`EXISTS (
      SELECT 1 FROM "agent_network_executions" e JOIN "agent_networks" n ON n."id" = e."network_id"
      WHERE e."id" = s."execution_id" AND e."verification" IS NULL AND NOT (n."coordination_strategy" ${inList([...REPLICATED_STRATEGIES])}))`,
    counters: sql`,
    "stats" AS (
      INSERT INTO "network_agent_stats" ("network_id", "agent_id", "shard", "completed", "failed", "expired", "task_seconds")
      SELECT "network_id", "assignee_id", ${shard}, COUNT(*), 0, 0, SUM(GREATEST(0, EXTRACT(EPOCH FROM (${now}::timestamp - "started_at"))))
      FROM "ended" WHERE "network_id" IS NOT NULL GROUP BY "network_id", "assignee_id" ORDER BY "network_id", "assignee_id"
      ON CONFLICT ("network_id", "agent_id", "shard") DO UPDATE SET
        "completed" = "network_agent_stats"."completed" + EXCLUDED."completed",
        "task_seconds" = "network_agent_stats"."task_seconds" + EXCLUDED."task_seconds"),
    "minutes" AS (
      INSERT INTO "network_minutes" ("network_id", "minute", "shard", "completed", "last_at")
      SELECT "network_id", ${minute}, ${shard}, COUNT(*), ${now}::timestamp FROM "ended" WHERE "network_id" IS NOT NULL
      GROUP BY "network_id" ORDER BY "network_id"
      ON CONFLICT ("network_id", "minute", "shard") DO UPDATE SET
        "completed" = "network_minutes"."completed" + EXCLUDED."completed", "last_at" = EXCLUDED."last_at"),
    "progress" AS (
      INSERT INTO "execution_progress" ("execution_id", "shard", "decided")
      SELECT "execution_id", ${shard}, COUNT(*) FROM "done" GROUP BY "execution_id" ORDER BY "execution_id"
      ON CONFLICT ("execution_id", "shard") DO UPDATE SET "decided" = "execution_progress"."decided" + EXCLUDED."decided")`,
  };
}
