-- AlterTable
ALTER TABLE "agent_networks" ADD COLUMN     "disagreements" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "execution_seconds" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "executions_completed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "executions_failed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "executions_total" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "last_activity_at" TIMESTAMP(3),
ADD COLUMN     "live_executions" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "replicated_decided" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "swarms" ADD COLUMN     "accepted_results" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "active_members" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "attempts_completed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "attempts_expired" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "attempts_failed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "failed_members" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "left_members" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "live_tasks" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "suspect_members" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "task_seconds" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "tasks_completed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "tasks_failed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "tasks_timed_out" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "network_agent_stats" (
    "network_id" TEXT NOT NULL,
    "agent_id" TEXT NOT NULL,
    "completed" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "expired" INTEGER NOT NULL DEFAULT 0,
    "task_seconds" DOUBLE PRECISION NOT NULL DEFAULT 0,

    CONSTRAINT "network_agent_stats_pkey" PRIMARY KEY ("network_id","agent_id")
);

-- Backfill: the aggregates start equal to what the rows already recorded.
UPDATE "agent_networks" SET
  "live_executions" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" IN ('queued', 'running')),
  "executions_total" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id"),
  "executions_completed" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" = 'completed'),
  "executions_failed" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" = 'failed'),
  "execution_seconds" = COALESCE((SELECT SUM(EXTRACT(EPOCH FROM (e."completed_at" - e."created_at"))) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" = 'completed' AND e."completed_at" IS NOT NULL), 0),
  "replicated_decided" = COALESCE((SELECT SUM(e."replicated_decided") FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id"), 0),
  "disagreements" = COALESCE((SELECT SUM(e."disagreements") FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id"), 0),
  "last_activity_at" = (SELECT MAX(e."updated_at") FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id");

INSERT INTO "network_agent_stats" ("network_id", "agent_id", "completed", "failed", "expired", "task_seconds")
SELECT a."network_id", a."assignee_id",
  SUM(CASE WHEN a."outcome" = 'completed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN a."outcome" = 'failed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN a."outcome" = 'expired' THEN 1 ELSE 0 END),
  COALESCE(SUM(CASE WHEN a."outcome" = 'completed' AND a."ended_at" IS NOT NULL THEN EXTRACT(EPOCH FROM (a."ended_at" - a."started_at")) ELSE 0 END), 0)
FROM "subtask_attempts" a WHERE a."network_id" IS NOT NULL GROUP BY a."network_id", a."assignee_id";

UPDATE "swarms" SET
  "active_members" = (SELECT COUNT(*) FROM "swarm_members" m WHERE m."swarm_id" = "swarms"."id" AND m."status" = 'active'),
  "suspect_members" = (SELECT COUNT(*) FROM "swarm_members" m WHERE m."swarm_id" = "swarms"."id" AND m."status" = 'suspect'),
  "failed_members" = (SELECT COUNT(*) FROM "swarm_members" m WHERE m."swarm_id" = "swarms"."id" AND m."status" = 'failed'),
  "left_members" = (SELECT COUNT(*) FROM "swarm_members" m WHERE m."swarm_id" = "swarms"."id" AND m."status" = 'left'),
  "live_tasks" = (SELECT COUNT(*) FROM "swarm_coordination" c WHERE c."swarm_id" = "swarms"."id" AND c."status" IN ('queued', 'running')),
  "tasks_completed" = (SELECT COUNT(*) FROM "swarm_coordination" c WHERE c."swarm_id" = "swarms"."id" AND c."status" = 'completed'),
  "tasks_failed" = (SELECT COUNT(*) FROM "swarm_coordination" c WHERE c."swarm_id" = "swarms"."id" AND c."status" = 'failed'),
  "tasks_timed_out" = (SELECT COUNT(*) FROM "swarm_coordination" c WHERE c."swarm_id" = "swarms"."id" AND c."status" = 'timed_out'),
  "attempts_completed" = (SELECT COUNT(*) FROM "subtask_attempts" a WHERE a."swarm_id" = "swarms"."id" AND a."outcome" = 'completed'),
  "attempts_failed" = (SELECT COUNT(*) FROM "subtask_attempts" a WHERE a."swarm_id" = "swarms"."id" AND a."outcome" = 'failed'),
  "attempts_expired" = (SELECT COUNT(*) FROM "subtask_attempts" a WHERE a."swarm_id" = "swarms"."id" AND a."outcome" = 'expired'),
  "task_seconds" = COALESCE((SELECT SUM(EXTRACT(EPOCH FROM (a."ended_at" - a."started_at"))) FROM "subtask_attempts" a WHERE a."swarm_id" = "swarms"."id" AND a."outcome" = 'completed' AND a."ended_at" IS NOT NULL), 0),
  "accepted_results" = (SELECT COUNT(*) FROM "subtasks" s WHERE s."swarm_id" = "swarms"."id" AND s."accepted" = true);
