//! The native executor for the store's tests: SQLite (D1's engine) with the real `migrations/`
//! applied, made to behave as D1 does.
//!
//! - Foreign keys are always on (`PRAGMA foreign_keys = ON`, as D1 enforces them).
//! - `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT` and `RELEASE` are refused: D1 refuses them.
//! - A batch runs as one transaction that rolls back whole when a statement fails.
//! - Integers come back as JavaScript numbers do: above 2^53 they lose precision.
//! - D1's limits: at most 100 bound parameters, and at most 100,000 bytes of SQL, a statement.
//!
//! Each database records which statements it ran, for the coverage test.

use super::db::{Db, Outcome, StoreError};
use super::row::Row;
use super::statement::{Param, Statement};
use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// D1: "Maximum number of bound parameters per query: 100".
pub const MAX_BOUND_PARAMETERS: usize = 100;
/// D1: "Maximum SQL statement length: 100,000 bytes".
pub const MAX_STATEMENT_BYTES: usize = 100_000;

/// An in-memory database with every migration applied.
pub struct Sqlite {
    connection: RefCell<Connection>,
    executed: RefCell<BTreeSet<&'static str>>,
}

impl Sqlite {
    pub fn migrated() -> Self {
        Self::migrated_before("~")
    }

    /// An in-memory database with the migrations whose file names sort before `first_left`
    /// applied (to test a migration on rows written before it: [`Sqlite::apply`] it after).
    pub fn migrated_before(first_left: &str) -> Self {
        let connection = Connection::open_in_memory().expect("open SQLite in memory");
        connection
            .execute_batch("PRAGMA foreign_keys = ON;")
            .expect("foreign keys on");
        let db = Self {
            connection: RefCell::new(connection),
            executed: RefCell::new(BTreeSet::new()),
        };
        for file in Self::migrations() {
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.as_str() >= first_left {
                break;
            }
            db.apply(&name);
        }
        db
    }

    fn migrations() -> Vec<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("read migrations/")
            .map(|entry| entry.expect("a migration").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        files
    }

    /// Applies one migration of `migrations/` (by file name), as wrangler does: as one batch.
    pub fn apply(&self, name: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(name);
        let sql = std::fs::read_to_string(&path).expect("read a migration");
        let connection = self.connection.borrow();
        let tx = connection.unchecked_transaction().expect("begin");
        tx.execute_batch(&sql)
            .unwrap_or_else(|e| panic!("{} does not apply: {e}", path.display()));
        tx.commit().expect("commit a migration");
    }

    /// The names of the statements this database has run.
    pub fn executed(&self) -> BTreeSet<&'static str> {
        self.executed.borrow().clone()
    }

    /// Raw SQL for a test's arrangement or inspection, outside the store's statements.
    pub fn exec(&self, sql: &str) {
        self.connection
            .borrow()
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// One arranging statement with its values bound (states among them: no state is written
    /// into SQL text, even in a test).
    pub fn arrange(&self, sql: &str, values: &[&str]) {
        self.connection
            .borrow()
            .execute(sql, rusqlite::params_from_iter(values))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// One value read by a test (the first column of the first row).
    pub fn value(&self, sql: &str) -> Value {
        let connection = self.connection.borrow();
        let mut statement = connection.prepare(sql).expect("prepare");
        let mut rows = statement.query([]).expect("query");
        match rows.next().expect("step") {
            Some(row) => to_json(row.get_ref(0).expect("column 0")),
            None => Value::Null,
        }
    }

    /// The query plan SQLite chooses for `statement` with its values bound: one line per
    /// step (`SEARCH c USING INDEX …`, `SCAN …`, `USE TEMP B-TREE …`).
    pub fn plan(&self, statement: &Statement) -> Vec<String> {
        let connection = self.connection.borrow();
        let mut prepared = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {}", statement.sql.text))
            .expect("prepare the plan");
        let mut rows = prepared
            .query(params_from_iter(values(statement)))
            .expect("plan");
        let mut lines = Vec::new();
        while let Some(row) = rows.next().expect("a plan step") {
            lines.push(row.get::<_, String>(3).expect("the step's detail"));
        }
        lines
    }

    fn execute(
        &self,
        connection: &Connection,
        statement: &Statement,
    ) -> Result<Outcome, StoreError> {
        let name = statement.sql.name;
        let fail = |message: String| StoreError {
            statement: name,
            message,
        };
        let text = statement.sql.text;
        let first_word = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END"]
            .contains(&first_word.as_str())
        {
            return Err(fail(format!("D1 refuses {first_word}")));
        }
        if text.len() > MAX_STATEMENT_BYTES {
            return Err(fail(format!(
                "SQL is {} bytes, over D1's limit",
                text.len()
            )));
        }
        if statement.params.len() > MAX_BOUND_PARAMETERS {
            return Err(fail(format!(
                "{} bound parameters, over D1's limit",
                statement.params.len()
            )));
        }
        self.executed.borrow_mut().insert(name);
        let mut prepared = connection.prepare(text).map_err(|e| fail(e.to_string()))?;
        let expected = prepared.parameter_count();
        if expected != statement.params.len() {
            return Err(fail(format!(
                "{expected} placeholders, {} parameters bound",
                statement.params.len()
            )));
        }
        let names: Vec<String> = prepared
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let read_only = prepared.readonly();
        let mut rows = prepared
            .query(params_from_iter(values(statement)))
            .map_err(|e| fail(e.to_string()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| fail(e.to_string()))? {
            let mut map = Map::new();
            for (i, column) in names.iter().enumerate() {
                let value = row.get_ref(i).map_err(|e| fail(e.to_string()))?;
                map.insert(column.clone(), to_json(value));
            }
            out.push(Row(map));
        }
        drop(rows);
        let changes = if read_only {
            0
        } else {
            connection.changes() as usize
        };
        Ok(Outcome { rows: out, changes })
    }
}

/// A statement's bound values as SQLite takes them.
fn values(statement: &Statement) -> impl Iterator<Item = rusqlite::types::Value> + '_ {
    statement.params.iter().map(|p| match p {
        Param::Null => rusqlite::types::Value::Null,
        Param::Int(i) => rusqlite::types::Value::Integer(*i),
        Param::Text(t) => rusqlite::types::Value::Text(t.clone()),
    })
}

/// A value as D1 hands it to JavaScript.
fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) if i.unsigned_abs() <= (1 << 53) => Value::Number(i.into()),
        // A JavaScript number: exact only up to 2^53.
        ValueRef::Integer(i) => Number::from_f64(i as f64).map_or(Value::Null, Value::Number),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Array(b.iter().map(|byte| Value::from(*byte)).collect()),
    }
}

impl Db for Sqlite {
    async fn run(&self, statement: Statement) -> Result<Outcome, StoreError> {
        self.execute(&self.connection.borrow(), &statement)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Outcome>, StoreError> {
        let connection = self.connection.borrow();
        let tx = connection.unchecked_transaction().map_err(|e| StoreError {
            statement: "batch",
            message: e.to_string(),
        })?;
        let mut outcomes = Vec::with_capacity(statements.len());
        for statement in &statements {
            // Dropping `tx` on the error path rolls the whole batch back.
            outcomes.push(self.execute(&tx, statement)?);
        }
        tx.commit().map_err(|e| StoreError {
            statement: "batch",
            message: e.to_string(),
        })?;
        Ok(outcomes)
    }
}

/// Runs a store future to completion. The native executor never waits, so one poll suffices.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the native store never waits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sql;

    static INSERT_TENANT: Sql = Sql {
        name: "test.insert_tenant",
        text: "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
    };
    static INSERT_KEY: Sql = Sql {
        name: "test.insert_key",
        text: "INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, scopes, created_at) \
               VALUES (?1, ?2, 'p', ?3, 'manage', 0)",
    };
    static READ_BIG: Sql = Sql {
        name: "test.read_big",
        text: "SELECT ?1 + 0 AS n",
    };
    static BEGIN: Sql = Sql {
        name: "test.begin",
        text: "BEGIN TRANSACTION",
    };

    #[test]
    fn foreign_keys_are_enforced() {
        let db = Sqlite::migrated();
        let err =
            block_on(db.run(INSERT_KEY.bind(vec!["key_1".into(), "ten_none".into(), "h".into()])))
                .unwrap_err();
        assert!(err.message.contains("FOREIGN KEY"), "{err}");
    }

    #[test]
    fn a_failed_batch_leaves_nothing_behind() {
        let db = Sqlite::migrated();
        let result = block_on(db.batch(vec![
            INSERT_TENANT.bind(vec!["ten_a".into(), "A".into(), 0.into()]),
            INSERT_KEY.bind(vec!["key_1".into(), "ten_missing".into(), "h".into()]),
        ]));
        assert_eq!(result.unwrap_err().statement, "test.insert_key");
        assert_eq!(db.value("SELECT COUNT(*) FROM tenants"), Value::from(0));
    }

    #[test]
    fn transactions_are_refused_as_d1_refuses_them() {
        let db = Sqlite::migrated();
        let err = block_on(db.run(BEGIN.bind(vec![]))).unwrap_err();
        assert!(err.message.contains("D1 refuses BEGIN"), "{err}");
    }

    #[test]
    fn integers_past_2_pow_53_lose_precision_as_in_javascript() {
        let db = Sqlite::migrated();
        let exact = block_on(db.run(READ_BIG.bind(vec![Param::Int(1 << 53)]))).unwrap();
        assert_eq!(exact.rows[0].int("n").unwrap(), 1 << 53);
        let past = block_on(db.run(READ_BIG.bind(vec![Param::Int((1 << 53) + 1)]))).unwrap();
        assert_eq!(past.rows[0].int("n").unwrap(), 1 << 53);
    }

    #[test]
    fn d1_limits_on_parameters_are_enforced() {
        let db = Sqlite::migrated();
        let err = block_on(db.run(READ_BIG.bind(vec![Param::Null; 101]))).unwrap_err();
        assert!(err.message.contains("over D1's limit"), "{err}");
        let err = block_on(db.run(READ_BIG.bind(vec![]))).unwrap_err();
        assert!(
            err.message.contains("1 placeholders, 0 parameters"),
            "{err}"
        );
    }
}
