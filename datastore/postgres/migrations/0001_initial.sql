-- reach's PostgreSQL datastore, schema version 1. See doc.go for the layout.

-- The head revision: one row, locked by every write until it commits, so
-- that revisions are handed out and become visible in commit order.
CREATE TABLE reach_head (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    rev bigint  NOT NULL
);
INSERT INTO reach_head (id, rev) VALUES (true, 0);

-- The oldest readable revision, raised by garbage collection before it
-- deletes what only older revisions could see.
CREATE TABLE reach_gc (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    rev bigint  NOT NULL
);
INSERT INTO reach_gc (id, rev) VALUES (true, 0);

-- The commit time of every revision (the database's clock), for the
-- garbage-collection window.
CREATE TABLE reach_revisions (
    rev          bigint      PRIMARY KEY,
    committed_at timestamptz NOT NULL
);
-- The newest revision committed before a time, in one probe.
CREATE INDEX reach_revisions_committed_at ON reach_revisions (committed_at);

-- Every version of every relationship: visible at revision R when
-- created_rev <= R < deleted_rev. Names and ids compare bytewise (C).
CREATE TABLE reach_relationships (
    resource_type    text COLLATE "C" NOT NULL,
    resource_id      text COLLATE "C" NOT NULL,
    relation         text COLLATE "C" NOT NULL,
    subject_type     text COLLATE "C" NOT NULL,
    subject_id       text COLLATE "C" NOT NULL,
    subject_relation text COLLATE "C" NOT NULL, -- '' for a plain subject
    caveat_name      text NOT NULL DEFAULT '',  -- '' for none
    caveat_context   json,                      -- NULL for none
    expiration       timestamptz,               -- to the microsecond, rounded down; NULL: never
    expiration_ns    smallint NOT NULL DEFAULT 0, -- the nanoseconds below it (0-999)
    created_rev      bigint NOT NULL,
    deleted_rev      bigint NOT NULL DEFAULT 9223372036854775807
);

-- The forward walk (a resource's subjects), filters by resource, and the
-- guard of one live version per relationship: two versions of one
-- relationship never end at the same revision (a write ends the live one
-- and inserts the next), so (relationship, deleted_rev) is unique, and the
-- live versions, deleted_rev = 9223372036854775807, are one per
-- relationship. A read at R scans the relationship's entries with
-- deleted_rev > R.
CREATE UNIQUE INDEX reach_relationships_forward ON reach_relationships
    (resource_type, relation, resource_id, subject_type, subject_relation, subject_id, deleted_rev);
-- The reverse walk (a subject's resources), filters by subject and the
-- schema's orphan checks (is subject type T still used on type#relation?).
CREATE INDEX reach_relationships_reverse ON reach_relationships
    (subject_type, subject_relation, resource_type, relation, subject_id, resource_id);
-- Deleted versions, for garbage collection.
CREATE INDEX reach_relationships_deleted ON reach_relationships (deleted_rev)
    WHERE deleted_rev < 9223372036854775807;

-- The schema, versioned with the data: in force at R is the newest row
-- with rev <= R.
CREATE TABLE reach_schemas (
    rev      bigint PRIMARY KEY,
    filename text   NOT NULL,
    source   bytea  NOT NULL
);

-- The changes of every revision that changed relationships, for Watch.
CREATE TABLE reach_changes (
    rev     bigint PRIMARY KEY,
    changes bytea  NOT NULL
);
-- Stored out of line uncompressed: an import batch's changes are large,
-- and compressing them would cost the batch's transaction more than the
-- disk it saves for the day they are kept.
ALTER TABLE reach_changes ALTER COLUMN changes SET STORAGE EXTERNAL;
