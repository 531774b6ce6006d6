-- DropIndex
DROP INDEX "swarms_owner_id_capability_region_status_idx";

-- AlterTable
ALTER TABLE "subtask_attempts" ADD COLUMN     "swarm_id" TEXT;

-- AlterTable
ALTER TABLE "subtasks" ADD COLUMN     "swarm_id" TEXT;

-- AlterTable
ALTER TABLE "swarm_coordination" ADD COLUMN     "collaborators" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "completed_at" TIMESTAMP(3),
ADD COLUMN     "consensus" JSONB,
ADD COLUMN     "decided_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "error" TEXT,
ADD COLUMN     "leader" TEXT,
ADD COLUMN     "lease_seconds" INTEGER NOT NULL DEFAULT 30,
ADD COLUMN     "max_attempts" INTEGER NOT NULL DEFAULT 3,
ADD COLUMN     "started_at" TIMESTAMP(3),
ADD COLUMN     "subtask_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "task" JSONB,
ALTER COLUMN "status" SET DEFAULT 'queued';

-- AlterTable
ALTER TABLE "swarm_members" ADD COLUMN     "fail_at" TIMESTAMP(3),
ADD COLUMN     "suspect_at" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "swarm_votes" DROP COLUMN "weight",
ADD COLUMN     "preview" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "priority" TEXT NOT NULL DEFAULT 'normal',
ADD COLUMN     "reputation" DOUBLE PRECISION NOT NULL DEFAULT 0.5;

-- AlterTable
ALTER TABLE "swarms" ADD COLUMN     "fail_after_seconds" INTEGER NOT NULL DEFAULT 45,
ADD COLUMN     "open_key" TEXT,
ADD COLUMN     "suspect_after_seconds" INTEGER NOT NULL DEFAULT 15;

-- CreateIndex
CREATE INDEX "subtask_attempts_swarm_id_started_at_idx" ON "subtask_attempts"("swarm_id", "started_at");

-- CreateIndex
CREATE INDEX "subtasks_swarm_id_status_idx" ON "subtasks"("swarm_id", "status");

-- CreateIndex
CREATE INDEX "swarm_coordination_status_deadline_at_idx" ON "swarm_coordination"("status", "deadline_at");

-- CreateIndex
CREATE INDEX "swarm_members_status_suspect_at_idx" ON "swarm_members"("status", "suspect_at");

-- CreateIndex
CREATE INDEX "swarm_members_status_fail_at_idx" ON "swarm_members"("status", "fail_at");

-- CreateIndex
CREATE UNIQUE INDEX "swarms_open_key_key" ON "swarms"("open_key");

-- CreateIndex
CREATE INDEX "swarms_owner_id_created_at_id_idx" ON "swarms"("owner_id", "created_at", "id");
