//! D1 as the store's database, in the worker: the one place that prepares, binds and runs SQL
//! on D1 (`prepare`, `batch`). Every statement it runs is one of the store's; the native tests
//! run the same statements through `store::sqlite`.

use super::{Db, Outcome, Param, Row, Statement, StoreError};
use serde_json::{Map, Value};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// How many rows a write changed (0 when D1 does not say).
fn changes(result: &D1Result) -> usize {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0)
}

fn bind_value(param: &Param) -> JsValue {
    match param {
        Param::Null => JsValue::NULL,
        // JS numbers are f64, exact up to 2^53: ample for times in milliseconds and counts.
        Param::Int(i) => JsValue::from_f64(*i as f64),
        Param::Text(t) => JsValue::from_str(t),
    }
}

fn prepare(db: &D1Database, statement: &Statement) -> worker::Result<D1PreparedStatement> {
    let params: Vec<JsValue> = statement.params.iter().map(bind_value).collect();
    db.prepare(statement.sql.text).bind(&params)
}

fn outcome(result: &D1Result) -> worker::Result<Outcome> {
    let rows: Vec<Map<String, Value>> = result.results()?;
    Ok(Outcome {
        rows: rows.into_iter().map(Row).collect(),
        changes: changes(result),
    })
}

fn failed(statement: &'static str) -> impl Fn(worker::Error) -> StoreError {
    move |e| StoreError {
        statement,
        message: e.to_string(),
    }
}

impl Db for D1Database {
    async fn run(&self, statement: Statement) -> Result<Outcome, StoreError> {
        let name = statement.sql.name;
        let prepared = prepare(self, &statement).map_err(failed(name))?;
        let result = prepared.all().await.map_err(failed(name))?;
        outcome(&result).map_err(failed(name))
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Outcome>, StoreError> {
        let prepared = statements
            .iter()
            .map(|s| prepare(self, s).map_err(failed(s.sql.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let results = D1Database::batch(self, prepared)
            .await
            .map_err(failed("batch"))?;
        results
            .iter()
            .map(|r| outcome(r).map_err(failed("batch")))
            .collect()
    }
}

impl From<StoreError> for worker::Error {
    fn from(e: StoreError) -> Self {
        worker::Error::RustError(e.to_string())
    }
}
