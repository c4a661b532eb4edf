//! SQLite's dialect: SQLite called directly (through rusqlite) on the thread that holds the
//! connection: the writer's own thread, or a reading task's.
//!
//! Through sqlx every statement is a round trip to the connection's own thread; under load the
//! wait for that thread cost more than the statement, and the one writer paid it serially for
//! every statement of every command. Here a statement is a function call on the thread that holds
//! the connection, prepared once and kept in the connection's statement cache.
//!
//! The readers' connections ([`super::readers`]) use it too, on the tasks that read. sqlx (for
//! migrations) links the same `libsqlite3-sys`, so both open the same file with the same SQLite.

use std::sync::Arc;

use gateway_core::StoreError;
use rusqlite::types::{FromSql, ToSql, ToSqlOutput, Value, ValueRef};
use sqlx::error::BoxDynError;

use crate::error::sqlite_transient;
use crate::rows::Column;
use crate::sql::{Bind, Dialect, Fut, OneByOne, Params, Sql};

/// SQLite on the writer's own connection (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rusqlite;

/// A statement's arguments, in parameter order (`$1` first).
#[derive(Debug, Default)]
pub(crate) struct Values(Vec<Value>);

impl Params for Rusqlite {
    type Arguments = Values;
}

impl<T: ToSql> Bind<T> for Rusqlite {
    fn add(args: &mut Values, value: T) -> Result<(), BoxDynError> {
        let value = match value.to_sql()? {
            ToSqlOutput::Borrowed(value) => Value::try_from(value)?,
            ToSqlOutput::Owned(value) => value,
            _ => return Err("not a plain SQLite value".into()),
        };
        args.0.push(value);
        Ok(())
    }
}

/// A row a statement returned, owned (rusqlite's rows borrow their statement).
#[derive(Debug)]
pub(crate) struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl<T: FromSql> Column<T> for Row {
    fn column(&self, name: &str) -> Result<T, StoreError> {
        let value = self
            .columns
            .iter()
            .position(|column| column == name)
            .and_then(|index| self.values.get(index))
            .ok_or_else(|| StoreError::Other(format!("no column {name} in the row")))?;
        T::column_result(ValueRef::from(value))
            .map_err(|e| StoreError::Other(format!("column {name}: {e}")))
    }
}

impl Dialect for Rusqlite {
    const ROW_LOCKS: bool = false;
    type Connection = rusqlite::Connection;
    type Row = Row;
    type Batch = OneByOne<Self>;

    fn fetch_all<'c>(conn: &'c mut rusqlite::Connection, sql: Sql<Self>) -> Fut<'c, Vec<Row>> {
        Box::pin(async move { off_the_runtime(|| query(conn, sql, usize::MAX)) })
    }

    fn fetch_optional<'c>(
        conn: &'c mut rusqlite::Connection,
        sql: Sql<Self>,
    ) -> Fut<'c, Option<Row>> {
        Box::pin(async move { Ok(query(conn, sql, 1)?.pop()) })
    }

    fn execute<'c>(conn: &'c mut rusqlite::Connection, sql: Sql<Self>) -> Fut<'c, u64> {
        Box::pin(async move { execute(conn, sql) })
    }

    fn execute_batch<'c>(
        conn: &'c mut rusqlite::Connection,
        batch: OneByOne<Self>,
    ) -> Fut<'c, u64> {
        batch.execute(conn)
    }
}

/// Runs `read`, which may take a while (it reads many rows), without holding up other tasks:
/// on a worker of a multi-threaded runtime (a reader serving a request) the worker's other
/// tasks move to another thread first. On the writer's thread and on a current-thread runtime it
/// just runs.
fn off_the_runtime<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(read)
        }
        _ => read(),
    }
}

/// The cached statement for `sql`'s text with its arguments bound.
///
/// Parameters are written `$N` (or `?N`), as sqlx numbers them: SQLite treats `$N` as a name and
/// numbers parameters in order of first appearance, so each is bound by the number in its name.
/// An unbound parameter is `NULL`, as under sqlx.
fn prepare(
    conn: &rusqlite::Connection,
    sql: Sql<Rusqlite>,
) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
    let (text, Values(values)) = sql.into_parts()?;
    let mut statement = conn.prepare_cached(&text).map_err(sqlite_error)?;
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.get(1..)?.parse::<usize>().ok())
            .unwrap_or(index);
        let value = number
            .checked_sub(1)
            .and_then(|at| values.get(at))
            .unwrap_or(&Value::Null);
        statement
            .raw_bind_parameter(index, value)
            .map_err(sqlite_error)?;
    }
    Ok(statement)
}

/// Runs `sql`, returning at most `limit` of its rows. It stops stepping there: a read that
/// matches more rows reads no further, and an `INSERT`, `UPDATE` or `DELETE … RETURNING` has
/// made all its changes by its first row (SQLite runs them on the first step).
fn query(
    conn: &rusqlite::Connection,
    sql: Sql<Rusqlite>,
    limit: usize,
) -> Result<Vec<Row>, StoreError> {
    let mut statement = prepare(conn, sql)?;
    let columns: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.raw_query();
    let mut kept = Vec::new();
    while kept.len() < limit {
        let Some(row) = rows.next().map_err(sqlite_error)? else {
            break;
        };
        let values = (0..columns.len())
            .map(|index| row.get::<_, Value>(index))
            .collect::<Result<_, _>>()
            .map_err(sqlite_error)?;
        kept.push(Row {
            columns: Arc::clone(&columns),
            values,
        });
    }
    Ok(kept)
}

/// Runs `sql` to completion; returns the rows it changed (none for a read).
fn execute(conn: &rusqlite::Connection, sql: Sql<Rusqlite>) -> Result<u64, StoreError> {
    let mut statement = prepare(conn, sql)?;
    let writes = !statement.readonly();
    let mut rows = statement.raw_query();
    while rows.next().map_err(sqlite_error)?.is_some() {}
    Ok(if writes { conn.changes() } else { 0 })
}

/// Classifies a SQLite error as [`crate::error::db_error`] does sqlx's: busy, locked or
/// read-only → `Unavailable`, unique violations → `Conflict`, the rest → `Other`.
pub(crate) fn sqlite_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.clone().unwrap_or_else(|| failure.to_string());
            match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    StoreError::Conflict(message)
                }
                code if sqlite_transient(code) => StoreError::Unavailable(message),
                _ => StoreError::Other(message),
            }
        }
        _ => StoreError::Other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::sql::Batch;

    fn scratch() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, flag INTEGER, b BLOB)")
            .unwrap();
        conn
    }

    fn run<T>(future: Fut<'_, T>) -> Result<T, StoreError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn parameters_bind_by_the_number_in_their_name_not_by_position() {
        let mut conn = scratch();
        let insert = Sql::<Rusqlite>::new("INSERT INTO t (n, id, flag) VALUES ($2, $1, $2 > 5)")
            .arg("a".to_owned())
            .arg(7_i64);
        assert_eq!(run(Rusqlite::execute(&mut conn, insert)), Ok(1));
        let read = Sql::<Rusqlite>::new("SELECT id, n, flag, b FROM t WHERE id = ?1").arg("a");
        let row = run(Rusqlite::fetch_optional(&mut conn, read))
            .unwrap()
            .unwrap();
        assert_eq!(Column::<String>::column(&row, "id"), Ok("a".to_owned()));
        assert_eq!(Column::<i64>::column(&row, "n"), Ok(7));
        assert_eq!(Column::<bool>::column(&row, "flag"), Ok(true));
        assert_eq!(Column::<Option<Vec<u8>>>::column(&row, "b"), Ok(None));
        assert!(Column::<i64>::column(&row, "missing").is_err());
    }

    #[test]
    fn a_duplicate_key_is_a_conflict_and_a_read_changes_nothing() {
        let mut conn = scratch();
        let insert = || Sql::<Rusqlite>::new("INSERT INTO t (id) VALUES ($1)").arg("a");
        assert_eq!(run(Rusqlite::execute(&mut conn, insert())), Ok(1));
        assert!(matches!(
            run(Rusqlite::execute(&mut conn, insert())),
            Err(StoreError::Conflict(message)) if message.contains("UNIQUE")
        ));
        let read = Sql::<Rusqlite>::new("SELECT id FROM t");
        assert_eq!(run(Rusqlite::execute(&mut conn, read)), Ok(0));
    }

    #[test]
    fn the_first_row_of_an_update_returning_comes_after_all_its_changes() {
        let mut conn = scratch();
        conn.execute_batch("INSERT INTO t (id, n) VALUES ('a', 1), ('b', 1), ('c', 1)")
            .unwrap();
        let bump = Sql::<Rusqlite>::new("UPDATE t SET n = n + 1 RETURNING id");
        let first = run(Rusqlite::fetch_optional(&mut conn, bump)).unwrap();
        assert!(first.is_some());
        let bumped = Sql::<Rusqlite>::new("SELECT id FROM t WHERE n = 2");
        assert_eq!(
            run(Rusqlite::fetch_all(&mut conn, bumped)).unwrap().len(),
            3
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_of_many_rows_runs_on_a_worker_of_a_multi_threaded_runtime() {
        let mut conn = scratch();
        conn.execute_batch("INSERT INTO t (id, n) VALUES ('a', 1), ('b', 2)")
            .unwrap();
        let read = Sql::<Rusqlite>::new("SELECT id FROM t ORDER BY id");
        let rows = Rusqlite::fetch_all(&mut conn, read).await.unwrap();
        let ids: Vec<String> = rows
            .iter()
            .map(|row| Column::<String>::column(row, "id").unwrap())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_batch_reports_every_row_its_statements_changed() {
        let mut conn = scratch();
        let mut batch = OneByOne::<Rusqlite>::default();
        for id in ["a", "b", "c"] {
            batch.push("INSERT INTO t (id, n) VALUES ($1, 1)").arg(id);
        }
        batch.push("UPDATE t SET n = n + $1").arg(1_i64);
        assert_eq!(run(Rusqlite::execute_batch(&mut conn, batch)), Ok(6));
    }
}
