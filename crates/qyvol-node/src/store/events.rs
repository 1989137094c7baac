//! The log of what happened to each app.

use rusqlite::{Connection, params};

use super::Store;
use super::rows::EventRow;
use crate::error::NodeError;
use crate::time::now_ms;

/// Events kept per app.
const KEEP_EVENTS: i64 = 1000;

stored_words! {
    /// What happened to an app: the kind of one of its events.
    pub enum EventKind {
        /// A revision was deployed (or the same bundle again).
        Deployed = "deployed",
        /// A new revision brings back an earlier one's bundle.
        RolledBack = "rolled-back",
        /// A client asked for the app to start.
        Start = "start",
        /// A client asked for the app to stop.
        Stop = "stop",
        /// A client asked for a new instance.
        Restart = "restart",
        /// An instance started, or an HTTP app's revision is served.
        Started = "started",
        /// An instance ended with exit status 0.
        Exited = "exited",
        /// An instance ended badly, or could not start.
        Failed = "failed",
        /// A service ended and starts again after a back-off.
        Restarting = "restarting",
        /// An instance was stopped.
        Stopped = "stopped",
        /// The node stopped while an instance ran.
        Interrupted = "interrupted",
        /// The app was removed.
        Removed = "removed",
    }
}

impl Store {
    pub fn add_event(
        &self,
        app: &str,
        revision: Option<u32>,
        kind: EventKind,
        message: &str,
    ) -> Result<(), NodeError> {
        self.write(|tx| Ok(event(tx, app, revision, kind, message)?))
    }

    /// Events after `after` (an event id), oldest first, at most `limit`
    /// (the newest ones when there are more).
    pub fn events(
        &self,
        app: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<EventRow>, NodeError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, time, app, revision, kind, message FROM (
                    SELECT * FROM events WHERE id > ?1 AND (?2 IS NULL OR app = ?2)
                    ORDER BY id DESC LIMIT ?3
                 ) ORDER BY id",
            )?;
            let rows = stmt.query_map(params![after, app, limit], |r| {
                Ok(EventRow {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    app: r.get(2)?,
                    revision: r.get(3)?,
                    kind: r.get(4)?,
                    message: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

pub(super) fn event(
    tx: &Connection,
    app: &str,
    revision: Option<u32>,
    kind: EventKind,
    message: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO events (time, app, revision, kind, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_ms(), app, revision, kind, message],
    )?;
    let id = tx.last_insert_rowid();
    if id % 100 == 0 {
        tx.execute(
            "DELETE FROM events WHERE app = ?1 AND id <= (
                SELECT id FROM events WHERE app = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![app, KEEP_EVENTS],
        )?;
    }
    Ok(())
}
