//! A page's role at the platform, checked against the grant's connections after a
//! validation: a page missing from the platform's list turns red on its own
//! (`connections.access` is `Access::Lost`) with a `connection.access_lost` event for that connection
//! only; one that comes back is usable again (`connection.access_restored`). The decision is
//! the core's (`managed_accounts::access_changes`); this writes it, inside the grant's object.

use crate::core::grant::grant_events;
use crate::core::grant::grant_health::Status;
use crate::core::oauth::managed_accounts::{self, Access, AccessChange, StoredConnection};
use crate::edge::grant::grant_object::refresh::Change;
use crate::edge::http::respond::Handled;
use crate::edge::webhooks::events::{self, Written};
use crate::store::{self, Db};
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    id: String,
    kind: String,
    external_id: String,
    access: String,
}

/// Applies the platform's current list of managed account ids to the grant's connections;
/// `status`: the grant's standing as the validation just wrote it (the events are guarded on it).
pub async fn apply(change: &Change<'_>, status: Status, managed: &[String]) -> Handled<()> {
    let Change {
        cx, db, spec, now, ..
    } = *change;
    if spec.managed_accounts.is_none() {
        return Ok(());
    }
    let rows: Vec<Row> = db
        .all(store::connections::live_of_grant(&change.grant.id))
        .await?;
    let stored: Vec<StoredConnection> = rows
        .into_iter()
        .map(|r| StoredConnection {
            id: r.id,
            kind: r.kind,
            external_id: r.external_id,
            access: r.access,
        })
        .collect();
    let changes = managed_accounts::access_changes(spec, &stored, managed);
    if changes.is_empty() {
        return Ok(());
    }
    let grant = change.grant;
    let written = Written {
        grant_id: &grant.id,
        version: grant.version,
        state: crate::edge::grant::grant_object::refresh::state_columns(status.grant).0,
        refresh_state: status.refresh.as_str(),
    };
    let why = managed_accounts::lost_message(spec);
    let changed: Vec<(&String, bool, grant_events::Transition)> = changes
        .iter()
        .map(|c| {
            let (connection_id, lost) = match c {
                AccessChange::Lost { connection_id } => (connection_id, true),
                AccessChange::Restored { connection_id } => (connection_id, false),
            };
            let event = grant_events::access_changed(status, lost, &why, now.as_millis());
            (connection_id, lost, event)
        })
        .collect();
    let mut batch = Vec::new();
    let mut recorded = events::Recorded::default();
    for (connection_id, lost, event) in &changed {
        let (connection_id, lost) = (*connection_id, *lost);
        let (access, was, reason) = if lost {
            (Access::Lost, Access::Ok, Some(why.as_str()))
        } else {
            (Access::Ok, Access::Lost, None)
        };
        batch.push(store::connections::set_access(
            connection_id,
            access,
            was,
            reason,
            now,
        ));
        recorded.push(&mut batch, &written, event, Some(connection_id), now);
    }
    let results = Db::batch(db, batch).await?;
    recorded.log(&results, &grant.id, now);
    crate::edge::webhooks::outbox::hand_off(cx, db, &grant.id, now).await;
    Ok(())
}
