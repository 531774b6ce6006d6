-- CreateTable
CREATE TABLE "open_work" (
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "shard" INTEGER NOT NULL DEFAULT 0,
    "owner_id" TEXT NOT NULL,
    "pending" INTEGER NOT NULL DEFAULT 0,
    "assigned" INTEGER NOT NULL DEFAULT 0,
    "leased" INTEGER NOT NULL DEFAULT 0,

    PRIMARY KEY ("scope", "key", "shard")
);

-- The counts move with the rows, in the same transaction, by trigger: a
-- subtask leaves its old bucket (if it was open) and joins its new one.
CREATE TRIGGER "open_work_insert" AFTER INSERT ON "subtasks"
WHEN NEW."status" IN ('pending', 'assigned', 'leased')
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", 0, NEW."owner_id", NEW."status" = 'pending', NEW."status" = 'assigned', NEW."status" = 'leased'
  FROM (SELECT 'network' AS "scope", NEW."network_id" AS "key" UNION ALL SELECT 'swarm', NEW."swarm_id" UNION ALL SELECT 'assignee', NEW."assignee_id") k
  WHERE k."key" IS NOT NULL
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "pending" + excluded."pending", "assigned" = "assigned" + excluded."assigned", "leased" = "leased" + excluded."leased";
END;

CREATE TRIGGER "open_work_update" AFTER UPDATE OF "status", "assignee_id", "network_id", "swarm_id" ON "subtasks"
WHEN (OLD."status" IN ('pending', 'assigned', 'leased') OR NEW."status" IN ('pending', 'assigned', 'leased'))
  AND (OLD."status" IS NOT NEW."status" OR OLD."assignee_id" IS NOT NEW."assignee_id" OR OLD."network_id" IS NOT NEW."network_id" OR OLD."swarm_id" IS NOT NEW."swarm_id")
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", 0, OLD."owner_id", -(OLD."status" = 'pending'), -(OLD."status" = 'assigned'), -(OLD."status" = 'leased')
  FROM (SELECT 'network' AS "scope", OLD."network_id" AS "key" UNION ALL SELECT 'swarm', OLD."swarm_id" UNION ALL SELECT 'assignee', OLD."assignee_id") k
  WHERE k."key" IS NOT NULL AND OLD."status" IN ('pending', 'assigned', 'leased')
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "pending" + excluded."pending", "assigned" = "assigned" + excluded."assigned", "leased" = "leased" + excluded."leased";
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", 0, NEW."owner_id", NEW."status" = 'pending', NEW."status" = 'assigned', NEW."status" = 'leased'
  FROM (SELECT 'network' AS "scope", NEW."network_id" AS "key" UNION ALL SELECT 'swarm', NEW."swarm_id" UNION ALL SELECT 'assignee', NEW."assignee_id") k
  WHERE k."key" IS NOT NULL AND NEW."status" IN ('pending', 'assigned', 'leased')
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "pending" + excluded."pending", "assigned" = "assigned" + excluded."assigned", "leased" = "leased" + excluded."leased";
END;

CREATE TRIGGER "open_work_delete" AFTER DELETE ON "subtasks"
WHEN OLD."status" IN ('pending', 'assigned', 'leased')
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", 0, OLD."owner_id", -(OLD."status" = 'pending'), -(OLD."status" = 'assigned'), -(OLD."status" = 'leased')
  FROM (SELECT 'network' AS "scope", OLD."network_id" AS "key" UNION ALL SELECT 'swarm', OLD."swarm_id" UNION ALL SELECT 'assignee', OLD."assignee_id") k
  WHERE k."key" IS NOT NULL
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "pending" + excluded."pending", "assigned" = "assigned" + excluded."assigned", "leased" = "leased" + excluded."leased";
END;

-- Backfill from the open subtasks already recorded.
INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
SELECT k."scope", k."key", 0, MIN(k."owner_id"), SUM(k."status" = 'pending'), SUM(k."status" = 'assigned'), SUM(k."status" = 'leased')
FROM (
  SELECT 'network' AS "scope", "network_id" AS "key", "owner_id", "status" FROM "subtasks" WHERE "network_id" IS NOT NULL
  UNION ALL SELECT 'swarm', "swarm_id", "owner_id", "status" FROM "subtasks" WHERE "swarm_id" IS NOT NULL
  UNION ALL SELECT 'assignee', "assignee_id", "owner_id", "status" FROM "subtasks" WHERE "assignee_id" IS NOT NULL
) k
WHERE k."status" IN ('pending', 'assigned', 'leased')
GROUP BY k."scope", k."key";
