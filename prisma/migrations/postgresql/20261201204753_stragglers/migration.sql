-- Stragglers: work stealing and speculative backup copies (README "Stragglers").
-- AlterTable
ALTER TABLE "agent_network_executions" ADD COLUMN     "backup_seconds_saved" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "backups_launched" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "backups_won" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "agent_networks" ADD COLUMN     "speculation" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "speculation_multiplier" DOUBLE PRECISION NOT NULL DEFAULT 1.5,
ADD COLUMN     "speculation_quantile" DOUBLE PRECISION NOT NULL DEFAULT 0.75,
ADD COLUMN     "work_stealing" BOOLEAN NOT NULL DEFAULT true;

-- AlterTable
ALTER TABLE "subtask_attempts" ADD COLUMN     "backup" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "subtasks" ADD COLUMN     "backup_assignee_id" TEXT,
ADD COLUMN     "backup_lease_expires_at" TIMESTAMP(3),
ADD COLUMN     "backup_lease_id" TEXT;

-- AlterTable
ALTER TABLE "swarm_coordination" ADD COLUMN     "backup_seconds_saved" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "backups_launched" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "backups_won" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "subtasks_backup_lease_expires_at_idx" ON "subtasks"("backup_lease_expires_at");
