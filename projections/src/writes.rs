//! What a projector wants written for a batch, planned in memory before anything runs: the
//! statements in the order they must run, with their values. Planning reads nothing from the
//! database, so a fold of a long log plans the next batch while the last one is written (by
//! a [`WriteBehind`]), and the live runners run the same plan in their transaction
//! ([`Writes::run`]).
//!
//! Where a statement depends on what an earlier one did, the SQL says so (a version guard, a
//! subquery) or the earlier one is a [`Step`]'s guard: its followers run only if it changed a
//! row.

use crate::runner::ProjectionError;
use async_trait::async_trait;
use sqlx::AnyConnection;
use std::borrow::Cow;

/// A value a statement binds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    /// One of the words a column holds (a status, a kind): never copied into the plan.
    Word(&'static str),
    MaybeText(Option<String>),
    Int(i64),
    MaybeInt(Option<i64>),
    Bytes(Vec<u8>),
}

/// One statement with its values. Its parameters are numbered (`$1`, bound by number) or
/// bare (`?`, bound in order).
#[derive(Clone, Debug)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub values: Vec<Value>,
}

/// A statement and those that run only if it changed a row.
#[derive(Debug)]
pub struct Step {
    pub statement: Statement,
    /// `None`: none depend on it.
    pub then: Option<Vec<Statement>>,
}

/// How a statement of many rows names its parameters: SQLite numbers bare `?` itself, and
/// finds a numbered one by a linear search of the names before it (a many-row statement would
/// take quadratic time to prepare); PostgreSQL knows only numbered ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholders {
    Bare,
    Numbered,
}

/// A batch's statements, in order.
#[derive(Debug)]
pub struct Writes {
    placeholders: Placeholders,
    steps: Vec<Step>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>, values: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            values,
        }
    }
}

impl Writes {
    pub fn new(placeholders: Placeholders) -> Self {
        Self {
            placeholders,
            steps: Vec::new(),
        }
    }

    pub fn placeholders(&self) -> Placeholders {
        self.placeholders
    }

    pub fn push(&mut self, sql: impl Into<Cow<'static, str>>, values: Vec<Value>) {
        self.add(Statement::new(sql, values));
    }

    pub fn add(&mut self, statement: Statement) {
        self.steps.push(Step {
            statement,
            then: None,
        });
    }

    /// Run `sql`, and `then` only if it changed a row.
    pub fn when_changed(
        &mut self,
        sql: impl Into<Cow<'static, str>>,
        values: Vec<Value>,
        then: Vec<Statement>,
    ) {
        self.steps.push(Step {
            statement: Statement::new(sql, values),
            then: Some(then),
        });
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Run every step on `tx`, in order.
    pub async fn run(&self, tx: &mut AnyConnection) -> Result<(), sqlx::Error> {
        for step in &self.steps {
            let changed = execute(tx, &step.statement).await?;
            if let Some(then) = step.then.as_ref().filter(|_| changed > 0) {
                for statement in then {
                    execute(tx, statement).await?;
                }
            }
        }
        Ok(())
    }
}

/// Rows changed.
async fn execute(tx: &mut AnyConnection, statement: &Statement) -> Result<u64, sqlx::Error> {
    let mut query = sqlx::query(&statement.sql);
    for value in &statement.values {
        query = match value {
            Value::Text(s) => query.bind(s.as_str()),
            Value::Word(s) => query.bind(*s),
            Value::MaybeText(s) => query.bind(s.as_deref()),
            Value::Int(i) => query.bind(*i),
            Value::MaybeInt(i) => query.bind(*i),
            Value::Bytes(b) => query.bind(b.as_slice()),
        };
    }
    Ok(query.execute(tx).await?.rows_affected())
}

/// Where a fold of the log sends each batch's planned writes: each batch's in a transaction
/// of its own, in the order given, while the caller plans the next. Only for a fold that is
/// the one writer of its read models (a rebuild of a stopped server, a replay into a file of
/// its own): the plan of a batch assumes the ones before it are in.
#[async_trait]
pub trait WriteBehind: Send {
    /// How the writes it takes name the parameters of many-row statements.
    fn placeholders(&self) -> Placeholders;
    /// Queue `writes`; fails with the error an earlier batch's writing stopped on.
    async fn write(&mut self, writes: Writes) -> Result<(), ProjectionError>;
    /// Wait until everything queued is committed.
    async fn finish(self: Box<Self>) -> Result<(), ProjectionError>;
}

/// A [`WriteBehind`] that writes each batch before it takes the next, through the read-model
/// transactions: for a backend with no writer of its own.
pub struct InTransactions(pub std::sync::Arc<dyn crate::WriteTransactions>);

#[async_trait]
impl WriteBehind for InTransactions {
    fn placeholders(&self) -> Placeholders {
        self.0.placeholders()
    }

    async fn write(&mut self, writes: Writes) -> Result<(), ProjectionError> {
        let mut tx = self.0.begin_write().await?;
        writes.run(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<(), ProjectionError> {
        Ok(())
    }
}
