-- Counters that every result moves become sharded (see the PostgreSQL
-- migration; SQLite uses shard 0). A subtask carries its own lease length.

-- CreateTable
CREATE TABLE "execution_progress" (
    "execution_id" TEXT NOT NULL,
    "shard" INTEGER NOT NULL DEFAULT 0,
    "decided" INTEGER NOT NULL DEFAULT 0,

    PRIMARY KEY ("execution_id", "shard")
);

-- Decided counts move from the execution row to its shards.
INSERT INTO "execution_progress" ("execution_id", "shard", "decided")
SELECT "id", 0, "decided_count" FROM "agent_network_executions" WHERE "decided_count" > 0;

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_agent_network_executions" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "network_id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "task" JSONB NOT NULL,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "status" TEXT NOT NULL DEFAULT 'queued',
    "results" JSONB,
    "error" TEXT,
    "subtask_count" INTEGER NOT NULL DEFAULT 0,
    "failed_count" INTEGER NOT NULL DEFAULT 0,
    "replicated_decided" INTEGER NOT NULL DEFAULT 0,
    "disagreements" INTEGER NOT NULL DEFAULT 0,
    "started_at" DATETIME,
    "completed_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL,
    CONSTRAINT "agent_network_executions_network_id_fkey" FOREIGN KEY ("network_id") REFERENCES "agent_networks" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_agent_network_executions" ("completed_at", "created_at", "disagreements", "error", "failed_count", "id", "network_id", "owner_id", "priority", "replicated_decided", "results", "started_at", "status", "subtask_count", "task", "updated_at") SELECT "completed_at", "created_at", "disagreements", "error", "failed_count", "id", "network_id", "owner_id", "priority", "replicated_decided", "results", "started_at", "status", "subtask_count", "task", "updated_at" FROM "agent_network_executions";
DROP TABLE "agent_network_executions";
ALTER TABLE "new_agent_network_executions" RENAME TO "agent_network_executions";
CREATE INDEX "agent_network_executions_network_id_created_at_id_idx" ON "agent_network_executions"("network_id", "created_at", "id");
CREATE INDEX "agent_network_executions_network_id_status_idx" ON "agent_network_executions"("network_id", "status");
CREATE INDEX "agent_network_executions_network_id_status_completed_at_idx" ON "agent_network_executions"("network_id", "status", "completed_at");
CREATE INDEX "agent_network_executions_network_id_updated_at_idx" ON "agent_network_executions"("network_id", "updated_at");
CREATE INDEX "agent_network_executions_status_idx" ON "agent_network_executions"("status");
CREATE TABLE "new_network_agent_stats" (
    "network_id" TEXT NOT NULL,
    "agent_id" TEXT NOT NULL,
    "shard" INTEGER NOT NULL DEFAULT 0,
    "completed" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "expired" INTEGER NOT NULL DEFAULT 0,
    "task_seconds" REAL NOT NULL DEFAULT 0,

    PRIMARY KEY ("network_id", "agent_id", "shard")
);
INSERT INTO "new_network_agent_stats" ("agent_id", "completed", "expired", "failed", "network_id", "task_seconds") SELECT "agent_id", "completed", "expired", "failed", "network_id", "task_seconds" FROM "network_agent_stats";
DROP TABLE "network_agent_stats";
ALTER TABLE "new_network_agent_stats" RENAME TO "network_agent_stats";
CREATE TABLE "new_network_minutes" (
    "network_id" TEXT NOT NULL,
    "minute" INTEGER NOT NULL,
    "shard" INTEGER NOT NULL DEFAULT 0,
    "completed" INTEGER NOT NULL DEFAULT 0,
    "last_at" DATETIME,

    PRIMARY KEY ("network_id", "minute", "shard")
);
INSERT INTO "new_network_minutes" ("completed", "minute", "network_id") SELECT "completed", "minute", "network_id" FROM "network_minutes";
DROP TABLE "network_minutes";
ALTER TABLE "new_network_minutes" RENAME TO "network_minutes";
-- Not a rebuild: that would drop the open_work triggers on subtasks.
ALTER TABLE "subtasks" ADD COLUMN "lease_seconds" INTEGER NOT NULL DEFAULT 30;
-- Open work takes its parent's lease length.
UPDATE "subtasks" SET "lease_seconds" = COALESCE(
  (SELECT n."lease_seconds" FROM "agent_networks" n WHERE n."id" = "subtasks"."network_id"),
  (SELECT c."lease_seconds" FROM "swarm_coordination" c WHERE c."id" = "subtasks"."coordination_id"),
  30)
WHERE "status" IN ('pending', 'assigned', 'leased');
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
