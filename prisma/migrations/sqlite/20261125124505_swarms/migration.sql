-- AlterTable
ALTER TABLE "subtask_attempts" ADD COLUMN "swarm_id" TEXT;

-- AlterTable
ALTER TABLE "subtasks" ADD COLUMN "swarm_id" TEXT;

-- AlterTable
ALTER TABLE "swarm_members" ADD COLUMN "fail_at" DATETIME;
ALTER TABLE "swarm_members" ADD COLUMN "suspect_at" DATETIME;

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_swarm_coordination" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "task_id" TEXT NOT NULL,
    "swarm_id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "strategy" TEXT NOT NULL,
    "task" JSONB,
    "parameters" JSONB,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "assigned_members" JSONB,
    "collaborators" INTEGER NOT NULL DEFAULT 0,
    "lease_seconds" INTEGER NOT NULL DEFAULT 30,
    "max_attempts" INTEGER NOT NULL DEFAULT 3,
    "leader" TEXT,
    "results" JSONB,
    "error" TEXT,
    "consensus_algorithm" TEXT,
    "consensus_threshold" REAL,
    "consensus" JSONB,
    "confidence_score" REAL,
    "consensus_reached_at" DATETIME,
    "timeout_seconds" INTEGER,
    "deadline_at" DATETIME,
    "subtask_count" INTEGER NOT NULL DEFAULT 0,
    "decided_count" INTEGER NOT NULL DEFAULT 0,
    "started_at" DATETIME,
    "completed_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);
INSERT INTO "new_swarm_coordination" ("assigned_members", "confidence_score", "consensus_algorithm", "consensus_reached_at", "consensus_threshold", "created_at", "deadline_at", "id", "owner_id", "parameters", "results", "status", "strategy", "swarm_id", "task_id", "timeout_seconds", "updated_at") SELECT "assigned_members", "confidence_score", "consensus_algorithm", "consensus_reached_at", "consensus_threshold", "created_at", "deadline_at", "id", "owner_id", "parameters", "results", "status", "strategy", "swarm_id", "task_id", "timeout_seconds", "updated_at" FROM "swarm_coordination";
DROP TABLE "swarm_coordination";
ALTER TABLE "new_swarm_coordination" RENAME TO "swarm_coordination";
CREATE INDEX "swarm_coordination_swarm_id_status_idx" ON "swarm_coordination"("swarm_id", "status");
CREATE INDEX "swarm_coordination_status_deadline_at_idx" ON "swarm_coordination"("status", "deadline_at");
CREATE UNIQUE INDEX "swarm_coordination_owner_id_task_id_key" ON "swarm_coordination"("owner_id", "task_id");
CREATE TABLE "new_swarm_votes" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "coordination_id" TEXT NOT NULL,
    "member_id" TEXT NOT NULL,
    "subtask_id" TEXT,
    "result" JSONB NOT NULL,
    "result_hash" TEXT NOT NULL,
    "preview" TEXT NOT NULL DEFAULT '',
    "reputation" REAL NOT NULL DEFAULT 0.5,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "swarm_votes_coordination_id_fkey" FOREIGN KEY ("coordination_id") REFERENCES "swarm_coordination" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_swarm_votes" ("coordination_id", "created_at", "id", "member_id", "result", "result_hash", "subtask_id") SELECT "coordination_id", "created_at", "id", "member_id", "result", "result_hash", "subtask_id" FROM "swarm_votes";
DROP TABLE "swarm_votes";
ALTER TABLE "new_swarm_votes" RENAME TO "swarm_votes";
CREATE UNIQUE INDEX "swarm_votes_coordination_id_member_id_key" ON "swarm_votes"("coordination_id", "member_id");
CREATE TABLE "new_swarms" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner_id" TEXT NOT NULL,
    "capability" TEXT NOT NULL,
    "region" TEXT,
    "status" TEXT NOT NULL DEFAULT 'open',
    "open_key" TEXT,
    "suspect_after_seconds" INTEGER NOT NULL DEFAULT 15,
    "fail_after_seconds" INTEGER NOT NULL DEFAULT 45,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);
INSERT INTO "new_swarms" ("capability", "created_at", "id", "owner_id", "region", "status", "updated_at") SELECT "capability", "created_at", "id", "owner_id", "region", "status", "updated_at" FROM "swarms";
DROP TABLE "swarms";
ALTER TABLE "new_swarms" RENAME TO "swarms";
CREATE UNIQUE INDEX "swarms_open_key_key" ON "swarms"("open_key");
CREATE INDEX "swarms_owner_id_created_at_id_idx" ON "swarms"("owner_id", "created_at", "id");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "subtask_attempts_swarm_id_started_at_idx" ON "subtask_attempts"("swarm_id", "started_at");

-- CreateIndex
CREATE INDEX "subtasks_swarm_id_status_idx" ON "subtasks"("swarm_id", "status");

-- CreateIndex
CREATE INDEX "swarm_members_status_suspect_at_idx" ON "swarm_members"("status", "suspect_at");

-- CreateIndex
CREATE INDEX "swarm_members_status_fail_at_idx" ON "swarm_members"("status", "fail_at");
