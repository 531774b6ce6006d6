-- CreateTable
CREATE TABLE "open_work" (
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "shard" INTEGER NOT NULL DEFAULT 0,
    "owner_id" TEXT NOT NULL,
    "pending" INTEGER NOT NULL DEFAULT 0,
    "assigned" INTEGER NOT NULL DEFAULT 0,
    "leased" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "open_work_pkey" PRIMARY KEY ("scope","key","shard")
);

-- The counts move with the rows, in the same transaction, by statement
-- triggers over the transition tables: one upsert per (scope, key) per
-- statement, however many rows it touched, and none when nothing open moved.
-- Each connection adds to its own shard (backend pid mod 16), so concurrent
-- claims do not queue on one row; readers sum the shards.

CREATE FUNCTION "open_work_insert"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", pg_backend_pid() % 16, MIN(k."owner_id"),
    SUM(k."sign" * (k."status" = 'pending')::INT), SUM(k."sign" * (k."status" = 'assigned')::INT), SUM(k."sign" * (k."status" = 'leased')::INT)
  FROM (SELECT 'network' AS "scope", "network_id" AS "key", "owner_id", "status", 1 AS "sign" FROM "new_rows"
      UNION ALL SELECT 'swarm' AS "scope", "swarm_id" AS "key", "owner_id", "status", 1 AS "sign" FROM "new_rows"
      UNION ALL SELECT 'assignee' AS "scope", "assignee_id" AS "key", "owner_id", "status", 1 AS "sign" FROM "new_rows") k
  WHERE k."key" IS NOT NULL AND k."status" IN ('pending', 'assigned', 'leased')
  GROUP BY k."scope", k."key"
  HAVING SUM(k."sign" * (k."status" = 'pending')::INT) <> 0 OR SUM(k."sign" * (k."status" = 'assigned')::INT) <> 0 OR SUM(k."sign" * (k."status" = 'leased')::INT) <> 0
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "open_work"."pending" + EXCLUDED."pending",
    "assigned" = "open_work"."assigned" + EXCLUDED."assigned",
    "leased" = "open_work"."leased" + EXCLUDED."leased";
  RETURN NULL;
END $$;

CREATE TRIGGER "open_work_insert" AFTER INSERT ON "subtasks" REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "open_work_insert"();

CREATE FUNCTION "open_work_update"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", pg_backend_pid() % 16, MIN(k."owner_id"),
    SUM(k."sign" * (k."status" = 'pending')::INT), SUM(k."sign" * (k."status" = 'assigned')::INT), SUM(k."sign" * (k."status" = 'leased')::INT)
  FROM (SELECT 'network' AS "scope", "network_id" AS "key", "owner_id", "status", -1 AS "sign" FROM "old_rows"
      UNION ALL SELECT 'swarm' AS "scope", "swarm_id" AS "key", "owner_id", "status", -1 AS "sign" FROM "old_rows"
      UNION ALL SELECT 'assignee' AS "scope", "assignee_id" AS "key", "owner_id", "status", -1 AS "sign" FROM "old_rows"
      UNION ALL SELECT 'network' AS "scope", "network_id" AS "key", "owner_id", "status", 1 AS "sign" FROM "new_rows"
      UNION ALL SELECT 'swarm' AS "scope", "swarm_id" AS "key", "owner_id", "status", 1 AS "sign" FROM "new_rows"
      UNION ALL SELECT 'assignee' AS "scope", "assignee_id" AS "key", "owner_id", "status", 1 AS "sign" FROM "new_rows") k
  WHERE k."key" IS NOT NULL AND k."status" IN ('pending', 'assigned', 'leased')
  GROUP BY k."scope", k."key"
  HAVING SUM(k."sign" * (k."status" = 'pending')::INT) <> 0 OR SUM(k."sign" * (k."status" = 'assigned')::INT) <> 0 OR SUM(k."sign" * (k."status" = 'leased')::INT) <> 0
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "open_work"."pending" + EXCLUDED."pending",
    "assigned" = "open_work"."assigned" + EXCLUDED."assigned",
    "leased" = "open_work"."leased" + EXCLUDED."leased";
  RETURN NULL;
END $$;

CREATE TRIGGER "open_work_update" AFTER UPDATE ON "subtasks" REFERENCING OLD TABLE AS "old_rows" NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "open_work_update"();

CREATE FUNCTION "open_work_delete"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", pg_backend_pid() % 16, MIN(k."owner_id"),
    SUM(k."sign" * (k."status" = 'pending')::INT), SUM(k."sign" * (k."status" = 'assigned')::INT), SUM(k."sign" * (k."status" = 'leased')::INT)
  FROM (SELECT 'network' AS "scope", "network_id" AS "key", "owner_id", "status", -1 AS "sign" FROM "old_rows"
      UNION ALL SELECT 'swarm' AS "scope", "swarm_id" AS "key", "owner_id", "status", -1 AS "sign" FROM "old_rows"
      UNION ALL SELECT 'assignee' AS "scope", "assignee_id" AS "key", "owner_id", "status", -1 AS "sign" FROM "old_rows") k
  WHERE k."key" IS NOT NULL AND k."status" IN ('pending', 'assigned', 'leased')
  GROUP BY k."scope", k."key"
  HAVING SUM(k."sign" * (k."status" = 'pending')::INT) <> 0 OR SUM(k."sign" * (k."status" = 'assigned')::INT) <> 0 OR SUM(k."sign" * (k."status" = 'leased')::INT) <> 0
  ON CONFLICT ("scope", "key", "shard") DO UPDATE SET
    "pending" = "open_work"."pending" + EXCLUDED."pending",
    "assigned" = "open_work"."assigned" + EXCLUDED."assigned",
    "leased" = "open_work"."leased" + EXCLUDED."leased";
  RETURN NULL;
END $$;

CREATE TRIGGER "open_work_delete" AFTER DELETE ON "subtasks" REFERENCING OLD TABLE AS "old_rows" FOR EACH STATEMENT EXECUTE FUNCTION "open_work_delete"();

-- Backfill from the open subtasks already recorded.
INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
SELECT k."scope", k."key", 0, MIN(k."owner_id"), COUNT(*) FILTER (WHERE k."status" = 'pending'), COUNT(*) FILTER (WHERE k."status" = 'assigned'), COUNT(*) FILTER (WHERE k."status" = 'leased')
FROM (
  SELECT 'network' AS "scope", "network_id" AS "key", "owner_id", "status" FROM "subtasks" WHERE "network_id" IS NOT NULL
  UNION ALL SELECT 'swarm', "swarm_id", "owner_id", "status" FROM "subtasks" WHERE "swarm_id" IS NOT NULL
  UNION ALL SELECT 'assignee', "assignee_id", "owner_id", "status" FROM "subtasks" WHERE "assignee_id" IS NOT NULL
) k
WHERE k."status" IN ('pending', 'assigned', 'leased')
GROUP BY k."scope", k."key";
