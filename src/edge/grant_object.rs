//! The grant's Durable Object: one per grant, and the grant's only writer.
//!
//! Every write to a grant (refreshes, the connect and reconnect callbacks, disconnect) goes
//! through its object, so refreshes never race, even when refresh tokens rotate. The object is
//! addressed by name (`id_from_name(grant_id)`). Its operations: `grants` (store a consent,
//! read the access token, reseal under the active data key), `grant_visit` (the sweep's visit, a manual refresh); test builds
//! add the kill-mid-call spike's probe. Every operation takes its turn through `turns`, so
//! one write at a time happens to the grant, even across awaits.

// What runs inside the object, and the writes only it may make.
pub(super) mod disconnect;
pub(super) mod grant_visit;
pub(super) mod grants;
pub(super) mod refresh;
#[path = "../store/grant_writes.rs"]
mod writes;

use super::respond;
use crate::core::api_error::ApiError;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct GrantObject {
    state: State,
    env: Env,
    /// Callers take turns through this, so one refresh serves them all and no two writes to
    /// the grant interleave.
    turns: futures_util::lock::Mutex<()>,
    /// The grant and its opened tokens between calls; every write forgets it.
    memory: super::grants::Memory,
}

impl DurableObject for GrantObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            turns: futures_util::lock::Mutex::new(()),
            memory: super::grants::Memory::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        match path.as_str() {
            "/store" => respond::answer(
                super::grants::store_in_object(&self.env, &self.turns, &self.memory, req).await,
                "grant.store_failed",
            ),
            "/disconnect" => respond::answer(
                super::disconnect::disconnect_in_object(&self.env, &self.turns, &self.memory, req)
                    .await,
                "grant.disconnect_failed",
            ),
            "/visit" => respond::answer(
                super::grant_visit::visit_in_object(
                    &self.env,
                    &self.state,
                    &self.turns,
                    &self.memory,
                    req,
                )
                .await,
                "grant.visit_failed",
            ),
            "/platform-ended" => respond::answer(
                super::meta_callbacks::ended_in_object(&self.env, &self.turns, &self.memory, req)
                    .await,
                "grant.platform_ended_failed",
            ),
            "/access-token" => respond::answer(
                super::grants::access_token_in_object(
                    &self.env,
                    &self.state,
                    &self.turns,
                    &self.memory,
                    req,
                )
                .await,
                "grant.token_read_failed",
            ),
            "/reseal" => respond::answer(
                super::grants::reseal_in_object(&self.env, &self.turns, &self.memory, req).await,
                "grant.reseal_failed",
            ),
            #[cfg(feature = "bench")]
            p if p == super::bench::OBJECT_PATH => super::bench::read_in_object(&self.state).await,
            // Test powers that write the grant's row directly make the object forget it.
            #[cfg(feature = "test-powers")]
            "/forget" => {
                let _turn = self.turns.lock().await;
                self.memory.forget();
                respond::json(200, &serde_json::json!({ "forgot": true }))
            }
            #[cfg(feature = "test-powers")]
            "/spike/refresh" => respond::answer(
                super::spike::refresh_in_object(&self.state, &self.env, req).await,
                "spike.refresh_failed",
            ),
            #[cfg(feature = "test-powers")]
            "/spike/state" => respond::answer(
                super::spike::object_state(&self.state).await,
                "spike.state_failed",
            ),
            _ => respond::error(&ApiError::not_found(&path)),
        }
    }
}
