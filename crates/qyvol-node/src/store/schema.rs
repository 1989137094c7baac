//! The database's tables, as a list of migrations. The database records how
//! many it has applied (`PRAGMA user_version`); opening it applies the rest,
//! each in its own transaction. Never edit a migration that has shipped:
//! add one.

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: apps, their revisions, the runs of their instances, events.
    r#"
    CREATE TABLE apps (
        name        TEXT PRIMARY KEY,
        revision    INTEGER NOT NULL,
        desired     TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
        source      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE revisions (
        app         TEXT NOT NULL,
        number      INTEGER NOT NULL,
        digest      TEXT NOT NULL,
        size        INTEGER NOT NULL,
        app_type    TEXT NOT NULL,
        version     TEXT,
        signer      TEXT,
        rollback_of INTEGER,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (app, number)
    ) STRICT;

    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        app         TEXT NOT NULL,
        revision    INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER,
        exit_code   INTEGER,
        reason      TEXT,
        peak_memory INTEGER
    ) STRICT;
    CREATE INDEX runs_by_app ON runs (app, id);

    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        time        INTEGER NOT NULL,
        app         TEXT NOT NULL,
        revision    INTEGER,
        kind        TEXT NOT NULL,
        message     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_by_app ON events (app, id);
    "#,
];
