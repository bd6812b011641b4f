-- +goose Up
CREATE TABLE archive_policy (
    name                TEXT    NOT NULL PRIMARY KEY,
    back_window         INTEGER NOT NULL,
    aggregation_methods TEXT    NOT NULL,
    definition          TEXT    NOT NULL
);

CREATE TABLE archive_policy_rule (
    name                TEXT NOT NULL PRIMARY KEY,
    metric_pattern      TEXT NOT NULL,
    archive_policy_name TEXT NOT NULL REFERENCES archive_policy (name) ON DELETE RESTRICT
);
CREATE INDEX archive_policy_rule_policy ON archive_policy_rule (archive_policy_name);

CREATE TABLE resource_type (
    name       TEXT    NOT NULL PRIMARY KEY,
    state      TEXT    NOT NULL,
    attributes TEXT    NOT NULL,
    builtin    INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

CREATE TABLE resource (
    id                    TEXT    NOT NULL PRIMARY KEY,
    type                  TEXT    NOT NULL REFERENCES resource_type (name) ON DELETE RESTRICT,
    original_resource_id  TEXT    NOT NULL,
    creator               TEXT    NOT NULL,
    created_by_user_id    TEXT    NOT NULL,
    created_by_project_id TEXT    NOT NULL,
    user_id               TEXT,
    project_id            TEXT,
    started_at            INTEGER NOT NULL,
    ended_at              INTEGER,
    revision              INTEGER NOT NULL,
    revision_start        INTEGER NOT NULL,
    attributes            TEXT    NOT NULL DEFAULT '{}',
    CONSTRAINT resource_started_before_ended CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX resource_type_idx ON resource (type);
CREATE INDEX resource_original_id ON resource (original_resource_id);
CREATE INDEX resource_created_by_project ON resource (created_by_project_id);
CREATE INDEX resource_project ON resource (project_id);
CREATE INDEX resource_started_at ON resource (started_at);
CREATE INDEX resource_ended_at ON resource (ended_at);
CREATE INDEX resource_default_sort ON resource (revision_start, started_at, id);

CREATE TABLE resource_history (
    history_id            INTEGER NOT NULL PRIMARY KEY,
    id                    TEXT    NOT NULL REFERENCES resource (id) ON DELETE CASCADE,
    type                  TEXT    NOT NULL,
    original_resource_id  TEXT    NOT NULL,
    creator               TEXT    NOT NULL,
    created_by_user_id    TEXT    NOT NULL,
    created_by_project_id TEXT    NOT NULL,
    user_id               TEXT,
    project_id            TEXT,
    started_at            INTEGER NOT NULL,
    ended_at              INTEGER,
    revision              INTEGER NOT NULL,
    revision_start        INTEGER NOT NULL,
    revision_end          INTEGER NOT NULL,
    attributes            TEXT    NOT NULL DEFAULT '{}',
    CONSTRAINT resource_history_revision UNIQUE (id, revision)
);
CREATE INDEX resource_history_revision_start ON resource_history (id, revision_start);
CREATE INDEX resource_history_revision_end ON resource_history (revision_end);
CREATE INDEX resource_history_type ON resource_history (type);

CREATE TABLE metric (
    id                    TEXT NOT NULL PRIMARY KEY,
    name                  TEXT NOT NULL,
    unit                  TEXT NOT NULL DEFAULT '',
    archive_policy_name   TEXT NOT NULL REFERENCES archive_policy (name) ON DELETE RESTRICT,
    resource_id           TEXT REFERENCES resource (id) ON DELETE SET NULL,
    creator               TEXT NOT NULL,
    created_by_user_id    TEXT NOT NULL,
    created_by_project_id TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'active',
    CONSTRAINT metric_resource_name UNIQUE (resource_id, name)
);
CREATE INDEX metric_name ON metric (name);
CREATE INDEX metric_policy ON metric (archive_policy_name);
CREATE INDEX metric_created_by_project ON metric (created_by_project_id);
CREATE INDEX metric_status ON metric (status);

-- +goose Down
DROP TABLE metric;
DROP TABLE resource_history;
DROP TABLE resource;
DROP TABLE resource_type;
DROP TABLE archive_policy_rule;
DROP TABLE archive_policy;
