-- Counters that every result moves become sharded (one row per connection,
-- backend pid mod 16; readers sum the shards), so results arriving through
-- several server instances never queue on one row. A subtask carries its own
-- lease length, so a claim reads nothing but the subtasks.

-- CreateTable
CREATE TABLE "execution_progress" (
    "execution_id" TEXT NOT NULL,
    "shard" INTEGER NOT NULL DEFAULT 0,
    "decided" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "execution_progress_pkey" PRIMARY KEY ("execution_id","shard")
);

-- Decided counts move from the execution row to its shards.
INSERT INTO "execution_progress" ("execution_id", "shard", "decided")
SELECT "id", 0, "decided_count" FROM "agent_network_executions" WHERE "decided_count" > 0;

-- AlterTable
ALTER TABLE "agent_network_executions" DROP COLUMN "decided_count";

-- AlterTable
ALTER TABLE "network_agent_stats" DROP CONSTRAINT "network_agent_stats_pkey",
ADD COLUMN     "shard" INTEGER NOT NULL DEFAULT 0,
ADD CONSTRAINT "network_agent_stats_pkey" PRIMARY KEY ("network_id", "agent_id", "shard");

-- AlterTable
ALTER TABLE "network_minutes" DROP CONSTRAINT "network_minutes_pkey",
ADD COLUMN     "last_at" TIMESTAMP(3),
ADD COLUMN     "shard" INTEGER NOT NULL DEFAULT 0,
ADD CONSTRAINT "network_minutes_pkey" PRIMARY KEY ("network_id", "minute", "shard");

-- AlterTable
ALTER TABLE "subtasks" ADD COLUMN     "lease_seconds" INTEGER NOT NULL DEFAULT 30;

-- Open work takes its parent's lease length.
UPDATE "subtasks" SET "lease_seconds" = COALESCE(
  (SELECT n."lease_seconds" FROM "agent_networks" n WHERE n."id" = "subtasks"."network_id"),
  (SELECT c."lease_seconds" FROM "swarm_coordination" c WHERE c."id" = "subtasks"."coordination_id"),
  30)
WHERE "status" IN ('pending', 'assigned', 'leased');

-- CreateIndex
CREATE INDEX "agent_network_executions_status_idx" ON "agent_network_executions"("status");
