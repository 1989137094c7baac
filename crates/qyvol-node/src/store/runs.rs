//! The runs of apps' instances: when each started and how it ended.

use rusqlite::{OptionalExtension, params};

use super::Store;
use super::events::{EventKind, event};
use super::rows::{RUN_COLUMNS, RunRow, run_row};
use crate::error::NodeError;
use crate::time::now_ms;

/// Finished runs kept per app.
const KEEP_RUNS: i64 = 100;

/// A run the store has recorded as started, for [`Store::run_ended`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedRun {
    pub id: i64,
    pub app: String,
    pub revision: u32,
}

/// How an instance ended: what its run records, and its event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEnd {
    pub exit_code: Option<i32>,
    /// In words, as `qyv ps` shows it.
    pub reason: String,
    pub peak_memory: Option<u64>,
    /// [`EventKind::Exited`], [`EventKind::Failed`] or [`EventKind::Stopped`].
    pub kind: EventKind,
}

impl Store {
    /// An instance started: a run without an end yet.
    pub fn run_started(
        &self,
        app: &str,
        revision: u32,
        message: &str,
    ) -> Result<StartedRun, NodeError> {
        self.write(|tx| {
            let now = now_ms();
            tx.execute(
                "INSERT INTO runs (app, revision, started_at) VALUES (?1, ?2, ?3)",
                params![app, revision, now],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "DELETE FROM runs WHERE app = ?1 AND ended_at IS NOT NULL AND id <= (
                    SELECT id FROM runs WHERE app = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                params![app, KEEP_RUNS],
            )?;
            event(tx, app, Some(revision), EventKind::Started, message)?;
            Ok(StartedRun {
                id,
                app: app.to_string(),
                revision,
            })
        })
    }

    /// An instance ended.
    pub fn run_ended(&self, run: &StartedRun, end: &RunEnd) -> Result<(), NodeError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET ended_at = ?2, exit_code = ?3, reason = ?4, peak_memory = ?5 WHERE id = ?1",
                params![
                    run.id,
                    now_ms(),
                    end.exit_code,
                    end.reason,
                    end.peak_memory.map(|p| p as i64)
                ],
            )?;
            event(tx, &run.app, Some(run.revision), end.kind, &end.reason)?;
            Ok(())
        })
    }

    /// The last run of an app's revision.
    pub fn last_run(&self, app: &str, revision: u32) -> Result<Option<RunRow>, NodeError> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("{RUN_COLUMNS} WHERE app = ?1 AND revision = ?2 ORDER BY id DESC LIMIT 1"),
                params![app, revision],
                run_row,
            )
            .optional()?)
        })
    }

    /// Runs the node did not see end (it was killed): they end now, as
    /// interrupted. Returns them.
    pub fn end_interrupted_runs(&self) -> Result<Vec<RunRow>, NodeError> {
        self.write(|tx| {
            let runs = {
                let mut stmt = tx.prepare(&format!("{RUN_COLUMNS} WHERE ended_at IS NULL"))?;
                stmt.query_map([], run_row)?
                    .collect::<Result<Vec<_>, _>>()?
            };
            let now = now_ms();
            for run in &runs {
                let reason = "interrupted: the node stopped while it ran";
                tx.execute(
                    "UPDATE runs SET ended_at = ?2, reason = ?3 WHERE id = ?1",
                    params![run.id, now, reason],
                )?;
                event(
                    tx,
                    &run.app,
                    Some(run.revision),
                    EventKind::Interrupted,
                    reason,
                )?;
            }
            Ok(runs)
        })
    }
}
