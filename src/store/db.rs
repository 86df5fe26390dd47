//! What the store needs from a database: run one statement, or a batch as one transaction.

use super::row::{Row, RowError};
use super::statement::Statement;
use serde::de::DeserializeOwned;
use std::fmt;

/// What one statement did: the rows it returned and how many rows it changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub changes: usize,
}

impl Outcome {
    /// The first row, if any.
    pub fn first(self) -> Option<Row> {
        self.rows.into_iter().next()
    }

    /// Every row as a `T` with named fields (a batch's outcome; `statement` names it in errors).
    pub fn typed<T: DeserializeOwned>(self, statement: &'static str) -> Result<Vec<T>, StoreError> {
        self.rows
            .into_iter()
            .map(|r| r.into_typed(statement))
            .collect()
    }
}

/// A statement failed, or its rows did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// The statement's name (`module.what`), or `batch` for a failed batch.
    pub statement: &'static str,
    pub message: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store: {} failed: {}", self.statement, self.message)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// Whether a write failed because a row with its key exists already (SQLite's, and so
    /// D1's, `UNIQUE constraint failed`).
    pub fn is_key_taken(&self) -> bool {
        self.message.contains("UNIQUE constraint failed")
    }

    pub fn row(statement: &'static str, error: RowError) -> Self {
        Self {
            statement,
            message: error.to_string(),
        }
    }
}

/// A database that behaves as D1 does: foreign keys always enforced, no `BEGIN` or
/// `SAVEPOINT`, a batch runs as one implicit transaction that rolls back whole, integers come
/// back as JavaScript numbers.
#[allow(async_fn_in_trait)] // single-threaded: D1 futures are not Send, and neither is SQLite
pub trait Db {
    /// Runs one statement.
    async fn run(&self, statement: Statement) -> Result<Outcome, StoreError>;

    /// Runs statements in order as one transaction; on any failure nothing is applied.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Outcome>, StoreError>;

    /// Runs a read and decodes every row into `T` (a row type the caller already has).
    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, StoreError> {
        let name = statement.sql.name;
        let outcome = self.run(statement).await?;
        outcome
            .rows
            .into_iter()
            .map(|r| r.into_typed(name))
            .collect()
    }

    /// Runs a read and decodes its first row into `T`, if there is one.
    async fn first<T: DeserializeOwned>(
        &self,
        statement: Statement,
    ) -> Result<Option<T>, StoreError> {
        let name = statement.sql.name;
        let outcome = self.run(statement).await?;
        outcome.first().map(|r| r.into_typed(name)).transpose()
    }

    /// Runs a write and says how many rows it changed.
    async fn write(&self, statement: Statement) -> Result<usize, StoreError> {
        Ok(self.run(statement).await?.changes)
    }
}

/// Decodes every row of an outcome with `decode`.
pub fn decode_all<T>(
    statement: &'static str,
    outcome: Outcome,
    decode: impl Fn(&Row) -> Result<T, RowError>,
) -> Result<Vec<T>, StoreError> {
    outcome
        .rows
        .iter()
        .map(|row| decode(row).map_err(|e| StoreError::row(statement, e)))
        .collect()
}

/// Decodes the first row of an outcome, if there is one.
pub fn decode_first<T>(
    statement: &'static str,
    outcome: Outcome,
    decode: impl Fn(&Row) -> Result<T, RowError>,
) -> Result<Option<T>, StoreError> {
    outcome
        .first()
        .map(|row| decode(&row).map_err(|e| StoreError::row(statement, e)))
        .transpose()
}
