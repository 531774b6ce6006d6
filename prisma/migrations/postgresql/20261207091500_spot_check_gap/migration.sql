-- AlterTable
ALTER TABLE "validation_records" ADD COLUMN "trusted_run" INTEGER NOT NULL DEFAULT 0;
