//! Mapping database errors onto [`StoreError`]: unreachable or busy → `Unavailable`,
//! unique violations → `Conflict`, the rest → `Other`.

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
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with or without extended codes.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| matches!(c.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6))) =>
        {
            StoreError::Unavailable(db.message().to_owned())
        }
        _ => StoreError::Other(e.to_string()),
    }
}
