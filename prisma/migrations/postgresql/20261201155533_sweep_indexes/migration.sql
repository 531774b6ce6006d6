-- DropIndex
DROP INDEX "subtask_attempts_network_id_outcome_ended_at_idx";

-- DropIndex
DROP INDEX "subtasks_status_claim_by_idx";

-- DropIndex
DROP INDEX "subtasks_status_lease_expires_at_idx";

-- CreateIndex
CREATE INDEX "subtasks_claim_by_idx" ON "subtasks"("claim_by");

-- CreateIndex
CREATE INDEX "subtasks_lease_expires_at_idx" ON "subtasks"("lease_expires_at");
