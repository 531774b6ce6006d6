-- Retries with backoff and attempt time limits (README "Retries, dead letters and attempt limits").
-- Columns are added in place (no table rebuild), so the open_work triggers on subtasks stay as they are.
ALTER TABLE "agent_networks" ADD COLUMN "retry_base_seconds" REAL NOT NULL DEFAULT 1;
ALTER TABLE "agent_networks" ADD COLUMN "retry_max_seconds" REAL NOT NULL DEFAULT 60;
ALTER TABLE "agent_networks" ADD COLUMN "max_attempt_seconds" INTEGER NOT NULL DEFAULT 3600;

ALTER TABLE "subtasks" ADD COLUMN "max_attempt_seconds" INTEGER NOT NULL DEFAULT 3600;
ALTER TABLE "subtasks" ADD COLUMN "attempt_deadline_at" DATETIME;
ALTER TABLE "subtasks" ADD COLUMN "backup_deadline_at" DATETIME;
