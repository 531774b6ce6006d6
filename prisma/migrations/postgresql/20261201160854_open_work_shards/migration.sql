-- Open-work counts go to one of 1,024 shards per key (backend pid mod 1024)
-- instead of 16: with a pool of ten connections per instance, pid mod 16 put
-- two backends on one shard row often enough that results waited on each
-- other's counter row (measured: a waiter in 46% of 20 ms samples during the
-- batched benchmark, all on that row). Readers already sum every shard; the
-- counts kept under the old shards stay where they are and keep counting.


CREATE OR REPLACE FUNCTION "open_work_insert"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", pg_backend_pid() % 1024, MIN(k."owner_id"),
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

CREATE OR REPLACE FUNCTION "open_work_update"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", pg_backend_pid() % 1024, MIN(k."owner_id"),
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

CREATE OR REPLACE FUNCTION "open_work_delete"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "open_work" ("scope", "key", "shard", "owner_id", "pending", "assigned", "leased")
  SELECT k."scope", k."key", pg_backend_pid() % 1024, MIN(k."owner_id"),
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
