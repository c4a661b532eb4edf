//! Several SQLite statements sent in one call.
//!
//! Through sqlx every call is a round trip to the connection's thread, and under load the wait
//! for that thread costs more than the statement. A command whose statements do not depend on
//! each other's results sends them together: SQLite runs them in order, in the caller's
//! transaction, and reports the rows they changed in total.

use gateway_core::StoreError;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Sqlite, SqliteConnection};

use crate::error::db_error;
use crate::sql::{Batch, Bind, renumbered};

/// Statements and their arguments, built up and then run in one call.
#[derive(Debug, Default)]
pub(crate) struct Statements {
    sql: String,
    args: SqliteArguments,
    bound: usize,
    /// The first argument that failed to encode, reported when the statements run.
    error: Option<String>,
}

impl Statements {
    /// Appends `sql`, whose parameters are numbered `$1`…`$n` (or `?1`…`?n`) as if it stood
    /// alone; bind its `n` values next, in order.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(&renumbered(sql, self.bound));
        self.sql.push_str(";\n");
        self
    }

    /// Binds the next parameter.
    pub(crate) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        Sqlite: Bind<T>,
    {
        if let Err(e) = Sqlite::add(&mut self.args, value)
            && self.error.is_none()
        {
            self.error = Some(e.to_string());
        }
        self.bound += 1;
        self
    }

    /// Fails if an argument could not be encoded.
    fn check(&self) -> Result<(), StoreError> {
        match &self.error {
            Some(e) => Err(StoreError::Other(format!("unencodable argument: {e}"))),
            None => Ok(()),
        }
    }

    /// Whether nothing was pushed.
    pub(crate) fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Runs every statement in one call; returns the rows they returned, in order.
    pub(crate) async fn fetch_all(
        self,
        conn: &mut SqliteConnection,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        self.check()?;
        sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.args)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)
    }

    /// Runs every statement in one call; returns the rows they changed in total.
    pub(crate) async fn execute(self, conn: &mut SqliteConnection) -> Result<u64, StoreError> {
        if self.is_empty() {
            return Ok(0);
        }
        self.check()?;
        let done = sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.args)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}

impl Batch<Sqlite> for Statements {
    fn push(&mut self, sql: &'static str) -> &mut Self {
        Statements::push(self, sql)
    }

    fn arg<T>(&mut self, value: T) -> &mut Self
    where
        Sqlite: Bind<T>,
    {
        self.bind(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sqlx::Connection;

    use super::*;

    #[test]
    fn parameters_are_renumbered_after_those_already_bound() {
        let mut statements = Statements::default();
        statements
            .push("INSERT INTO t (a, b) VALUES (?1, ?2)")
            .bind(1)
            .bind(2);
        statements
            .push("UPDATE t SET a = $2 WHERE b = $1")
            .bind(3)
            .bind(4);
        assert_eq!(
            statements.sql,
            "INSERT INTO t (a, b) VALUES ($1, $2);\nUPDATE t SET a = $4 WHERE b = $3;\n"
        );
    }

    #[tokio::test]
    async fn every_statement_runs_and_changes_are_summed() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (a INTEGER, b TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut statements = Statements::default();
        for i in 0..3_i64 {
            statements
                .push("INSERT INTO t (a, b) VALUES (?1, ?2)")
                .bind(i)
                .bind(format!("row {i}"));
        }
        statements
            .push("UPDATE t SET b = ?1 WHERE a >= ?2")
            .bind("late")
            .bind(1_i64);
        let changed = statements.execute(&mut conn).await.unwrap();
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT a, b FROM t ORDER BY a")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![(0, "row 0".into()), (1, "late".into()), (2, "late".into())]
        );
        assert_eq!(changed, 5);
    }
}
