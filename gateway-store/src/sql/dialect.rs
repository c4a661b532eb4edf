//! What the shared SQL needs of a database: binding values, running statements and batches,
//! and the one clause that differs in the shared statements (row locks).

use std::future::Future;
use std::pin::Pin;

use gateway_core::StoreError;
use sqlx::error::BoxDynError;
use sqlx::{Arguments, Database, Encode, Type};

use crate::rows::ReadRow;

/// A boxed future borrowing a connection for `'c`.
pub(crate) type Fut<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// A database's argument list: what [`Sql`] binds values into.
pub(crate) trait Params {
    /// The arguments of one statement.
    type Arguments: Default + Send;
}

impl<DB: Database> Params for DB {
    type Arguments = <DB as Database>::Arguments;
}

/// A database whose arguments accept `T`.
pub(crate) trait Bind<T>: Params {
    /// Appends `value` to `args`.
    fn add(args: &mut Self::Arguments, value: T) -> Result<(), BoxDynError>;
}

impl<DB: Database, T> Bind<T> for DB
where
    T: for<'t> Encode<'t, DB> + Type<DB>,
{
    fn add(args: &mut <DB as Database>::Arguments, value: T) -> Result<(), BoxDynError> {
        args.add(value)
    }
}

/// A database the shared store layer runs on.
pub(crate) trait Dialect:
    Params
    + Bind<String>
    + Bind<Option<String>>
    + Bind<&'static str>
    + Bind<Option<&'static str>>
    + Bind<i64>
    + Bind<Option<i64>>
    + Bind<i32>
    + Bind<Option<i32>>
    + Bind<bool>
    + Bind<Vec<u8>>
    + Sized
    + Send
    + Sync
    + 'static
{
    /// A connection statements run on.
    type Connection: Send;
    /// A row a statement returned.
    type Row: ReadRow + Send;
    /// Whether a command must lock the rows its rule reads (`FOR UPDATE`); false where a write
    /// transaction already holds the whole database's write lock.
    const ROW_LOCKS: bool;
    /// Statements sent together.
    type Batch: Batch<Self>;

    /// Runs a statement; returns its rows.
    fn fetch_all<'c>(conn: &'c mut Self::Connection, sql: Sql<Self>) -> Fut<'c, Vec<Self::Row>>;
    /// Runs a statement; returns its first row.
    fn fetch_optional<'c>(
        conn: &'c mut Self::Connection,
        sql: Sql<Self>,
    ) -> Fut<'c, Option<Self::Row>>;
    /// Runs a statement; returns the rows it changed.
    fn execute<'c>(conn: &'c mut Self::Connection, sql: Sql<Self>) -> Fut<'c, u64>;
    /// Runs every statement of `batch` (see [`Batch`]); returns the rows they changed in total.
    fn execute_batch<'c>(conn: &'c mut Self::Connection, batch: Self::Batch) -> Fut<'c, u64>;
}

/// Statements built up, then run by [`Dialect::execute_batch`]. They must not depend on each
/// other's effects (PostgreSQL runs several as one statement, under one snapshot): independent
/// inserts, and updates of rows no other statement of the batch touches.
pub(crate) trait Batch<DB: Params>: Default + Send {
    /// Appends a statement whose parameters are numbered `$1`…`$n` as if it stood alone; bind
    /// its `n` values next, in order.
    fn push(&mut self, sql: &'static str) -> &mut Self;
    /// Binds the next parameter of the last statement.
    fn arg<T>(&mut self, value: T) -> &mut Self
    where
        DB: Bind<T>;
}

/// A [`Batch`] whose statements run one after another, each a call of its own: for a database
/// where a statement costs no round trip (SQLite on the writer's own thread).
#[cfg(feature = "sqlite")]
pub(crate) struct OneByOne<DB: Params> {
    statements: Vec<Sql<DB>>,
}

#[cfg(feature = "sqlite")]
impl<DB: Params> Default for OneByOne<DB> {
    fn default() -> Self {
        Self {
            statements: Vec::new(),
        }
    }
}

#[cfg(feature = "sqlite")]
impl<DB: Dialect> OneByOne<DB> {
    /// Runs the statements in the order they were pushed; returns the rows they changed in
    /// total.
    pub(crate) fn execute(self, conn: &mut DB::Connection) -> Fut<'_, u64> {
        Box::pin(async move {
            let mut changed = 0;
            for sql in self.statements {
                changed += DB::execute(&mut *conn, sql).await?;
            }
            Ok(changed)
        })
    }
}

#[cfg(feature = "sqlite")]
impl<DB: Params> Batch<DB> for OneByOne<DB> {
    fn push(&mut self, sql: &'static str) -> &mut Self {
        self.statements.push(Sql::new(sql));
        self
    }

    fn arg<T>(&mut self, value: T) -> &mut Self
    where
        DB: Bind<T>,
    {
        if let Some(sql) = self.statements.last_mut() {
            sql.bind(value);
        }
        self
    }
}

/// One statement and its arguments.
pub(crate) struct Sql<DB: Params> {
    text: String,
    args: DB::Arguments,
    error: Option<BoxDynError>,
}

impl<DB: Params> Sql<DB> {
    /// A statement with `$N` parameters.
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: DB::Arguments::default(),
            error: None,
        }
    }

    /// A read that locks the rows it returns until commit (their columns are read as of the
    /// lock, after any concurrent writer committed).
    pub(crate) fn locking(text: &str) -> Self
    where
        DB: Dialect,
    {
        if DB::ROW_LOCKS {
            Self::new(&format!("{text} FOR UPDATE"))
        } else {
            Self::new(text)
        }
    }

    /// Appends `value` to the arguments in place (see [`Sql::arg`]).
    pub(crate) fn bind<T>(&mut self, value: T)
    where
        DB: Bind<T>,
    {
        if let Err(e) = DB::add(&mut self.args, value)
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    /// Replaces the text, keeping the arguments bound so far.
    #[cfg(feature = "postgres")]
    pub(crate) fn set_text(&mut self, text: String) {
        self.text = text;
    }

    /// Binds the next parameter.
    pub(crate) fn arg<T>(mut self, value: T) -> Self
    where
        DB: Bind<T>,
    {
        self.bind(value);
        self
    }

    /// The text and arguments, ready to run; an argument that failed to encode is reported
    /// here, before anything runs.
    pub(crate) fn into_parts(self) -> Result<(String, DB::Arguments), StoreError> {
        match self.error {
            Some(e) => Err(StoreError::Other(format!("unencodable argument: {e}"))),
            None => Ok((self.text, self.args)),
        }
    }
}

/// What ends a subquery picking the rows a statement changes: on PostgreSQL, lock them in id
/// order and skip those another transaction holds, so relays, claims and re-arms of several
/// processes never deadlock (a skipped row is relayed or re-armed again later; a skipped claim
/// means another worker is leasing the job). SQLite's writer already holds the whole database.
pub(crate) fn skip_locked<DB: Dialect>() -> &'static str {
    if DB::ROW_LOCKS {
        " ORDER BY id FOR UPDATE SKIP LOCKED"
    } else {
        ""
    }
}
