//! The grant's Durable Object: one per grant, and the grant's only writer.
//!
//! Every write to a grant (refreshes, the connect and reconnect callbacks, disconnect) goes
//! through its object, so refreshes never race, even when refresh tokens rotate. The object is
//! addressed by name (`id_from_name(grant_id)`) and takes the commands of `protocol`, through
//! its client: `grants` (store a consent, read the access token, reseal under the active data
//! key), `grant_visit` (the sweep's visit, a manual refresh), `disconnect`, the platform's end;
//! test builds add the kill-mid-call spike's probe. Every operation takes its turn through `turns`, so
//! one write at a time happens to the grant, even across awaits.

// What runs inside the object, and the writes only it may make.
pub(crate) mod audit_buffer;
pub(crate) mod current;
pub(crate) mod disconnect;
pub(crate) mod grant_visit;
pub(crate) mod grants;
pub(crate) mod protocol;
pub(crate) mod refresh;
#[cfg(feature = "test-powers")]
pub(crate) mod spike;
#[cfg(feature = "test-powers")]
pub(crate) mod test_writes;
#[path = "../../store/grant_writes.rs"]
mod writes;

use crate::edge::common::context::Context;
use crate::edge::http::respond;
use protocol::{AuditAsk, Command};
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct GrantObject {
    state: State,
    cx: Context,
    /// Callers take turns through this, so one refresh serves them all and no two writes to
    /// the grant interleave.
    turns: futures_util::lock::Mutex<()>,
    /// The grant and its opened tokens between calls; every write forgets it.
    memory: crate::edge::grant::grant_object::current::Memory,
    /// The token reads' audit, buffered in the object's storage until its alarm.
    audit: audit_buffer::AuditBuffer,
}

impl DurableObject for GrantObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            cx: Context::new(env),
            turns: futures_util::lock::Mutex::new(()),
            memory: crate::edge::grant::grant_object::current::Memory::default(),
            audit: audit_buffer::AuditBuffer::default(),
        }
    }

    /// The audit buffer's flush (the only alarm the object sets).
    async fn alarm(&self) -> Result<Response> {
        self.audit.on_alarm(&self.cx, &self.state).await?;
        Response::empty()
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        #[cfg(feature = "bench")]
        if req.path() == crate::edge::bench::OBJECT_PATH {
            return crate::edge::bench::read_in_object(&self.state).await;
        }
        let command: Command = match respond::read_own_json(&mut req).await {
            Ok(command) => command,
            Err(refused) => return respond::error(&refused),
        };
        let (cx, state, turns, memory) = (&self.cx, &self.state, &self.turns, &self.memory);
        match command {
            Command::Store(input) => respond::answer(
                grants::store_in_object(cx, turns, memory, input).await,
                "grant.store_failed",
            ),
            Command::Disconnect(ask) => respond::answer(
                disconnect::disconnect_in_object(cx, turns, memory, ask).await,
                "grant.disconnect_failed",
            ),
            Command::Erase(ask) => respond::answer(
                disconnect::erase_in_object(cx, turns, memory, ask).await,
                "grant.erase_failed",
            ),
            Command::CheckBy(ask) => respond::answer(
                grants::check_by_in_object(cx, turns, memory, ask).await,
                "grant.check_by_failed",
            ),
            Command::Visit(ask) => respond::answer(
                grant_visit::visit_in_object(cx, state, turns, memory, ask).await,
                "grant.visit_failed",
            ),
            Command::PlatformEnded(ask) => respond::answer(
                crate::edge::oauth::meta_callbacks::ended_in_object(cx, turns, memory, ask).await,
                "grant.platform_ended_failed",
            ),
            Command::AccessToken(mut ask) => {
                let audit = ask.audit.take();
                let served = grants::access_token_in_object(cx, state, turns, memory, &ask).await;
                if let Some(audit) = audit {
                    let outcome = audit_buffer::outcome_of(&served);
                    audit_buffer::record(cx, state, &self.audit, &ask, audit, outcome).await;
                }
                respond::answer(served, "grant.token_read_failed")
            }
            Command::Audit(ask) => respond::answer(
                audit_in_object(cx, state, &self.audit, ask).await,
                "grant.audit_failed",
            ),
            Command::Reseal(ask) => respond::answer(
                grants::reseal_in_object(cx, turns, memory, ask).await,
                "grant.reseal_failed",
            ),
            #[cfg(feature = "test-powers")]
            Command::TestWrite(ask) => respond::answer(
                test_writes::write_in_object(cx, turns, memory, ask).await,
                "grant.test_write_failed",
            ),
            #[cfg(feature = "test-powers")]
            Command::SpikeRefresh(probe) => respond::answer(
                spike::refresh_in_object(state, cx, probe).await,
                "spike.refresh_failed",
            ),
            #[cfg(feature = "test-powers")]
            Command::SpikeState => {
                respond::answer(spike::object_state(state).await, "spike.state_failed")
            }
        }
    }
}

/// `Audit`: flushes the buffered reads now, or drops some connections' unwritten.
async fn audit_in_object(
    cx: &Context,
    state: &State,
    buffer: &audit_buffer::AuditBuffer,
    ask: AuditAsk,
) -> respond::Handled {
    Ok(match ask {
        AuditAsk::Flush => {
            respond::json(200, &json!({ "flushed": buffer.flush(cx, state).await? }))?
        }
        AuditAsk::Discard { connection_ids } => respond::json(
            200,
            &json!({ "discarded": buffer.discard(state, &connection_ids).await? }),
        )?,
    })
}
