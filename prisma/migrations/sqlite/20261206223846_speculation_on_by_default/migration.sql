-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_agent_networks" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "agents" JSONB NOT NULL,
    "coordination_strategy" TEXT NOT NULL DEFAULT 'round-robin',
    "status" TEXT NOT NULL DEFAULT 'active',
    "owner_id" TEXT NOT NULL,
    "rr_cursor" INTEGER NOT NULL DEFAULT 0,
    "lease_seconds" INTEGER NOT NULL DEFAULT 30,
    "claim_timeout_seconds" INTEGER NOT NULL DEFAULT 30,
    "max_attempts" INTEGER NOT NULL DEFAULT 3,
    "replication" INTEGER NOT NULL DEFAULT 2,
    "max_replication" INTEGER NOT NULL DEFAULT 4,
    "work_stealing" BOOLEAN NOT NULL DEFAULT true,
    "speculation" BOOLEAN NOT NULL DEFAULT true,
    "speculation_multiplier" REAL NOT NULL DEFAULT 3,
    "speculation_quantile" REAL NOT NULL DEFAULT 0.75,
    "retry_base_seconds" REAL NOT NULL DEFAULT 1,
    "retry_max_seconds" REAL NOT NULL DEFAULT 60,
    "max_attempt_seconds" INTEGER NOT NULL DEFAULT 3600,
    "verification" JSONB,
    "live_executions" INTEGER NOT NULL DEFAULT 0,
    "executions_total" INTEGER NOT NULL DEFAULT 0,
    "executions_completed" INTEGER NOT NULL DEFAULT 0,
    "executions_failed" INTEGER NOT NULL DEFAULT 0,
    "execution_seconds" REAL NOT NULL DEFAULT 0,
    "replicated_decided" INTEGER NOT NULL DEFAULT 0,
    "disagreements" INTEGER NOT NULL DEFAULT 0,
    "verify_validated" INTEGER NOT NULL DEFAULT 0,
    "verify_inconclusive" INTEGER NOT NULL DEFAULT 0,
    "verify_results" INTEGER NOT NULL DEFAULT 0,
    "verify_replicas" INTEGER NOT NULL DEFAULT 0,
    "verify_invalid" INTEGER NOT NULL DEFAULT 0,
    "last_activity_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);
INSERT INTO "new_agent_networks" ("agents", "claim_timeout_seconds", "coordination_strategy", "created_at", "description", "disagreements", "execution_seconds", "executions_completed", "executions_failed", "executions_total", "id", "last_activity_at", "lease_seconds", "live_executions", "max_attempt_seconds", "max_attempts", "max_replication", "name", "owner_id", "replicated_decided", "replication", "retry_base_seconds", "retry_max_seconds", "rr_cursor", "speculation", "speculation_multiplier", "speculation_quantile", "status", "updated_at", "verification", "verify_inconclusive", "verify_invalid", "verify_replicas", "verify_results", "verify_validated", "work_stealing") SELECT "agents", "claim_timeout_seconds", "coordination_strategy", "created_at", "description", "disagreements", "execution_seconds", "executions_completed", "executions_failed", "executions_total", "id", "last_activity_at", "lease_seconds", "live_executions", "max_attempt_seconds", "max_attempts", "max_replication", "name", "owner_id", "replicated_decided", "replication", "retry_base_seconds", "retry_max_seconds", "rr_cursor", "speculation", "speculation_multiplier", "speculation_quantile", "status", "updated_at", "verification", "verify_inconclusive", "verify_invalid", "verify_replicas", "verify_results", "verify_validated", "work_stealing" FROM "agent_networks";
DROP TABLE "agent_networks";
ALTER TABLE "new_agent_networks" RENAME TO "agent_networks";
CREATE INDEX "agent_networks_owner_id_created_at_id_idx" ON "agent_networks"("owner_id", "created_at", "id");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
