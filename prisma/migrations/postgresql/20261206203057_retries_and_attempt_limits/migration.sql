-- AlterTable
ALTER TABLE "agent_networks" ADD COLUMN     "max_attempt_seconds" INTEGER NOT NULL DEFAULT 3600,
ADD COLUMN     "retry_base_seconds" DOUBLE PRECISION NOT NULL DEFAULT 1,
ADD COLUMN     "retry_max_seconds" DOUBLE PRECISION NOT NULL DEFAULT 60;

-- AlterTable
ALTER TABLE "subtasks" ADD COLUMN     "attempt_deadline_at" TIMESTAMP(3),
ADD COLUMN     "backup_deadline_at" TIMESTAMP(3),
ADD COLUMN     "max_attempt_seconds" INTEGER NOT NULL DEFAULT 3600;
