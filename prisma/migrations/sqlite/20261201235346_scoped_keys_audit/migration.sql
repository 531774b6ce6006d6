-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN "agent_ids" TEXT;
ALTER TABLE "api_keys" ADD COLUMN "expires_at" DATETIME;
ALTER TABLE "api_keys" ADD COLUMN "last_used_at" DATETIME;
ALTER TABLE "api_keys" ADD COLUMN "member_ids" TEXT;
ALTER TABLE "api_keys" ADD COLUMN "replaced_by" TEXT;

-- CreateTable
CREATE TABLE "audit_events" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "action" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "target_id" TEXT NOT NULL,
    "actor_owner_id" TEXT NOT NULL,
    "actor_key_id" TEXT,
    "ip" TEXT,
    "request_id" TEXT,
    "detail" TEXT
);

-- CreateIndex
CREATE INDEX "audit_events_owner_id_created_at_idx" ON "audit_events"("owner_id", "created_at");

-- CreateIndex
CREATE INDEX "audit_events_created_at_idx" ON "audit_events"("created_at");
