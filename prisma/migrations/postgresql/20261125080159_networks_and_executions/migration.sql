-- DropIndex
DROP INDEX "agent_network_executions_network_id_created_at_idx";

-- DropIndex
DROP INDEX "subtasks_execution_id_seq_idx";

-- AlterTable
ALTER TABLE "agent_network_executions" ADD COLUMN     "decided_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "disagreements" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "failed_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "replicated_decided" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "subtask_count" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "agent_networks" ADD COLUMN     "claim_timeout_seconds" INTEGER NOT NULL DEFAULT 30,
ADD COLUMN     "lease_seconds" INTEGER NOT NULL DEFAULT 30,
ADD COLUMN     "max_attempts" INTEGER NOT NULL DEFAULT 3,
ADD COLUMN     "max_replication" INTEGER NOT NULL DEFAULT 4,
ADD COLUMN     "replication" INTEGER NOT NULL DEFAULT 2;

-- AlterTable
ALTER TABLE "subtasks" ADD COLUMN     "accepted" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "claim_by" TIMESTAMP(3),
ADD COLUMN     "lease_id" TEXT,
ADD COLUMN     "network_id" TEXT,
ADD COLUMN     "replica" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "result_key" TEXT;

-- CreateTable
CREATE TABLE "subtask_attempts" (
    "id" TEXT NOT NULL,
    "subtask_id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "network_id" TEXT,
    "execution_id" TEXT,
    "assignee_id" TEXT NOT NULL,
    "outcome" TEXT NOT NULL DEFAULT 'open',
    "error" TEXT,
    "started_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ended_at" TIMESTAMP(3),

    CONSTRAINT "subtask_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "subtask_attempts_network_id_started_at_idx" ON "subtask_attempts"("network_id", "started_at");

-- CreateIndex
CREATE INDEX "subtask_attempts_network_id_outcome_ended_at_idx" ON "subtask_attempts"("network_id", "outcome", "ended_at");

-- CreateIndex
CREATE INDEX "subtask_attempts_subtask_id_idx" ON "subtask_attempts"("subtask_id");

-- CreateIndex
CREATE INDEX "subtask_attempts_assignee_id_outcome_ended_at_idx" ON "subtask_attempts"("assignee_id", "outcome", "ended_at");

-- CreateIndex
CREATE INDEX "agent_network_executions_network_id_created_at_id_idx" ON "agent_network_executions"("network_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "agent_network_executions_network_id_updated_at_idx" ON "agent_network_executions"("network_id", "updated_at");

-- CreateIndex
CREATE INDEX "subtasks_network_id_status_idx" ON "subtasks"("network_id", "status");

-- CreateIndex
CREATE INDEX "subtasks_status_claim_by_idx" ON "subtasks"("status", "claim_by");

-- CreateIndex
CREATE UNIQUE INDEX "subtasks_execution_id_seq_replica_key" ON "subtasks"("execution_id", "seq", "replica");
