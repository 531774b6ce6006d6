-- A status change that keeps its keys (a claim, a result: the common case)
-- moves each of its three counts with one direct upsert of the differences,
-- instead of two upserts over a three-row UNION per key. Measured on a
-- 20,000-subtask table: a claim's UPDATE cost ~250 µs with the general
-- trigger, ~110 µs without any; the general trigger stays for changes of
-- assignee, network or swarm.

DROP TRIGGER "open_work_update";

CREATE TRIGGER "open_work_update" AFTER UPDATE OF "status", "assignee_id", "network_id", "swarm_id" ON "subtasks"
WHEN (OLD."status" IN ('pending', 'assigned', 'leased') OR NEW."status" IN ('pending', 'assigned', 'leased'))
  AND (OLD."assignee_id" IS NOT NEW."assignee_id" OR OLD."network_id" IS NOT NEW."network_id" OR OLD."swarm_id" IS NOT NEW."swarm_id")
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

CREATE TRIGGER "open_work_status" AFTER UPDATE OF "status" ON "subtasks"
WHEN OLD."status" IS NOT NEW."status"
  AND (OLD."status" IN ('pending', 'assigned', 'leased') OR NEW."status" IN ('pending', 'assigned', 'leased'))
  AND OLD."assignee_id" IS NEW."assignee_id" AND OLD."network_id" IS NEW."network_id" AND OLD."swarm_id" IS NEW."swarm_id"
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT 'assignee', NEW."assignee_id", 0, NEW."owner_id",
    (NEW."status" = 'pending') - (OLD."status" = 'pending'), (NEW."status" = 'assigned') - (OLD."status" = 'assigned'), (NEW."status" = 'leased') - (OLD."status" = 'leased')
  WHERE NEW."assignee_id" IS NOT NULL
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "pending" + excluded."pending", "assigned" = "assigned" + excluded."assigned", "leased" = "leased" + excluded."leased";
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT 'network', NEW."network_id", 0, NEW."owner_id",
    (NEW."status" = 'pending') - (OLD."status" = 'pending'), (NEW."status" = 'assigned') - (OLD."status" = 'assigned'), (NEW."status" = 'leased') - (OLD."status" = 'leased')
  WHERE NEW."network_id" IS NOT NULL
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "pending" + excluded."pending", "assigned" = "assigned" + excluded."assigned", "leased" = "leased" + excluded."leased";
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT 'swarm', NEW."swarm_id", 0, NEW."owner_id",
    (NEW."status" = 'pending') - (OLD."status" = 'pending'), (NEW."status" = 'assigned') - (OLD."status" = 'assigned'), (NEW."status" = 'leased') - (OLD."status" = 'leased')
  WHERE NEW."swarm_id" IS NOT NULL
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "pending" + excluded."pending", "assigned" = "assigned" + excluded."assigned", "leased" = "leased" + excluded."leased";
END;
