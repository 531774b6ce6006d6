-- AlterTable
ALTER TABLE "validation_records" ADD COLUMN     "probation_until" TIMESTAMP(3);
