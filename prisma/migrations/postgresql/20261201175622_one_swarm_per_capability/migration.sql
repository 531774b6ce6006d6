-- One swarm per owner and capability: region is a member's attribute (it was
-- also part of the key of the swarm a join lands in, so members of one
-- capability in two regions sat in two swarms and a coordinate could not pick
-- from both). Each owner's open swarms of one capability merge into the oldest:
-- members, tasks, subtasks and attempts move to it, its rolling counters add
-- the others' (they are sums), and the others are deleted. Moving subtasks
-- moves their open_work counts through the subtasks triggers.
CREATE TABLE "swarm_merges" AS
SELECT s."id" AS "from_id",
       (SELECT t."id" FROM "swarms" t
         WHERE t."open_key" IS NOT NULL AND t."owner_id" = s."owner_id" AND t."capability" = s."capability"
         ORDER BY t."created_at", t."id" LIMIT 1) AS "to_id"
FROM "swarms" s WHERE s."open_key" IS NOT NULL;
DELETE FROM "swarm_merges" WHERE "from_id" = "to_id";

UPDATE "swarm_members" SET "swarm_id" = (SELECT m."to_id" FROM "swarm_merges" m WHERE m."from_id" = "swarm_members"."swarm_id")
WHERE "swarm_id" IN (SELECT "from_id" FROM "swarm_merges");
UPDATE "swarm_coordination" SET "swarm_id" = (SELECT m."to_id" FROM "swarm_merges" m WHERE m."from_id" = "swarm_coordination"."swarm_id")
WHERE "swarm_id" IN (SELECT "from_id" FROM "swarm_merges");
UPDATE "subtasks" SET "swarm_id" = (SELECT m."to_id" FROM "swarm_merges" m WHERE m."from_id" = "subtasks"."swarm_id")
WHERE "swarm_id" IN (SELECT "from_id" FROM "swarm_merges");
UPDATE "subtask_attempts" SET "swarm_id" = (SELECT m."to_id" FROM "swarm_merges" m WHERE m."from_id" = "subtask_attempts"."swarm_id")
WHERE "swarm_id" IN (SELECT "from_id" FROM "swarm_merges");

UPDATE "swarms" SET
  "active_members" = "active_members" + (SELECT COALESCE(SUM(f."active_members"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "suspect_members" = "suspect_members" + (SELECT COALESCE(SUM(f."suspect_members"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "failed_members" = "failed_members" + (SELECT COALESCE(SUM(f."failed_members"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "left_members" = "left_members" + (SELECT COALESCE(SUM(f."left_members"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "live_tasks" = "live_tasks" + (SELECT COALESCE(SUM(f."live_tasks"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "tasks_completed" = "tasks_completed" + (SELECT COALESCE(SUM(f."tasks_completed"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "tasks_failed" = "tasks_failed" + (SELECT COALESCE(SUM(f."tasks_failed"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "tasks_timed_out" = "tasks_timed_out" + (SELECT COALESCE(SUM(f."tasks_timed_out"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "attempts_completed" = "attempts_completed" + (SELECT COALESCE(SUM(f."attempts_completed"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "attempts_failed" = "attempts_failed" + (SELECT COALESCE(SUM(f."attempts_failed"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "attempts_expired" = "attempts_expired" + (SELECT COALESCE(SUM(f."attempts_expired"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "task_seconds" = "task_seconds" + (SELECT COALESCE(SUM(f."task_seconds"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id"),
  "accepted_results" = "accepted_results" + (SELECT COALESCE(SUM(f."accepted_results"), 0) FROM "swarms" f JOIN "swarm_merges" m ON m."from_id" = f."id" WHERE m."to_id" = "swarms"."id")
WHERE "id" IN (SELECT "to_id" FROM "swarm_merges");

DELETE FROM "open_work" WHERE "scope" = 'swarm' AND "key" IN (SELECT "from_id" FROM "swarm_merges");
DELETE FROM "swarms" WHERE "id" IN (SELECT "from_id" FROM "swarm_merges");
-- The join key without the region: apps/server/src/swarms/membership.ts builds
-- JSON.stringify([owner_id, capability]); neither holds a quote or a backslash.
UPDATE "swarms" SET "open_key" = '["' || "owner_id" || '","' || "capability" || '"]' WHERE "open_key" IS NOT NULL;
DROP TABLE "swarm_merges";

-- AlterTable
ALTER TABLE "swarms" DROP COLUMN "region";
