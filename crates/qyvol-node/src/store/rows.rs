//! The store's rows as Rust values, and the queries that read them.

use qyvol_manifest::AppType;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::events::EventKind;

stored_words! {
    /// Whether an app should run.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Desired {
        Running = "running",
        Stopped = "stopped",
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRow {
    pub name: String,
    pub revision: u32,
    pub desired: Desired,
    /// `api`, or `apps-dir:<file>` for an app from the boot folder.
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionRow {
    pub app: String,
    pub number: u32,
    /// SHA-256 of the bundle file, hex.
    pub digest: String,
    pub size: u64,
    pub app_type: AppType,
    pub version: Option<String>,
    /// Who signed the bundle, if anyone.
    pub signer: Option<String>,
    /// Set when the revision was made by a rollback to that revision.
    pub rollback_of: Option<u32>,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    pub id: i64,
    pub app: String,
    pub revision: u32,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub exit_code: Option<i32>,
    /// How the run ended, in words; `None` while it runs.
    pub reason: Option<String>,
    pub peak_memory: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub time: i64,
    pub app: String,
    pub revision: Option<u32>,
    pub kind: EventKind,
    pub message: String,
}

/// What a deploy adds.
#[derive(Clone, Debug)]
pub struct NewRevision {
    pub app: String,
    pub digest: String,
    pub size: u64,
    pub app_type: AppType,
    pub version: Option<String>,
    pub signer: Option<String>,
    pub source: String,
}

/// What a deploy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub revision: u32,
    /// The bundle was the current revision's already: nothing was added.
    pub unchanged: bool,
}

pub(super) const APP_COLUMNS: &str =
    "SELECT name, revision, desired, source, created_at, updated_at FROM apps";
pub(super) const REVISION_COLUMNS: &str = "SELECT app, number, digest, size, app_type, version, signer, rollback_of, created_at FROM revisions";
pub(super) const RUN_COLUMNS: &str =
    "SELECT id, app, revision, started_at, ended_at, exit_code, reason, peak_memory FROM runs";

pub(super) fn app_row(r: &Row) -> rusqlite::Result<AppRow> {
    Ok(AppRow {
        name: r.get(0)?,
        revision: r.get(1)?,
        desired: r.get(2)?,
        source: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub(super) fn revision_row(r: &Row) -> rusqlite::Result<RevisionRow> {
    revision_at(r, 0)
}

/// A revision whose [`REVISION_COLUMNS`] start at column `at` of the row.
pub(super) fn revision_at(r: &Row, at: usize) -> rusqlite::Result<RevisionRow> {
    Ok(RevisionRow {
        app: r.get(at)?,
        number: r.get(at + 1)?,
        digest: r.get(at + 2)?,
        size: r.get::<_, i64>(at + 3)? as u64,
        app_type: app_type(r, at + 4)?,
        version: r.get(at + 5)?,
        signer: r.get(at + 6)?,
        rollback_of: r.get(at + 7)?,
        created_at: r.get(at + 8)?,
    })
}

/// An app's type, stored as the manifest spells it (`AppType` is the
/// manifest crate's, so it cannot be a `FromSql` itself).
fn app_type(r: &Row, column: usize) -> rusqlite::Result<AppType> {
    let text: String = r.get(column)?;
    AppType::from_name(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            Type::Text,
            format!("{text:?} is not an app type").into(),
        )
    })
}

pub(super) fn run_row(r: &Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        app: r.get(1)?,
        revision: r.get(2)?,
        started_at: r.get(3)?,
        ended_at: r.get(4)?,
        exit_code: r.get(5)?,
        reason: r.get(6)?,
        peak_memory: r.get::<_, Option<i64>>(7)?.map(|p| p as u64),
    })
}

pub(super) fn app(c: &Connection, name: &str) -> rusqlite::Result<Option<AppRow>> {
    c.query_row(&format!("{APP_COLUMNS} WHERE name = ?1"), [name], app_row)
        .optional()
}

pub(super) fn revision(
    c: &Connection,
    name: &str,
    number: u32,
) -> rusqlite::Result<Option<RevisionRow>> {
    c.query_row(
        &format!("{REVISION_COLUMNS} WHERE app = ?1 AND number = ?2"),
        params![name, number],
        revision_row,
    )
    .optional()
}
