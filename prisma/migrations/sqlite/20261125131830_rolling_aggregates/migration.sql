-- CreateTable
CREATE TABLE "network_agent_stats" (
    "network_id" TEXT NOT NULL,
    "agent_id" TEXT NOT NULL,
    "completed" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "expired" INTEGER NOT NULL DEFAULT 0,
    "task_seconds" REAL NOT NULL DEFAULT 0,

    PRIMARY KEY ("network_id", "agent_id")
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_agent_networks" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "agents" JSONB NOT NULL,
    "coordination_strategy" TEXT NOT NULL DEFAULT 'round-robin',
    "status" TEXT NOT NULL DEFAULT 'active',
    "owner_id" TEXT NOT NULL,
    "rr_cursor" INTEGER NOT NULL DEFAULT 0,
    "lease_seconds" INTEGER NOT NULL DEFAULT 30,
    "claim_timeout_seconds" INTEGER NOT NULL DEFAULT 30,
    "max_attempts" INTEGER NOT NULL DEFAULT 3,
    "replication" INTEGER NOT NULL DEFAULT 2,
    "max_replication" INTEGER NOT NULL DEFAULT 4,
    "live_executions" INTEGER NOT NULL DEFAULT 0,
    "executions_total" INTEGER NOT NULL DEFAULT 0,
    "executions_completed" INTEGER NOT NULL DEFAULT 0,
    "executions_failed" INTEGER NOT NULL DEFAULT 0,
    "execution_seconds" REAL NOT NULL DEFAULT 0,
    "replicated_decided" INTEGER NOT NULL DEFAULT 0,
    "disagreements" INTEGER NOT NULL DEFAULT 0,
    "last_activity_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);
INSERT INTO "new_agent_networks" ("agents", "claim_timeout_seconds", "coordination_strategy", "created_at", "description", "id", "lease_seconds", "max_attempts", "max_replication", "name", "owner_id", "replication", "rr_cursor", "status", "updated_at") SELECT "agents", "claim_timeout_seconds", "coordination_strategy", "created_at", "description", "id", "lease_seconds", "max_attempts", "max_replication", "name", "owner_id", "replication", "rr_cursor", "status", "updated_at" FROM "agent_networks";
DROP TABLE "agent_networks";
ALTER TABLE "new_agent_networks" RENAME TO "agent_networks";
CREATE INDEX "agent_networks_owner_id_created_at_id_idx" ON "agent_networks"("owner_id", "created_at", "id");
CREATE TABLE "new_swarms" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner_id" TEXT NOT NULL,
    "capability" TEXT NOT NULL,
    "region" TEXT,
    "status" TEXT NOT NULL DEFAULT 'open',
    "open_key" TEXT,
    "suspect_after_seconds" INTEGER NOT NULL DEFAULT 15,
    "fail_after_seconds" INTEGER NOT NULL DEFAULT 45,
    "active_members" INTEGER NOT NULL DEFAULT 0,
    "suspect_members" INTEGER NOT NULL DEFAULT 0,
    "failed_members" INTEGER NOT NULL DEFAULT 0,
    "left_members" INTEGER NOT NULL DEFAULT 0,
    "live_tasks" INTEGER NOT NULL DEFAULT 0,
    "tasks_completed" INTEGER NOT NULL DEFAULT 0,
    "tasks_failed" INTEGER NOT NULL DEFAULT 0,
    "tasks_timed_out" INTEGER NOT NULL DEFAULT 0,
    "attempts_completed" INTEGER NOT NULL DEFAULT 0,
    "attempts_failed" INTEGER NOT NULL DEFAULT 0,
    "attempts_expired" INTEGER NOT NULL DEFAULT 0,
    "task_seconds" REAL NOT NULL DEFAULT 0,
    "accepted_results" INTEGER NOT NULL DEFAULT 0,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);
INSERT INTO "new_swarms" ("capability", "created_at", "fail_after_seconds", "id", "open_key", "owner_id", "region", "status", "suspect_after_seconds", "updated_at") SELECT "capability", "created_at", "fail_after_seconds", "id", "open_key", "owner_id", "region", "status", "suspect_after_seconds", "updated_at" FROM "swarms";
DROP TABLE "swarms";
ALTER TABLE "new_swarms" RENAME TO "swarms";
CREATE UNIQUE INDEX "swarms_open_key_key" ON "swarms"("open_key");
CREATE INDEX "swarms_owner_id_created_at_id_idx" ON "swarms"("owner_id", "created_at", "id");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- Backfill: the aggregates start equal to what the rows already recorded.
UPDATE "agent_networks" SET
  "live_executions" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" IN ('queued', 'running')),
  "executions_total" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id"),
  "executions_completed" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" = 'completed'),
  "executions_failed" = (SELECT COUNT(*) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" = 'failed'),
  "execution_seconds" = COALESCE((SELECT SUM((julianday(e."completed_at") - julianday(e."created_at")) * 86400.0) FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id" AND e."status" = 'completed' AND e."completed_at" IS NOT NULL), 0),
  "replicated_decided" = COALESCE((SELECT SUM(e."replicated_decided") FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id"), 0),
  "disagreements" = COALESCE((SELECT SUM(e."disagreements") FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id"), 0),
  "last_activity_at" = (SELECT MAX(e."updated_at") FROM "agent_network_executions" e WHERE e."network_id" = "agent_networks"."id");

INSERT INTO "network_agent_stats" ("network_id", "agent_id", "completed", "failed", "expired", "task_seconds")
SELECT a."network_id", a."assignee_id",
  SUM(CASE WHEN a."outcome" = 'completed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN a."outcome" = 'failed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN a."outcome" = 'expired' THEN 1 ELSE 0 END),
  COALESCE(SUM(CASE WHEN a."outcome" = 'completed' AND a."ended_at" IS NOT NULL THEN (julianday(a."ended_at") - julianday(a."started_at")) * 86400.0 ELSE 0 END), 0)
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
  "task_seconds" = COALESCE((SELECT SUM((julianday(a."ended_at") - julianday(a."started_at")) * 86400.0) FROM "subtask_attempts" a WHERE a."swarm_id" = "swarms"."id" AND a."outcome" = 'completed' AND a."ended_at" IS NOT NULL), 0),
  "accepted_results" = (SELECT COUNT(*) FROM "subtasks" s WHERE s."swarm_id" = "swarms"."id" AND s."accepted" = 1);
