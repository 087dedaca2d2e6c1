-- SPEC §8: besides a role (`doctor`, `reception` or `auditor`), every staff member has an
-- admin flag (0 or 1, an INTEGER on both backends). Nobody is an admin unless made one.
ALTER TABLE staff ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;

-- A store seeded with the demo before this column existed gets the demo's admins, yamada and
-- suzuki (their fixed ids from infra/src/demo.rs); on any other store this matches nothing.
UPDATE staff SET admin = 1
WHERE id IN ('786f5095-f84a-5839-ad43-7aac598eab09', '6c2453d0-37d1-5c81-98e0-d1c9c6a9008c');
