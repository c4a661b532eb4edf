//! One pass of the background checkpoint: WAL frames copied into the database file beside the
//! writer, and the file flushed to disk.
//!
//! SQLite's passive checkpoint flushes the database file only when the log still ends where it
//! stopped copying. Under load the writer commits while the pass copies, so the log has grown
//! by then, and the copies stay in the page cache, pass after pass. The writer's whole-log
//! checkpoint (see [`super::writer::WalBound`]) then flushed all of them, half a second of
//! copies, while every write waited: most of its time, and longest when many distinct pages had
//! changed (benches/results/sqlite-restart-anatomy-2026-12-02). So every pass that copied
//! anything flushes the file itself, here, where no write waits for it. SQLite's answer does
//! not tell whether it flushed (it reports the log's end as the pass saw it at the start), and
//! flushing a file with nothing left to write costs no write.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rusqlite::Connection;

/// A descriptor of the database file of the store's own, to flush the file with.
///
/// POSIX drops every lock a process holds on a file as soon as any of its descriptors to that
/// file closes, SQLite's locks included, and without them another process could take the
/// database as unused (and delete the WAL under our connections). So this one must close only
/// after every connection of the store has: the writer's thread and the readers each keep a
/// clone, dropped after their connections.
#[derive(Debug)]
pub(crate) struct DatabaseFile(File);

impl DatabaseFile {
    /// Opens the database file at `path`. Nothing is written through it, but Windows flushes
    /// only a file opened for writing.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(Self)
    }

    /// Waits until the file's data written so far is on disk.
    fn flush(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pass {
    /// Frames in the log.
    pub(crate) logged: i64,
    /// Frames of the log now in the database file.
    pub(crate) copied: i64,
    /// Whether this pass flushed the database file.
    pub(crate) flushed: bool,
}

/// Why a pass failed.
#[derive(Debug)]
pub(crate) enum PassError {
    /// The checkpoint itself.
    Checkpoint(rusqlite::Error),
    /// Flushing the database file.
    Flush(std::io::Error),
}

impl std::fmt::Display for PassError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Checkpoint(e) => write!(f, "checkpoint failed: {e}"),
            Self::Flush(e) => write!(f, "flushing the database file failed: {e}"),
        }
    }
}

/// Copies what it can of the log into the database file on `reader` (a connection outside any
/// transaction), then, if any of the log is in the file, flushes `database` (the same file).
pub(crate) fn copy_log(
    reader: &Connection,
    database: Option<&DatabaseFile>,
) -> Result<Pass, PassError> {
    let (logged, copied) = reader
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        })
        .map_err(PassError::Checkpoint)?;
    let flushed = match database {
        Some(file) if copied > 0 => {
            file.flush().map_err(PassError::Flush)?;
            true
        }
        _ => false,
    };
    Ok(Pass {
        logged,
        copied,
        flushed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database at `dir/p.db` with a table, automatic checkpoints off.
    fn database(dir: &tempfile::TempDir) -> (Connection, std::path::PathBuf) {
        let path = dir.path().join("p.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT)")
            .unwrap();
        (conn, path)
    }

    fn insert(conn: &Connection, from: i64, count: i64) {
        for n in from..from + count {
            conn.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                rusqlite::params![n, "x".repeat(500)],
            )
            .unwrap();
        }
    }

    /// A read transaction on `holder`, at the database as it is now: while it lasts, no
    /// checkpoint copies a frame committed after it into the file.
    fn hold_snapshot(holder: &mut Connection) -> rusqlite::Transaction<'_> {
        let snapshot = holder.transaction().unwrap();
        let _: i64 = snapshot
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        snapshot
    }

    #[test]
    fn a_pass_held_short_of_the_end_flushes_the_database_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path) = database(&dir);
        insert(&writer, 0, 20);
        // A reader of this snapshot keeps the frames written after it out of the file.
        let mut holder = Connection::open(&path).unwrap();
        let snapshot = hold_snapshot(&mut holder);
        insert(&writer, 20, 20);

        let reader = Connection::open(&path).unwrap();
        let file = DatabaseFile::open(&path).unwrap();
        let pass = copy_log(&reader, Some(&file)).unwrap();
        assert!(
            0 < pass.copied && pass.copied < pass.logged,
            "the pass should stop at the held snapshot: {pass:?}"
        );
        assert!(pass.flushed, "{pass:?}");

        drop(snapshot);
        let pass = copy_log(&reader, Some(&file)).unwrap();
        assert_eq!(pass.copied, pass.logged, "nothing holds the rest back now");
        assert!(pass.flushed, "{pass:?}");
        // The connections close before the file's own descriptor (see `DatabaseFile`).
        drop((reader, holder, writer));
    }

    #[test]
    fn a_pass_that_copies_nothing_flushes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path) = database(&dir);
        insert(&writer, 0, 20);
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        // A reader of a snapshot wholly in the file keeps any copying out of it.
        let mut holder = Connection::open(&path).unwrap();
        let snapshot = hold_snapshot(&mut holder);
        insert(&writer, 20, 20);

        let reader = Connection::open(&path).unwrap();
        let file = DatabaseFile::open(&path).unwrap();
        let pass = copy_log(&reader, Some(&file)).unwrap();
        assert_eq!(pass.copied, 0, "{pass:?}");
        assert!(pass.logged > 0, "{pass:?}");
        assert!(!pass.flushed);
        drop(snapshot);
        drop((reader, holder, writer));
    }
}
