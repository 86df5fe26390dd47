//! Test builds only: the test powers' writes to a grant, made by its object (the grant's only
//! writer), which forgets what it remembers of the grant.

use super::writes::test_powers::{copy_tokens, revive};
use crate::core::common::ids::GrantId;
use crate::edge::common::bindings;
use crate::edge::grant::grant_object::grants::Memory;
use crate::edge::http::respond::{self, Handled};
use crate::store::Db;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::Env;

/// What a test power writes.
#[derive(Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum TestWrite {
    /// Another grant's sealed tokens over this grant's, its version left alone.
    CopyTokens { from_grant: GrantId },
    /// A dead grant alive again.
    Revive,
}

#[derive(Serialize, Deserialize)]
pub struct TestWriteAsk {
    pub grant_id: GrantId,
    pub write: TestWrite,
}

/// Inside the object: the write, then `{"changed": bool}`.
pub async fn write_in_object(
    env: &Env,
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
    let changed = bindings::db(env)?.write(statement).await?;
    Ok(respond::json(200, &json!({ "changed": changed == 1 }))?)
}
