//! A tenant's connections as read for people and programs: each with its grant's standing,
//! its health derived by the core, and its last events. The tenant API's connection routes and
//! the connections page both read them here.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::grant::expiry_warnings::Warnings;
use crate::core::grant::grant_health::{Health, Status, StoredLedger};
use crate::core::oauth::managed_accounts::Access;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::{self, json as at};
use crate::edge::http::respond::Handled;
use crate::edge::http::respond::Internal;
use crate::edge::tenancy::caller::Caller;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1Database;

#[derive(Deserialize)]
pub(crate) struct ConnectionRow {
    pub id: String,
    pub(crate) grant_id: GrantId,
    pub provider: String,
    pub(crate) end_user_ref: String,
    pub(crate) kind: String,
    pub external_id: String,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub(crate) access: String,
    pub(crate) access_reason: Option<String>,
    pub(crate) grant_state: String,
    pub(crate) state_reason: Option<String>,
    pub(crate) refresh_state: String,
    pub(crate) failure_streak: f64,
    pub(crate) next_check_at: Option<f64>,
    pub last_refresh_at: Option<f64>,
    pub last_validated_at: Option<f64>,
    pub(crate) last_error: Option<String>,
    pub access_expires_at: Option<f64>,
    pub grant_expires_at: Option<f64>,
    pub(crate) created_at: f64,
}

/// The events one page of a connection's history answers unless `?limit=` says otherwise
/// (what the history answered before it had pages), and the most it may ask for.
pub(crate) const EVENTS_SHOWN: u32 = 1_000;

impl ConnectionRow {
    pub(crate) fn health(&self, warnings: Warnings, now: Timestamp) -> Health {
        let status = Status::of(
            &StoredLedger {
                state: &self.grant_state,
                state_reason: self.state_reason.as_deref(),
                refresh_state: &self.refresh_state,
                grant_expires_at: self.grant_expires_at.map(d1_time::read),
                failure_streak: self.failure_streak as u32,
                next_check_at: self.next_check_at.map(d1_time::read),
            },
            warnings,
            now,
        );
        status.connection_health(
            self.access != Access::Ok.as_str(),
            self.access_reason.as_deref(),
        )
    }

    pub(crate) fn to_json(&self, health: &Health) -> Value {
        json!({
            "id": self.id,
            "grant_id": self.grant_id,
            "provider": self.provider,
            "end_user_ref": self.end_user_ref,
            "account": {
                "kind": self.kind,
                "id": self.external_id,
                "name": self.display_name,
                "username": self.username,
            },
            "health": {
                "colour": health.colour.as_str(),
                "reason": health.reason,
                "message": health.message,
            },
            "access": self.access,
            "grant_state": self.grant_state,
            "refresh_state": self.refresh_state,
            "access_expires_at": at(self.access_expires_at),
            "grant_expires_at": at(self.grant_expires_at),
            "last_refresh_at": at(self.last_refresh_at),
            "last_validated_at": at(self.last_validated_at),
            "next_check_at": at(self.next_check_at),
            "last_error": self.last_error,
            "created_at": at(Some(self.created_at)),
        })
    }
}

/// One end user's live connections, oldest first, each with its health at `now` (the
/// connections page; the API's list pages and filters in SQL, `store::connections::page`).
pub(crate) async fn connections_of(
    cx: &Context,
    db: &D1Database,
    tenant_id: &TenantId,
    end_user: &str,
    now: Timestamp,
) -> worker::Result<Vec<(ConnectionRow, Health)>> {
    let rows: Vec<ConnectionRow> = db
        .all(store::connections::list_for_end_user(tenant_id, end_user))
        .await?;
    let warn = cx.settings().warnings;
    Ok(rows
        .into_iter()
        .map(|row| {
            let health = row.health(warn, now);
            (row, health)
        })
        .collect())
}

/// The grant of the caller's live (not disconnected) connection `id`, if there is one.
pub(crate) async fn live_grant_of(
    db: &D1Database,
    caller: &Caller,
    id: &str,
) -> Handled<Option<GrantId>> {
    let row = db
        .run(store::connections::live_grant(id, &caller.tenant_id))
        .await?;
    row.first()
        .map(|r| r.text("grant_id").map(GrantId::from))
        .transpose()
        .map_err(|e| Internal::Row(e).into())
}
