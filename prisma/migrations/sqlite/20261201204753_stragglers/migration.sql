-- Stragglers: work stealing and speculative backup copies (README "Stragglers").
-- Columns are added in place (no table rebuild), so the open_work triggers on
-- these tables stay as they are.
ALTER TABLE "agent_networks" ADD COLUMN "work_stealing" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE "agent_networks" ADD COLUMN "speculation" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "agent_networks" ADD COLUMN "speculation_multiplier" REAL NOT NULL DEFAULT 1.5;
ALTER TABLE "agent_networks" ADD COLUMN "speculation_quantile" REAL NOT NULL DEFAULT 0.75;

ALTER TABLE "agent_network_executions" ADD COLUMN "backups_launched" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "agent_network_executions" ADD COLUMN "backups_won" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "agent_network_executions" ADD COLUMN "backup_seconds_saved" REAL NOT NULL DEFAULT 0;

ALTER TABLE "swarm_coordination" ADD COLUMN "backups_launched" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "swarm_coordination" ADD COLUMN "backups_won" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "swarm_coordination" ADD COLUMN "backup_seconds_saved" REAL NOT NULL DEFAULT 0;

ALTER TABLE "subtasks" ADD COLUMN "backup_assignee_id" TEXT;
ALTER TABLE "subtasks" ADD COLUMN "backup_lease_id" TEXT;
ALTER TABLE "subtasks" ADD COLUMN "backup_lease_expires_at" DATETIME;

ALTER TABLE "subtask_attempts" ADD COLUMN "backup" BOOLEAN NOT NULL DEFAULT false;

CREATE INDEX "subtasks_backup_lease_expires_at_idx" ON "subtasks"("backup_lease_expires_at");
