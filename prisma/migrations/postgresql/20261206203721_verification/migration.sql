-- AlterTable
ALTER TABLE "agent_network_executions" ADD COLUMN     "verification" JSONB;

-- AlterTable
ALTER TABLE "agent_networks" ADD COLUMN     "verification" JSONB,
ADD COLUMN     "verify_inconclusive" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_invalid" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_replicas" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_results" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_validated" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "host" TEXT;

-- AlterTable
ALTER TABLE "subtasks" ADD COLUMN     "validation" TEXT;

-- AlterTable
ALTER TABLE "swarm_members" ADD COLUMN     "host" TEXT;

-- AlterTable
ALTER TABLE "swarms" ADD COLUMN     "verify_inconclusive" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_invalid" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_replicas" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_results" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "verify_validated" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "validation_records" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "valid_streak" INTEGER NOT NULL DEFAULT 0,
    "valid" INTEGER NOT NULL DEFAULT 0,
    "invalid" INTEGER NOT NULL DEFAULT 0,
    "recent" TEXT NOT NULL DEFAULT '',
    "reputation" DOUBLE PRECISION NOT NULL DEFAULT 0.5,
    "trusted" BOOLEAN NOT NULL DEFAULT false,
    "quarantined_at" TIMESTAMP(3),
    "quarantined_until" TIMESTAMP(3),
    "quarantines" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP(3) NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "validation_records_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "validation_records_owner_id_created_at_id_idx" ON "validation_records"("owner_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "validation_records_quarantined_until_idx" ON "validation_records"("quarantined_until");
