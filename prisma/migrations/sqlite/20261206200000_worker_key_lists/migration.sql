-- A worker key that named only agents held its members as null, which reads as "all of the owner's" (and the
-- other way round): it could act for every member of its owner. A list a key was not given is empty; "all"
-- is asked for explicitly. Keys that named neither list were issued as "all of the owner's" and stay so.
UPDATE "api_keys" SET "member_ids" = '[]' WHERE "role" = 'worker' AND "agent_ids" IS NOT NULL AND "member_ids" IS NULL;
UPDATE "api_keys" SET "agent_ids" = '[]' WHERE "role" = 'worker' AND "member_ids" IS NOT NULL AND "agent_ids" IS NULL;
