//! Test builds only: the test powers' writes to a grant, made by its object (the grant's only
//! writer), which forgets what it remembers of the grant.

use super::writes::test_powers::{copy_tokens, revive};
use crate::edge::common::context::Context;
use crate::edge::grant::grant_object::current::Memory;
use crate::edge::grant::grant_object::protocol::{TestWrite, TestWriteAsk};
use crate::edge::http::respond::{self, Handled};
use crate::store::Db;
use serde_json::json;

/// Inside the object: the write, then `{"changed": bool}`.
pub async fn write_in_object(
    cx: &Context,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: TestWriteAsk,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let statement = match &ask.write {
        TestWrite::CopyTokens { from_grant } => copy_tokens(&ask.grant_id, from_grant),
        TestWrite::Revive => revive(&ask.grant_id),
    };
    let changed = cx.db()?.write(statement).await?;
    Ok(respond::json(200, &json!({ "changed": changed == 1 }))?)
}
