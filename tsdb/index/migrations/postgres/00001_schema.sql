-- +goose Up
CREATE TABLE archive_policy (
    name                TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    back_window         BIGINT  NOT NULL,
    aggregation_methods TEXT COLLATE "C"    NOT NULL,
    definition          TEXT COLLATE "C"    NOT NULL
);

CREATE TABLE archive_policy_rule (
    name                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    metric_pattern      TEXT COLLATE "C" NOT NULL,
    archive_policy_name TEXT COLLATE "C" NOT NULL REFERENCES archive_policy (name) ON DELETE RESTRICT
);
CREATE INDEX archive_policy_rule_policy ON archive_policy_rule (archive_policy_name);

CREATE TABLE resource_type (
    name       TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    state      TEXT COLLATE "C"    NOT NULL,
    attributes TEXT COLLATE "C"    NOT NULL,
    builtin    BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE resource (
    id                    UUID        NOT NULL PRIMARY KEY,
    type                  TEXT COLLATE "C"    NOT NULL REFERENCES resource_type (name) ON DELETE RESTRICT,
    original_resource_id  TEXT COLLATE "C"    NOT NULL,
    creator               TEXT COLLATE "C"    NOT NULL,
    created_by_user_id    TEXT COLLATE "C"    NOT NULL,
    created_by_project_id TEXT COLLATE "C"    NOT NULL,
    user_id               TEXT COLLATE "C",
    project_id            TEXT COLLATE "C",
    started_at            TIMESTAMPTZ NOT NULL,
    ended_at              TIMESTAMPTZ,
    revision              BIGINT  NOT NULL,
    revision_start        TIMESTAMPTZ NOT NULL,
    attributes            JSONB   NOT NULL DEFAULT '{}',
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
    history_id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                    UUID        NOT NULL REFERENCES resource (id) ON DELETE CASCADE,
    type                  TEXT COLLATE "C"    NOT NULL,
    original_resource_id  TEXT COLLATE "C"    NOT NULL,
    creator               TEXT COLLATE "C"    NOT NULL,
    created_by_user_id    TEXT COLLATE "C"    NOT NULL,
    created_by_project_id TEXT COLLATE "C"    NOT NULL,
    user_id               TEXT COLLATE "C",
    project_id            TEXT COLLATE "C",
    started_at            TIMESTAMPTZ NOT NULL,
    ended_at              TIMESTAMPTZ,
    revision              BIGINT  NOT NULL,
    revision_start        TIMESTAMPTZ NOT NULL,
    revision_end          TIMESTAMPTZ NOT NULL,
    attributes            JSONB   NOT NULL DEFAULT '{}',
    CONSTRAINT resource_history_revision UNIQUE (id, revision)
);
CREATE INDEX resource_history_revision_start ON resource_history (id, revision_start);
CREATE INDEX resource_history_revision_end ON resource_history (revision_end);
CREATE INDEX resource_history_type ON resource_history (type);

CREATE TABLE metric (
    id                    UUID NOT NULL PRIMARY KEY,
    name                  TEXT COLLATE "C" NOT NULL,
    unit                  TEXT COLLATE "C" NOT NULL DEFAULT '',
    archive_policy_name   TEXT COLLATE "C" NOT NULL REFERENCES archive_policy (name) ON DELETE RESTRICT,
    resource_id           UUID REFERENCES resource (id) ON DELETE SET NULL,
    creator               TEXT COLLATE "C" NOT NULL,
    created_by_user_id    TEXT COLLATE "C" NOT NULL,
    created_by_project_id TEXT COLLATE "C" NOT NULL,
    status                TEXT COLLATE "C" NOT NULL DEFAULT 'active',
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
