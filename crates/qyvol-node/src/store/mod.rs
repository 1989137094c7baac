//! The node's state in SQLite: which apps exist, their revisions (each one
//! the digest of a stored bundle), whether each should run, the runs of
//! their instances and a log of events. The file is in WAL mode with full
//! sync, and every change is one transaction, so a node killed at any
//! moment reopens to the state before or after a change, never between.

/// An enum stored as one word in a TEXT column: its spelling, the parse
/// back, and the conversions rusqlite uses, so that rows hold the enum
/// rather than its text. A word the code does not know fails the read.
macro_rules! stored_words {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The word stored, and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelt `text`.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<$name> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!("{text:?} is not a known {}", stringify!($name)).into(),
                    )
                })
            }
        }
    };
}

mod events;
mod rows;
mod runs;
mod schema;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use qyvol_manifest::sync::lock;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::changes::Changes;
use crate::error::NodeError;
use crate::time::now_ms;

pub use events::EventKind;
use events::event;
use rows::{APP_COLUMNS, REVISION_COLUMNS, app, app_row, revision, revision_at, revision_row};
pub use rows::{AppRow, Desired, EventRow, NewRevision, Recorded, RevisionRow};
pub use runs::{RunEnd, StartedRun};

/// Revisions kept per app; older ones (and their bundles, once no revision
/// uses them) are removed when a new one is added.
pub const KEEP_REVISIONS: u32 = 10;

/// What makes a transaction give up: the database, or a rule of the node.
enum Failure {
    Db(rusqlite::Error),
    Node(NodeError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        Failure::Node(e)
    }
}

type Tx<T> = Result<T, Failure>;

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Bumped after every committed write.
    changes: Changes,
}

impl Store {
    /// Opens (creating if needed) the database and brings its tables up to
    /// date.
    pub fn open(path: &Path) -> Result<Store, NodeError> {
        let db = |source| NodeError::Store {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        migrate(&mut conn).map_err(db)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            changes: Changes::default(),
        })
    }

    /// Grows with every committed write (and with the supervisor's changes
    /// to instances, which it bumps too).
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open:
        // rusqlite rolls back on drop.
        lock(&self.conn)
    }

    fn error(&self, f: Failure) -> NodeError {
        match f {
            Failure::Db(source) => NodeError::Store {
                path: self.path.clone(),
                source,
            },
            Failure::Node(e) => e,
        }
    }

    /// Runs `f` in one immediate transaction: all of it or none of it.
    fn write<T>(&self, f: impl FnOnce(&Transaction) -> Tx<T>) -> Result<T, NodeError> {
        let mut conn = self.lock();
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        if result.is_ok() {
            self.changes.bump();
        }
        result.map_err(|e| self.error(e))
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Tx<T>) -> Result<T, NodeError> {
        let conn = self.lock();
        f(&conn).map_err(|e| self.error(e))
    }

    pub fn app(&self, name: &str) -> Result<Option<AppRow>, NodeError> {
        self.read(|c| Ok(app(c, name)?))
    }

    pub fn apps(&self) -> Result<Vec<AppRow>, NodeError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{APP_COLUMNS} ORDER BY name"))?;
            let rows = stmt.query_map([], app_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The app and its current revision.
    pub fn current(&self, name: &str) -> Result<(AppRow, RevisionRow), NodeError> {
        self.read(|c| {
            let app = app(c, name)?.ok_or_else(|| NodeError::NoSuchApp(name.to_string()))?;
            let rev = revision(c, name, app.revision)?.ok_or_else(|| {
                NodeError::Internal(format!(
                    "app {name} names revision {} which is not stored",
                    app.revision
                ))
            })?;
            Ok((app, rev))
        })
    }

    /// Every app with its current revision, by name.
    pub fn all_current(&self) -> Result<Vec<(AppRow, RevisionRow)>, NodeError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT a.name, a.revision, a.desired, a.source, a.created_at, a.updated_at,
                        r.app, r.number, r.digest, r.size, r.app_type, r.version, r.signer, r.rollback_of, r.created_at
                 FROM apps a JOIN revisions r ON r.app = a.name AND r.number = a.revision
                 ORDER BY a.name",
            )?;
            let rows = stmt.query_map([], |r| Ok((app_row(r)?, revision_at(r, 6)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Every revision of an app, newest first.
    pub fn revisions(&self, name: &str) -> Result<Vec<RevisionRow>, NodeError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "{REVISION_COLUMNS} WHERE app = ?1 ORDER BY number DESC"
            ))?;
            let rows = stmt.query_map([name], revision_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Records a deploy: a new revision that becomes the app's current one
    /// (creating the app), to run. A bundle identical to the current
    /// revision adds nothing but still asks for the app to run.
    /// Returns what was recorded and the digests of revisions pruned.
    pub fn deploy(&self, new: &NewRevision) -> Result<(Recorded, Vec<String>), NodeError> {
        self.write(|tx| {
            let now = now_ms();
            if let Some(existing) = app(tx, &new.app)?
                && let Some(current) = revision(tx, &new.app, existing.revision)?
                && current.digest == new.digest
            {
                tx.execute(
                    "UPDATE apps SET desired = 'running', updated_at = ?2 WHERE name = ?1",
                    params![new.app, now],
                )?;
                event(
                    tx,
                    &new.app,
                    Some(current.number),
                    EventKind::Deployed,
                    &format!(
                        "the same bundle as revision {} was deployed again",
                        current.number
                    ),
                )?;
                return Ok((
                    Recorded {
                        revision: current.number,
                        unchanged: true,
                    },
                    Vec::new(),
                ));
            }
            let number = next_revision(tx, &new.app)?;
            tx.execute(
                "INSERT INTO revisions (app, number, digest, size, app_type, version, signer, rollback_of, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)",
                params![new.app, number, new.digest, new.size as i64, new.app_type.as_str(), new.version, new.signer, now],
            )?;
            tx.execute(
                "INSERT INTO apps (name, revision, desired, source, created_at, updated_at)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?4)
                 ON CONFLICT (name) DO UPDATE SET revision = ?2, desired = 'running', source = ?3, updated_at = ?4",
                params![new.app, number, new.source, now],
            )?;
            let signed = match &new.signer {
                Some(s) => format!(", signed by {s}"),
                None => String::new(),
            };
            event(
                tx,
                &new.app,
                Some(number),
                EventKind::Deployed,
                &format!(
                    "revision {number} deployed from {} (sha256 {}, {} bytes{signed})",
                    new.source,
                    short(&new.digest),
                    new.size
                ),
            )?;
            let pruned = prune_revisions(tx, &new.app, number)?;
            Ok((
                Recorded {
                    revision: number,
                    unchanged: false,
                },
                pruned,
            ))
        })
    }

    /// The revision a rollback to `to` (default: the newest earlier
    /// revision with other content) would bring back.
    pub fn rollback_target(&self, name: &str, to: Option<u32>) -> Result<RevisionRow, NodeError> {
        self.read(|c| rollback_target(c, name, to))
    }

    /// Makes an earlier revision current again, as a new revision with the
    /// same bundle: `to` names it, else the one before the current one.
    pub fn rollback(&self, name: &str, to: Option<u32>) -> Result<(u32, u32), NodeError> {
        self.write(|tx| {
            let was = app(tx, name)?.map(|a| a.revision).unwrap_or_default();
            let target = rollback_target(tx, name, to)?;
            let now = now_ms();
            let number = next_revision(tx, name)?;
            tx.execute(
                "INSERT INTO revisions (app, number, digest, size, app_type, version, signer, rollback_of, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![name, number, target.digest, target.size as i64, target.app_type.as_str(), target.version, target.signer, target.number, now],
            )?;
            tx.execute(
                "UPDATE apps SET revision = ?2, desired = 'running', updated_at = ?3 WHERE name = ?1",
                params![name, number, now],
            )?;
            event(
                tx,
                name,
                Some(number),
                EventKind::RolledBack,
                &format!(
                    "revision {number} rolls back to revision {} (was {})",
                    target.number, was
                ),
            )?;
            prune_revisions(tx, name, number)?;
            Ok((number, target.number))
        })
    }

    /// Sets whether the app should run; records `event` as what happened.
    pub fn set_desired(
        &self,
        name: &str,
        desired: Desired,
        kind: EventKind,
        message: &str,
    ) -> Result<AppRow, NodeError> {
        self.write(|tx| {
            let mut app = app(tx, name)?.ok_or_else(|| NodeError::NoSuchApp(name.to_string()))?;
            let now = now_ms();
            tx.execute(
                "UPDATE apps SET desired = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, desired, now],
            )?;
            event(tx, name, Some(app.revision), kind, message)?;
            app.desired = desired;
            app.updated_at = now;
            Ok(app)
        })
    }

    /// Removes an app, its revisions and runs (its events stay, as
    /// history). Returns the digests its revisions used.
    pub fn remove(&self, name: &str) -> Result<Vec<String>, NodeError> {
        self.write(|tx| {
            let app = app(tx, name)?.ok_or_else(|| NodeError::NoSuchApp(name.to_string()))?;
            let digests = {
                let mut stmt =
                    tx.prepare("SELECT DISTINCT digest FROM revisions WHERE app = ?1")?;
                stmt.query_map([name], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?
            };
            tx.execute("DELETE FROM revisions WHERE app = ?1", [name])?;
            tx.execute("DELETE FROM runs WHERE app = ?1", [name])?;
            tx.execute("DELETE FROM apps WHERE name = ?1", [name])?;
            event(
                tx,
                name,
                Some(app.revision),
                EventKind::Removed,
                &format!("{name} was removed"),
            )?;
            Ok(digests)
        })
    }

    /// Every bundle digest a revision refers to.
    pub fn referenced_digests(&self) -> Result<HashSet<String>, NodeError> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT DISTINCT digest FROM revisions")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn rollback_target(c: &Connection, name: &str, to: Option<u32>) -> Tx<RevisionRow> {
    let app = app(c, name)?.ok_or_else(|| NodeError::NoSuchApp(name.to_string()))?;
    Ok(match to {
        Some(n) => {
            if n == app.revision {
                return Err(NodeError::Conflict(format!(
                    "revision {n} of {name} is the current one already"
                ))
                .into());
            }
            revision(c, name, n)?
                .ok_or_else(|| NodeError::NoSuchRevision(format!("{name} has no revision {n}")))?
        }
        None => {
            let current = revision(c, name, app.revision)?;
            let digest = current.map(|r| r.digest).unwrap_or_default();
            // The newest earlier revision with other content.
            c.query_row(
                &format!(
                    "{REVISION_COLUMNS} WHERE app = ?1 AND number < ?2 AND digest <> ?3 ORDER BY number DESC LIMIT 1"
                ),
                params![name, app.revision, digest],
                revision_row,
            )
            .optional()?
            .ok_or_else(|| {
                NodeError::Conflict(format!("{name} has no earlier revision to roll back to"))
            })?
        }
    })
}

/// Revision numbers only grow, even past pruned ones.
fn next_revision(tx: &Transaction, name: &str) -> rusqlite::Result<u32> {
    let last: Option<u32> = tx.query_row(
        "SELECT MAX(number) FROM revisions WHERE app = ?1",
        [name],
        |r| r.get(0),
    )?;
    Ok(last.unwrap_or(0) + 1)
}

/// Keeps the newest [`KEEP_REVISIONS`] revisions; returns the digests of
/// those removed (their bundles may now be unused).
fn prune_revisions(tx: &Transaction, name: &str, newest: u32) -> rusqlite::Result<Vec<String>> {
    let cut = newest.saturating_sub(KEEP_REVISIONS);
    let digests = {
        let mut stmt =
            tx.prepare("SELECT digest FROM revisions WHERE app = ?1 AND number <= ?2")?;
        stmt.query_map(params![name, cut], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?
    };
    tx.execute(
        "DELETE FROM revisions WHERE app = ?1 AND number <= ?2",
        params![name, cut],
    )?;
    Ok(digests)
}

/// The first 12 hex digits of a digest, as `docker images` shows ids.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

#[cfg(test)]
mod tests;
