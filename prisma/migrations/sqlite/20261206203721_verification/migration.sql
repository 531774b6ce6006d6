-- Verified results (README "Verification"): the policy per network (and its snapshot per execution), each
-- copy's validation, host labels, the verification counters and the hosts' validation records. Columns are
-- added in place (no table rebuild), so the open_work triggers on subtasks stay as they are.
ALTER TABLE "agent_network_executions" ADD COLUMN "verification" JSONB;

ALTER TABLE "agent_networks" ADD COLUMN "verification" JSONB;
ALTER TABLE "agent_networks" ADD COLUMN "verify_validated" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "agent_networks" ADD COLUMN "verify_inconclusive" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "agent_networks" ADD COLUMN "verify_results" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "agent_networks" ADD COLUMN "verify_replicas" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "agent_networks" ADD COLUMN "verify_invalid" INTEGER NOT NULL DEFAULT 0;

ALTER TABLE "agents" ADD COLUMN "host" TEXT;

ALTER TABLE "subtasks" ADD COLUMN "validation" TEXT;

ALTER TABLE "swarm_members" ADD COLUMN "host" TEXT;

ALTER TABLE "swarms" ADD COLUMN "verify_validated" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "swarms" ADD COLUMN "verify_inconclusive" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "swarms" ADD COLUMN "verify_results" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "swarms" ADD COLUMN "verify_replicas" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "swarms" ADD COLUMN "verify_invalid" INTEGER NOT NULL DEFAULT 0;

CREATE TABLE "validation_records" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "valid_streak" INTEGER NOT NULL DEFAULT 0,
    "valid" INTEGER NOT NULL DEFAULT 0,
    "invalid" INTEGER NOT NULL DEFAULT 0,
    "recent" TEXT NOT NULL DEFAULT '',
    "reputation" REAL NOT NULL DEFAULT 0.5,
    "trusted" BOOLEAN NOT NULL DEFAULT false,
    "quarantined_at" DATETIME,
    "quarantined_until" DATETIME,
    "quarantines" INTEGER NOT NULL DEFAULT 0,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);


-- CreateIndex
CREATE INDEX "validation_records_owner_id_created_at_id_idx" ON "validation_records"("owner_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "validation_records_quarantined_until_idx" ON "validation_records"("quarantined_until");
