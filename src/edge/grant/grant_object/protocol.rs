//! The grant object's protocol: every command it takes, as one serde enum, and one client
//! with a method per command, and what each command carries. No string path to the object
//! exists outside this module, and it depends on none of the modules that carry a command out.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::tagged;
use crate::core::grant::grant_expiry::Lifetimes;
use crate::core::grant::grant_tokens::TokenSet;
use crate::edge::common::bindings;
use crate::edge::common::context::Context;
use serde::{Deserialize, Serialize};
use worker::{Method, Request, RequestInit, Response, Stub};

/// What the grant's object is asked to do: the request body, tagged by `command` (read by
/// `core::common::tagged`, written by serde's derive).
#[derive(Serialize)]
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
    /// The audit's buffered reads: flush them now, or drop an end user's.
    Audit(AuditAsk),
    /// The platform ended the grant (Meta's deauthorize).
    PlatformEnded(EndedAsk),
    /// A test power's write to the grant.
    #[cfg(feature = "test-powers")]
    TestWrite(TestWriteAsk),
    /// The kill-mid-call spike's refresh probe.
    #[cfg(feature = "test-powers")]
    SpikeRefresh(RefreshProbe),
    /// The kill-mid-call spike's view of the object's storage.
    #[cfg(feature = "test-powers")]
    SpikeState,
}

const COMMANDS: &[&str] = &[
    "store",
    "access_token",
    "reseal",
    "visit",
    "disconnect",
    "erase",
    "check_by",
    "audit",
    "platform_ended",
];

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer, "command", |t| {
            Ok(match t.tag.as_str() {
                "store" => Self::Store(t.fields()?),
                "access_token" => Self::AccessToken(t.fields()?),
                "reseal" => Self::Reseal(t.fields()?),
                "visit" => Self::Visit(t.fields()?),
                "disconnect" => Self::Disconnect(t.fields()?),
                "erase" => Self::Erase(t.fields()?),
                "check_by" => Self::CheckBy(t.fields()?),
                "audit" => Self::Audit(t.fields()?),
                "platform_ended" => Self::PlatformEnded(t.fields()?),
                #[cfg(feature = "test-powers")]
                "test_write" => Self::TestWrite(t.fields()?),
                #[cfg(feature = "test-powers")]
                "spike_refresh" => Self::SpikeRefresh(t.fields()?),
                #[cfg(feature = "test-powers")]
                "spike_state" => Self::SpikeState,
                _ => return t.unknown(COMMANDS),
            })
        })
    }
}

/// Everything a consent produced, sent to the grant's object to be stored.
#[derive(Serialize, Deserialize)]
pub struct StoreGrant {
    pub grant_id: GrantId,
    pub tenant_id: TenantId,
    pub provider: String,
    pub provider_account_id: String,
    pub client_id: String,
    pub end_user_ref: String,
    pub scopes: Option<String>,
    pub tokens: TokenSet,
    /// When the platform answered, and the lifetimes it gave: the access token's expiry and
    /// the ledger's date are computed from these once the refresh token to keep is known.
    pub issued_at: Timestamp,
    pub lifetimes: Lifetimes,
    /// The consenting account first, then the accounts it manages (LinkedIn pages).
    pub connections: Vec<NewConnection>,
    /// Set when a reconnect link started the consent: the grant must still be at the link's
    /// epoch and the nonce unused; the nonce is consumed by this store.
    #[serde(default)]
    pub reconnect: Option<ReconnectCheck>,
}

#[derive(Serialize, Deserialize)]
pub struct TokenAsk {
    pub grant_id: GrantId,
    pub tenant_id: TenantId,
    /// The caller needs the token to stay valid this long; a refresh happens first otherwise.
    pub min_valid_seconds: u32,
    /// Check the token with the platform first.
    #[serde(default)]
    pub validate: bool,
    /// The connection's account at the platform: where it has a token of its own (a Facebook
    /// Page), that token is served.
    #[serde(default)]
    pub account: Option<String>,
    /// The connection asked for: the object serves it only while it is live and may act.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// A read through the API: the object records it in the audit it buffers
    /// (`audit_buffer`), whatever the answer.
    #[serde(default)]
    pub audit: Option<AuditOf>,
}

/// Who read a token through the API, and when (ms), for the audit.
#[derive(Serialize, Deserialize)]
pub struct AuditOf {
    pub api_key_id: String,
    pub at: i64,
}

/// What is asked of the reads the object has buffered for the audit (tagged by `do`, inside
/// the command's object).
#[derive(Serialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum AuditAsk {
    /// Write them all to D1 now (before an end user's export reads `token_reads`).
    Flush,
    /// Drop those of these connections unwritten (an end user's erasure, before it deletes
    /// their `token_reads`); a flush under way finishes first.
    Discard { connection_ids: Vec<String> },
}

impl<'de> Deserialize<'de> for AuditAsk {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer, "do", |mut t| {
            Ok(match t.tag.as_str() {
                "flush" => Self::Flush,
                "discard" => Self::Discard {
                    connection_ids: t.field("connection_ids")?,
                },
                _ => return t.unknown(&["flush", "discard"]),
            })
        })
    }
}

/// The pre-flight: check the grant by `by` (ms) at the latest.
#[derive(Serialize, Deserialize)]
pub struct CheckByAsk {
    pub grant_id: GrantId,
    pub by: i64,
}

/// What the re-encryption sweep asks a grant's object.
#[derive(Serialize, Deserialize)]
pub struct ResealAsk {
    pub grant_id: GrantId,
}

/// What the object is asked to do.
#[derive(Serialize, Deserialize)]
pub struct VisitAsk {
    pub grant_id: GrantId,
    /// Refresh now whatever the schedule says (the manual refresh route). Set only by tenant
    /// routes, which check the tenant first.
    #[serde(default)]
    pub force: bool,
    /// The tenant the caller is acting for, when it is a tenant (checked against the grant).
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
}

#[derive(Serialize, Deserialize)]
pub struct DisconnectAsk {
    pub grant_id: GrantId,
    pub tenant_id: TenantId,
    pub connection_id: String,
}

/// What erasure asks a grant's object: delete the grant's row (its connections are gone).
#[derive(Serialize, Deserialize)]
pub struct EraseAsk {
    pub grant_id: GrantId,
}

/// What the object is told: the platform ended the grant, and why.
#[derive(Serialize, Deserialize)]
pub struct EndedAsk {
    pub grant_id: GrantId,
    pub reason: String,
}

#[cfg(feature = "test-powers")]
/// What a test power writes.
#[derive(Serialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum TestWrite {
    /// Another grant's sealed tokens over this grant's, its version left alone.
    CopyTokens { from_grant: GrantId },
    /// A dead grant alive again.
    Revive,
}

#[cfg(feature = "test-powers")]
impl<'de> Deserialize<'de> for TestWrite {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer, "write", |mut t| {
            Ok(match t.tag.as_str() {
                "copy_tokens" => Self::CopyTokens {
                    from_grant: t.field("from_grant")?,
                },
                "revive" => Self::Revive,
                _ => return t.unknown(&["copy_tokens", "revive"]),
            })
        })
    }
}

#[cfg(feature = "test-powers")]
#[derive(Serialize, Deserialize)]
pub struct TestWriteAsk {
    pub grant_id: GrantId,
    pub write: TestWrite,
}

#[cfg(feature = "test-powers")]
#[derive(Serialize, Deserialize)]
pub struct RefreshProbe {
    pub grant_id: GrantId,
    pub refresh_token: String,
}

#[derive(Serialize, Deserialize)]
pub struct ReconnectCheck {
    pub epoch: i64,
    pub nonce: String,
}

/// What the object did with a consent (tagged by `outcome`).
#[derive(Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StoreOutcome {
    Stored(Stored),
    /// Reconnect refused: the grant moved on since the link was made.
    LinkStale,
    /// Reconnect refused: the link's nonce was consumed already.
    LinkUsed,
    /// Reconnect refused: the consent is for another account.
    WrongAccount,
}

impl<'de> Deserialize<'de> for StoreOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer, "outcome", |t| {
            Ok(match t.tag.as_str() {
                "stored" => Self::Stored(t.fields()?),
                "link_stale" => Self::LinkStale,
                "link_used" => Self::LinkUsed,
                "wrong_account" => Self::WrongAccount,
                _ => return t.unknown(&["stored", "link_stale", "link_used", "wrong_account"]),
            })
        })
    }
}

#[derive(Serialize, Deserialize)]
pub struct NewConnection {
    pub kind: String,
    pub external_id: String,
    pub display_name: Option<String>,
    pub username: Option<String>,
}

/// What storing produced.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    pub grant_id: GrantId,
    /// The consenting account's connection.
    pub connection_id: String,
    /// Every connection the consent stored, that one first.
    pub connection_ids: Vec<String>,
    pub version: i64,
}

/// The only URL the object is called on; what to do is in the body.
const URL: &str = "https://grant-object/";

/// A client for one grant's object (addressed by the grant's id).
pub struct GrantObjectClient<'a> {
    cx: &'a Context,
    grant_id: &'a GrantId,
}

impl<'a> GrantObjectClient<'a> {
    pub fn new(cx: &'a Context, grant_id: &'a GrantId) -> Self {
        Self { cx, grant_id }
    }

    fn stub(&self) -> worker::Result<Stub> {
        self.cx
            .env()
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

    pub async fn audit(&self, ask: AuditAsk) -> worker::Result<Response> {
        self.send(&Command::Audit(ask)).await
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
    pub async fn test_write(&self, ask: TestWriteAsk) -> worker::Result<Response> {
        self.send(&Command::TestWrite(ask)).await
    }

    #[cfg(feature = "test-powers")]
    pub async fn spike_refresh(&self, probe: RefreshProbe) -> worker::Result<Response> {
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

    /// Serde's derive writes the tagged enums and `core::common::tagged` reads them: every
    /// variant written comes back as itself, written again the same.
    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(value: &T) -> serde_json::Value {
        let written = serde_json::to_value(value).unwrap();
        let back: T = serde_json::from_str(&written.to_string()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), written);
        written
    }

    #[test]
    fn every_tagged_variant_reads_back_as_it_was_written() {
        let grant_id = || GrantId::from("gr_1");
        let commands = [
            Command::AccessToken(TokenAsk {
                grant_id: grant_id(),
                tenant_id: "ten_1".into(),
                min_valid_seconds: 60,
                validate: true,
                account: Some("acct".into()),
                connection_id: Some("con_1".into()),
                audit: Some(AuditOf {
                    api_key_id: "key_1".into(),
                    at: 7,
                }),
            }),
            Command::Reseal(ResealAsk {
                grant_id: grant_id(),
            }),
            Command::Disconnect(DisconnectAsk {
                grant_id: grant_id(),
                tenant_id: "ten_1".into(),
                connection_id: "con_1".into(),
            }),
            Command::Erase(EraseAsk {
                grant_id: grant_id(),
            }),
            Command::CheckBy(CheckByAsk {
                grant_id: grant_id(),
                by: 9,
            }),
            Command::Audit(AuditAsk::Flush),
            Command::Audit(AuditAsk::Discard {
                connection_ids: vec!["con_1".into(), "con_2".into()],
            }),
            Command::PlatformEnded(EndedAsk {
                grant_id: grant_id(),
                reason: "deauthorized".into(),
            }),
        ];
        let tags: Vec<_> = commands
            .iter()
            .map(|c| round_trip(c)["command"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            tags,
            [
                "access_token",
                "reseal",
                "disconnect",
                "erase",
                "check_by",
                "audit",
                "audit",
                "platform_ended"
            ]
        );
        let discard = round_trip(&Command::Audit(AuditAsk::Discard {
            connection_ids: vec!["con_1".into()],
        }));
        assert_eq!(discard["do"], "discard");
        assert_eq!(discard["connection_ids"][0], "con_1");

        let stored = round_trip(&StoreOutcome::Stored(Stored {
            grant_id: grant_id(),
            connection_id: "con_1".into(),
            connection_ids: vec!["con_1".into()],
            version: 3,
        }));
        assert_eq!(stored["outcome"], "stored");
        assert_eq!(stored["version"], 3);
        for (outcome, tag) in [
            (StoreOutcome::LinkStale, "link_stale"),
            (StoreOutcome::LinkUsed, "link_used"),
            (StoreOutcome::WrongAccount, "wrong_account"),
        ] {
            assert_eq!(round_trip(&outcome), serde_json::json!({ "outcome": tag }));
        }
        // A field the variant needs, missing, is refused, as serde's derive refuses it.
        assert!(serde_json::from_str::<Command>(r#"{"command":"erase"}"#).is_err());
        assert!(serde_json::from_str::<Command>(r#"{"command":"audit","do":"discard"}"#).is_err());
        assert!(serde_json::from_str::<StoreOutcome>(r#"{"outcome":"gone"}"#).is_err());
    }
}
