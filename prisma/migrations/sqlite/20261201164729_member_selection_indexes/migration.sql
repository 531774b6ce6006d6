-- DropIndex
DROP INDEX "swarm_members_swarm_id_status_idx";

-- CreateIndex
CREATE INDEX "swarm_members_swarm_id_status_reputation_member_id_idx" ON "swarm_members"("swarm_id", "status", "reputation" DESC, "member_id");

-- CreateIndex
CREATE INDEX "swarm_members_owner_id_capability_status_reputation_member_id_idx" ON "swarm_members"("owner_id", "capability", "status", "reputation" DESC, "member_id");
