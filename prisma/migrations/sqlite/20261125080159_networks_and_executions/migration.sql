-- CreateTable
CREATE TABLE "subtask_attempts" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "subtask_id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "network_id" TEXT,
    "execution_id" TEXT,
    "assignee_id" TEXT NOT NULL,
    "outcome" TEXT NOT NULL DEFAULT 'open',
    "error" TEXT,
    "started_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ended_at" DATETIME
);

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
    "decided_count" INTEGER NOT NULL DEFAULT 0,
    "failed_count" INTEGER NOT NULL DEFAULT 0,
    "replicated_decided" INTEGER NOT NULL DEFAULT 0,
    "disagreements" INTEGER NOT NULL DEFAULT 0,
    "started_at" DATETIME,
    "completed_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL,
    CONSTRAINT "agent_network_executions_network_id_fkey" FOREIGN KEY ("network_id") REFERENCES "agent_networks" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_agent_network_executions" ("completed_at", "created_at", "error", "id", "network_id", "owner_id", "priority", "results", "started_at", "status", "task", "updated_at") SELECT "completed_at", "created_at", "error", "id", "network_id", "owner_id", "priority", "results", "started_at", "status", "task", "updated_at" FROM "agent_network_executions";
DROP TABLE "agent_network_executions";
ALTER TABLE "new_agent_network_executions" RENAME TO "agent_network_executions";
CREATE INDEX "agent_network_executions_network_id_created_at_id_idx" ON "agent_network_executions"("network_id", "created_at", "id");
CREATE INDEX "agent_network_executions_network_id_status_idx" ON "agent_network_executions"("network_id", "status");
CREATE INDEX "agent_network_executions_network_id_updated_at_idx" ON "agent_network_executions"("network_id", "updated_at");
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
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);
INSERT INTO "new_agent_networks" ("agents", "coordination_strategy", "created_at", "description", "id", "name", "owner_id", "rr_cursor", "status", "updated_at") SELECT "agents", "coordination_strategy", "created_at", "description", "id", "name", "owner_id", "rr_cursor", "status", "updated_at" FROM "agent_networks";
DROP TABLE "agent_networks";
ALTER TABLE "new_agent_networks" RENAME TO "agent_networks";
CREATE INDEX "agent_networks_owner_id_created_at_id_idx" ON "agent_networks"("owner_id", "created_at", "id");
CREATE TABLE "new_subtasks" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner_id" TEXT NOT NULL,
    "network_id" TEXT,
    "execution_id" TEXT,
    "coordination_id" TEXT,
    "seq" INTEGER NOT NULL,
    "replica" INTEGER NOT NULL DEFAULT 0,
    "payload" JSONB NOT NULL,
    "requires" JSONB,
    "priority_rank" INTEGER NOT NULL DEFAULT 1,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "assignee_id" TEXT,
    "assigned_at" DATETIME,
    "claim_by" DATETIME,
    "lease_expires_at" DATETIME,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL DEFAULT 3,
    "lease_id" TEXT,
    "result" JSONB,
    "result_key" TEXT,
    "accepted" BOOLEAN NOT NULL DEFAULT false,
    "error" TEXT,
    "started_at" DATETIME,
    "completed_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL,
    CONSTRAINT "subtasks_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "agent_network_executions" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "subtasks_coordination_id_fkey" FOREIGN KEY ("coordination_id") REFERENCES "swarm_coordination" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_subtasks" ("assigned_at", "assignee_id", "attempts", "completed_at", "coordination_id", "created_at", "error", "execution_id", "id", "lease_expires_at", "max_attempts", "owner_id", "payload", "priority_rank", "requires", "result", "seq", "started_at", "status", "updated_at") SELECT "assigned_at", "assignee_id", "attempts", "completed_at", "coordination_id", "created_at", "error", "execution_id", "id", "lease_expires_at", "max_attempts", "owner_id", "payload", "priority_rank", "requires", "result", "seq", "started_at", "status", "updated_at" FROM "subtasks";
DROP TABLE "subtasks";
ALTER TABLE "new_subtasks" RENAME TO "subtasks";
CREATE INDEX "subtasks_assignee_id_status_priority_rank_created_at_idx" ON "subtasks"("assignee_id", "status", "priority_rank", "created_at");
CREATE INDEX "subtasks_network_id_status_idx" ON "subtasks"("network_id", "status");
CREATE INDEX "subtasks_status_claim_by_idx" ON "subtasks"("status", "claim_by");
CREATE INDEX "subtasks_coordination_id_seq_idx" ON "subtasks"("coordination_id", "seq");
CREATE INDEX "subtasks_status_lease_expires_at_idx" ON "subtasks"("status", "lease_expires_at");
CREATE UNIQUE INDEX "subtasks_execution_id_seq_replica_key" ON "subtasks"("execution_id", "seq", "replica");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "subtask_attempts_network_id_started_at_idx" ON "subtask_attempts"("network_id", "started_at");

-- CreateIndex
CREATE INDEX "subtask_attempts_network_id_outcome_ended_at_idx" ON "subtask_attempts"("network_id", "outcome", "ended_at");

-- CreateIndex
CREATE INDEX "subtask_attempts_subtask_id_idx" ON "subtask_attempts"("subtask_id");

-- CreateIndex
CREATE INDEX "subtask_attempts_assignee_id_outcome_ended_at_idx" ON "subtask_attempts"("assignee_id", "outcome", "ended_at");
