//! The grant as its object holds it: the stored row ([`CurrentGrant`]), what the object
//! remembers between calls ([`Memory`]), and the readings every command shares: the tokens
//! opened, the provider's spec, the error for a dead grant.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::crypto::{Binding, Sealed};
use crate::core::grant::grant_health::{Status, StoredLedger};
use crate::core::grant::grant_tokens::{TokenSet, SEAL_PURPOSE};
use crate::core::grant::refresh_failure::DeadReason;
use crate::core::grant::refresh_schedule::GrantTimes;
use crate::core::grant::scheduled_check::CheckSlot;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::oauth::catalogue::{Catalogue, ProviderSpec};
use crate::core::oauth::managed_accounts::Access;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::http::respond::Handled;
use serde::Deserialize;

/// What the grant's object remembers between calls: the row, its opened tokens and its live
/// connections.
pub struct Remembered {
    pub(crate) grant: CurrentGrant,
    /// `None` for a dead grant: nothing is served from it, so its tokens stay sealed.
    pub(crate) tokens: Option<TokenSet>,
    /// The grant's connections that are not disconnected. Every write to them goes through
    /// this object (disconnect, a consent, a role change found by a validation), and every
    /// write forgets the memory, so this stays true between writes.
    pub(crate) connections: Vec<LiveConnection>,
}

/// A connection of the grant that is not disconnected, and whether it may still act.
#[derive(Deserialize)]
pub(crate) struct LiveConnection {
    pub(crate) id: String,
    pub(crate) access: String,
    pub(crate) access_reason: Option<String>,
}

impl Remembered {
    /// Refuses connection `id` unless it is live and may act: `not_found` for one that is not
    /// (or no longer) the grant's, `connection_dead` for a page whose role was lost (the grant
    /// works, but not for this account).
    pub(crate) fn check_connection(&self, id: &str) -> std::result::Result<(), ApiError> {
        match self.connections.iter().find(|c| c.id == id) {
            None => Err(ApiError::new(
                ErrorCode::NotFound,
                format!("No connection {id}."),
            )),
            Some(c) if c.access == Access::Lost.as_str() => Err(ApiError::new(
                ErrorCode::ConnectionDead,
                c.access_reason.clone().unwrap_or_else(|| {
                    "The account no longer has a role on this page. Reconnect it.".to_owned()
                }),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// The object's memory of its grant. Safe because the object is the grant's only writer:
/// every write path forgets it first, so a read after a write loads the grant again. (Test
/// powers that write D1 directly ask the object to forget too.)
///
/// It also counts the refreshes this instance attempted, so a reader that waited for its turn
/// can tell that a refresh happened meanwhile and use that refresh's outcome instead of
/// refreshing again.
#[derive(Default)]
pub struct Memory {
    remembered: std::cell::RefCell<Option<std::rc::Rc<Remembered>>>,
    refreshes: std::cell::Cell<u64>,
}

impl Memory {
    pub fn forget(&self) {
        self.remembered.borrow_mut().take();
    }

    pub(crate) fn take(&self) -> Option<std::rc::Rc<Remembered>> {
        self.remembered.borrow_mut().take()
    }

    pub(crate) fn keep(&self, remembered: std::rc::Rc<Remembered>) {
        *self.remembered.borrow_mut() = Some(remembered);
    }

    /// Refreshes attempted so far by this instance.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.get()
    }

    /// Counts a refresh attempt, whatever its outcome.
    pub fn note_refresh(&self) {
        self.refreshes.set(self.refreshes.get() + 1);
    }
}

/// A grant as stored.
pub(in crate::edge) type CurrentGrant = crate::store::grants::Grant;

impl CurrentGrant {
    fn stored(&self) -> StoredLedger<'_> {
        StoredLedger {
            state: &self.state,
            state_reason: self.state_reason.as_deref(),
            refresh_state: &self.refresh_state,
            grant_expires_at: self.grant_expires_at,
            failure_streak: self.failure_streak as u32,
            next_check_at: self.next_check_at,
        }
    }

    /// The grant's standing as last written (what its events already told).
    pub fn written_status(&self, now: Timestamp) -> Status {
        Status::as_written(&self.stored(), now)
    }

    /// What the schedule is computed from, with `access_expires_at`, `last_refresh_at` and
    /// the ledger's date as they will be after the write at hand. `refreshable`: the grant
    /// holds a refresh token.
    pub fn times(
        &self,
        access_expires_at: Option<Timestamp>,
        last_refresh_at: Timestamp,
        refreshable: bool,
    ) -> GrantTimes {
        GrantTimes {
            access_expires_at,
            grant_expires_at: self.grant_expires_at,
            last_refresh_at,
            last_validated_at: self.last_validated_at,
            retry_at: None,
            dead: false,
            refreshable,
            next_post_at: self.next_post_at,
            check_slot: CheckSlot::of_seq(self.check_seq as u64),
        }
    }

    /// The last successful refresh, or the connect.
    pub fn refreshed_at(&self) -> Timestamp {
        self.last_refresh_at.unwrap_or(self.created_at)
    }

    pub fn access_expires(&self) -> Option<Timestamp> {
        self.access_expires_at
    }
}

pub(in crate::edge) async fn current(
    db: &worker::D1Database,
    grant_id: &GrantId,
) -> Result<Option<CurrentGrant>, crate::store::StoreError> {
    crate::store::grants::current(db, grant_id).await
}

pub(in crate::edge) fn binding<'a>(
    tenant_id: &'a TenantId,
    grant_id: &'a GrantId,
    version: i64,
) -> Binding<'a> {
    Binding {
        purpose: SEAL_PURPOSE,
        tenant_id,
        row_id: grant_id,
        version,
    }
}

/// The grant's tokens, opened; an unreadable ciphertext is logged and answered as internal.
pub(in crate::edge) fn open_tokens(cx: &Context, grant: &CurrentGrant) -> Handled<TokenSet> {
    let gone = || ApiError::new(ErrorCode::NotFound, "The connection has no stored grant.");
    let (Some(blob), Some(key_id)) = (&grant.token_ciphertext, &grant.key_id) else {
        return Err(gone().into());
    };
    let opened = cx.keyring()?.open(
        &Sealed::new(key_id, blob.clone()),
        binding(&grant.tenant_id, &grant.id, grant.version),
    );
    match opened.map(|bytes| TokenSet::from_bytes(&bytes)) {
        Ok(Ok(tokens)) => Ok(tokens),
        failed => {
            let why = match failed {
                Err(e) => e.to_string(),
                _ => "the opened tokens are not a token set".to_owned(),
            };
            logging::emit(
                &LogLine::error("grant.unreadable", clock::real_now())
                    .field("grant_id", grant.id.as_str())
                    .field("key_id", key_id.as_str())
                    .field("error", why),
            );
            Err(ApiError::internal().into())
        }
    }
}

/// The grant's catalogue entry, or `provider_not_configured`.
pub(in crate::edge) fn spec_of<'c>(
    catalogue: &'c Catalogue,
    grant: &CurrentGrant,
) -> std::result::Result<std::borrow::Cow<'c, ProviderSpec>, ApiError> {
    catalogue.resolve(&grant.provider).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ProviderNotConfigured,
            format!(
                "The provider {:?} is no longer in the catalogue.",
                grant.provider
            ),
        )
    })
}

/// The error for a grant the platform just ended, with the reason for people.
pub(in crate::edge) fn dead_verdict(reason: DeadReason) -> ApiError {
    ApiError::new(ErrorCode::ConnectionDead, reason.message())
}

/// The error for a dead grant, with its reason for people.
pub(in crate::edge) fn dead_error(grant: &CurrentGrant) -> ApiError {
    let message = grant.last_error.clone().unwrap_or_else(|| {
        format!(
            "The platform ended this connection ({}). Reconnect the account.",
            grant
                .state_reason
                .as_deref()
                .unwrap_or("revoked_or_expired")
        )
    });
    ApiError::new(ErrorCode::ConnectionDead, message)
}
