-- AlterTable
ALTER TABLE "agent_networks" ALTER COLUMN "speculation" SET DEFAULT true,
ALTER COLUMN "speculation_multiplier" SET DEFAULT 3;
