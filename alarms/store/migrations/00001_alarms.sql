-- The alarm store: alarms and their history. One schema serves SQLite and
-- PostgreSQL: booleans are INTEGER 0/1, datetimes BIGINT microseconds since
-- the Unix epoch (UTC), lists and rules JSON TEXT. SCHEMA.md describes it.

-- +goose Up
CREATE TABLE alarms (
    alarm_id                  TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    description               TEXT NOT NULL,
    type                      TEXT NOT NULL,
    enabled                   INTEGER NOT NULL,
    state                     TEXT NOT NULL,
    state_reason              TEXT NOT NULL,
    severity                  TEXT NOT NULL,
    ok_actions                TEXT NOT NULL,
    alarm_actions             TEXT NOT NULL,
    insufficient_data_actions TEXT NOT NULL,
    repeat_actions            INTEGER NOT NULL,
    time_constraints          TEXT NOT NULL,
    rule                      TEXT NOT NULL,
    user_id                   TEXT,
    project_id                TEXT,
    "timestamp"               BIGINT NOT NULL,
    state_timestamp           BIGINT NOT NULL,
    evaluate_timestamp        BIGINT
);
CREATE UNIQUE INDEX alarms_project_name ON alarms ((COALESCE(project_id, '')), name);
CREATE INDEX alarms_enabled_type ON alarms (enabled, type);
CREATE INDEX alarms_user ON alarms (user_id);
CREATE INDEX alarms_timestamp ON alarms ("timestamp");

CREATE TABLE alarm_history (
    event_id     TEXT PRIMARY KEY,
    alarm_id     TEXT NOT NULL,
    type         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    user_id      TEXT,
    project_id   TEXT,
    on_behalf_of TEXT,
    severity     TEXT,
    "timestamp"  BIGINT NOT NULL
);
CREATE INDEX alarm_history_alarm ON alarm_history (alarm_id, "timestamp");
CREATE INDEX alarm_history_timestamp ON alarm_history ("timestamp");

-- +goose Down
DROP TABLE alarm_history;
DROP TABLE alarms;
