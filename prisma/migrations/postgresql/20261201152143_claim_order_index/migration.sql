-- DropIndex
DROP INDEX "subtasks_assignee_id_status_priority_rank_created_at_idx";

-- DropIndex
DROP INDEX "subtasks_network_id_status_idx";

-- DropIndex
DROP INDEX "subtasks_swarm_id_status_idx";

-- CreateIndex
CREATE INDEX "subtasks_assignee_id_status_priority_rank_created_at_seq_re_idx" ON "subtasks"("assignee_id", "status", "priority_rank", "created_at", "seq", "replica");

-- CreateIndex
CREATE INDEX "subtasks_network_id_idx" ON "subtasks"("network_id");
