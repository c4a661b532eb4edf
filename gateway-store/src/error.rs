//! Mapping database errors onto [`StoreError`]: unreachable, restarting, busy or
//! serialization-conflicted → `Unavailable` (retry later), unique violations → `Conflict`, the
//! rest → `Other`.

use gateway_core::StoreError;

/// Classifies an sqlx error.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) if is_transient(db.as_ref()) => {
            StoreError::Unavailable(db.message().to_owned())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// Whether a database error is worth retrying later, judged by its backend's codes.
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return pg_transient(pg.code());
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return db
            .code()
            .and_then(|code| code.parse().ok())
            .is_some_and(sqlite_transient);
    }
    false
}

/// Whether a SQLite result code (primary or extended) is worth retrying later: SQLITE_BUSY (5),
/// SQLITE_LOCKED (6) or SQLITE_READONLY (8).
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_transient(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8)
}

/// PostgreSQL SQLSTATEs that mean "try again": connection exceptions (class 08), the server
/// shutting down or starting up (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
/// connect now), too many connections (53300), a statement cancelled by `statement_timeout`
/// (57014), transaction conflicts (40001 serialization failure, 40P01 deadlock), and a database
/// that takes no writes now (25006 read-only transaction: a replica, or read-only by setting).
#[cfg(feature = "postgres")]
fn pg_transient(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || matches!(
            sqlstate,
            "57P01" | "57P02" | "57P03" | "53300" | "57014" | "40001" | "40P01" | "25006"
        )
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::pg_transient;

    #[test]
    fn postgres_transient_codes() {
        for code in [
            "08000", "08006", "08001", "57P01", "57P02", "57P03", "40001", "40P01", "25006",
        ] {
            assert!(pg_transient(code), "{code}");
        }
        for code in ["23505", "23503", "23514", "42P01", "22P02"] {
            assert!(!pg_transient(code), "{code}");
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod sqlite_tests {
    use super::sqlite_transient;

    #[test]
    fn busy_locked_and_read_only_are_transient_with_or_without_extended_codes() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_READONLY_RECOVERY
        for code in [5, 517, 6, 8, 264] {
            assert!(sqlite_transient(code), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_UNIQUE, SQLITE_CORRUPT, SQLITE_FULL
        for code in [1, 19, 2067, 11, 13] {
            assert!(!sqlite_transient(code), "{code}");
        }
    }
}
