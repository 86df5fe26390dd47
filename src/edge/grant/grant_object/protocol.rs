//! The grant object's protocol: every command it takes, as one serde enum, and one client
//! with a method per command. No string path to the object exists outside this module.

use super::disconnect::{DisconnectAsk, EraseAsk};
use super::grant_visit::VisitAsk;
use super::grants::{CheckByAsk, ResealAsk, StoreGrant, TokenAsk};
use crate::core::common::ids::GrantId;
use crate::edge::common::bindings;
use crate::edge::oauth::meta_callbacks::EndedAsk;
use serde::{Deserialize, Serialize};
use worker::{Env, Method, Request, RequestInit, Response, Stub};

/// What the grant's object is asked to do: the request body, tagged by `command`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Store a consent's grant (connect, reconnect).
    Store(StoreGrant),
    /// Serve the access token, refreshing first if needed.
    AccessToken(TokenAsk),
    /// Seal the tokens again under the active data key.
    Reseal(ResealAsk),
    /// The sweep's visit, or a manual refresh.
    Visit(VisitAsk),
    /// Disconnect one connection.
    Disconnect(DisconnectAsk),
    /// Erasure: delete the grant's row (its connections are gone).
    Erase(EraseAsk),
    /// The pre-flight: check the grant by a post's slot.
    CheckBy(CheckByAsk),
    /// The platform ended the grant (Meta's deauthorize).
    PlatformEnded(EndedAsk),
    /// A test power's write to the grant.
    #[cfg(feature = "test-powers")]
    TestWrite(super::test_writes::TestWriteAsk),
    /// The kill-mid-call spike's refresh probe.
    #[cfg(feature = "test-powers")]
    SpikeRefresh(super::spike::RefreshProbe),
    /// The kill-mid-call spike's view of the object's storage.
    #[cfg(feature = "test-powers")]
    SpikeState,
}

/// The only URL the object is called on; what to do is in the body.
const URL: &str = "https://grant-object/";

/// A client for one grant's object (addressed by the grant's id).
pub struct GrantObjectClient<'a> {
    env: &'a Env,
    grant_id: &'a GrantId,
}

impl<'a> GrantObjectClient<'a> {
    pub fn new(env: &'a Env, grant_id: &'a GrantId) -> Self {
        Self { env, grant_id }
    }

    fn stub(&self) -> worker::Result<Stub> {
        self.env
            .durable_object(bindings::GRANT_OBJECTS)?
            .id_from_name(self.grant_id)?
            .get_stub()
    }

    async fn send(&self, command: &Command) -> worker::Result<Response> {
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(serde_json::to_string(command)?.into()));
        let request = Request::new_with_init(URL, &init)?;
        self.stub()?.fetch_with_request(request).await
    }

    pub async fn store(&self, input: StoreGrant) -> worker::Result<Response> {
        self.send(&Command::Store(input)).await
    }

    pub async fn access_token(&self, ask: TokenAsk) -> worker::Result<Response> {
        self.send(&Command::AccessToken(ask)).await
    }

    pub async fn reseal(&self, ask: ResealAsk) -> worker::Result<Response> {
        self.send(&Command::Reseal(ask)).await
    }

    pub async fn visit(&self, ask: VisitAsk) -> worker::Result<Response> {
        self.send(&Command::Visit(ask)).await
    }

    pub async fn disconnect(&self, ask: DisconnectAsk) -> worker::Result<Response> {
        self.send(&Command::Disconnect(ask)).await
    }

    pub async fn erase(&self, ask: EraseAsk) -> worker::Result<Response> {
        self.send(&Command::Erase(ask)).await
    }

    pub async fn check_by(&self, ask: CheckByAsk) -> worker::Result<Response> {
        self.send(&Command::CheckBy(ask)).await
    }

    pub async fn platform_ended(&self, ask: EndedAsk) -> worker::Result<Response> {
        self.send(&Command::PlatformEnded(ask)).await
    }

    #[cfg(feature = "test-powers")]
    pub async fn test_write(
        &self,
        ask: super::test_writes::TestWriteAsk,
    ) -> worker::Result<Response> {
        self.send(&Command::TestWrite(ask)).await
    }

    #[cfg(feature = "test-powers")]
    pub async fn spike_refresh(
        &self,
        probe: super::spike::RefreshProbe,
    ) -> worker::Result<Response> {
        self.send(&Command::SpikeRefresh(probe)).await
    }

    #[cfg(feature = "test-powers")]
    pub async fn spike_state(&self) -> worker::Result<Response> {
        self.send(&Command::SpikeState).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn commands_travel_tagged_and_come_back_whole() {
        let ask = VisitAsk {
            grant_id: "gr_1".into(),
            force: true,
            tenant_id: Some("ten_1".into()),
        };
        let text = serde_json::to_string(&Command::Visit(ask)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["command"], "visit");
        assert_eq!(value["grant_id"], "gr_1");
        match serde_json::from_str::<Command>(&text).unwrap() {
            Command::Visit(back) => {
                assert_eq!(back.grant_id, "gr_1");
                assert!(back.force);
                assert_eq!(back.tenant_id.as_deref(), Some("ten_1"));
            }
            _ => panic!("another command came back"),
        }
        assert!(serde_json::from_str::<Command>(r#"{"command":"erase_everything"}"#).is_err());
    }
}
