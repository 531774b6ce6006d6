-- CreateTable
CREATE TABLE "network_minutes" (
    "network_id" TEXT NOT NULL,
    "minute" INTEGER NOT NULL,
    "completed" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "network_minutes_pkey" PRIMARY KEY ("network_id","minute")
);

-- CreateIndex
CREATE INDEX "agent_network_executions_network_id_status_completed_at_idx" ON "agent_network_executions"("network_id", "status", "completed_at");

-- Backfill from the attempts already recorded.
INSERT INTO "network_minutes" ("network_id", "minute", "completed")
SELECT a."network_id", FLOOR(EXTRACT(EPOCH FROM a."ended_at") / 60)::int, COUNT(*)
FROM "subtask_attempts" a WHERE a."network_id" IS NOT NULL AND a."outcome" = 'completed' AND a."ended_at" IS NOT NULL
GROUP BY a."network_id", FLOOR(EXTRACT(EPOCH FROM a."ended_at") / 60)::int;
