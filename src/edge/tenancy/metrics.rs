//! `GET /admin/metrics` (operator): what someone running Evergreen watches, read from D1 when
//! asked. Nothing is counted on the hot paths; each figure is a query over what is stored:
//!
//! - **per platform**: grants by standing (working, refresh failing, dead, and disconnected:
//!   tokens deleted, so neither working nor dead), and how many were refreshed (or newly
//!   connected: a consent sets the same time), failed, and were checked (proved alive with the
//!   platform by the identity call or a refresh: the scheduled check's work) in the last 24
//!   hours (a grant counts once however often);
//!   the events raised in the last 24 hours, by type;
//! - **sweep backlog**: grants due now and how overdue the oldest is;
//! - **outbox lag**: webhook deliveries pending and the age of the oldest;
//! - **publish lag**: post targets due and not yet sent, and the oldest's age;
//! - **dead letters**: messages the consumers could not process and nobody replayed yet;
//! - **data keys**: the configured keys (the first active), how many stored secrets each key
//!   sealed, per table, which older keys are `still_needed` (not yet removable) and which keys
//!   are `missing` (they sealed stored secrets but are not configured: those cannot be opened).
//!
//! The per-platform counts scan `grants`; at millions of grants this is a slow query for an
//! occasional look, not something to poll every few seconds (`docs/scale.md`).

use crate::core::common::clock::Timestamp;
use crate::core::crypto::key_rotation;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1Database, Result};

const DAY_MS: i64 = 86_400_000;

#[derive(Deserialize)]
struct Standing {
    provider: String,
    standing: String,
    grants: f64,
    refreshed_24h: f64,
    failed_24h: f64,
    checked_24h: f64,
}

#[derive(Deserialize)]
struct EventCount {
    provider: String,
    kind: String,
    n: f64,
}

#[derive(Deserialize)]
struct Lag {
    n: f64,
    oldest: Option<f64>,
}

#[derive(Deserialize)]
struct KeyCount {
    table_name: String,
    key_id: String,
    n: f64,
}

pub async fn metrics(cx: &Context, db: &D1Database, now: Timestamp) -> Result<Value> {
    let day_ago = now.plus_millis(-DAY_MS);
    let mut results = Db::batch(db, store::operations::metrics(now, day_ago))
        .await?
        .into_iter();
    let mut next = || results.next().unwrap_or_default();
    let standings: Vec<Standing> = next().typed("operations.grant_standings")?;
    let event_counts: Vec<EventCount> = next().typed("operations.event_counts")?;
    let mut lag = |count: &str, age: &str| -> Result<Value> {
        let row = next()
            .typed::<Lag>("operations.backlog")?
            .into_iter()
            .next();
        let (n, oldest) = row.map_or((0, None), |r| (r.n as u64, r.oldest.map(time)));
        let seconds = oldest.map(|t| ((now.as_millis() - t.as_millis()).max(0) / 1_000) as u64);
        let mut out = Map::new();
        out.insert(count.to_owned(), json!(n));
        out.insert(age.to_owned(), json!(seconds));
        Ok(Value::Object(out))
    };
    let sweep_backlog = lag("due", "oldest_overdue_seconds")?;
    let outbox = lag("pending", "oldest_pending_seconds")?;
    let publish_backlog = lag("due", "oldest_overdue_seconds")?;
    let dead_letters = lag("unreplayed", "oldest_seconds")?;
    let key_counts: Vec<KeyCount> = next().typed("operations.sealed_by_key")?;
    let mut platforms = Map::new();
    for s in standings {
        let entry = platforms.entry(s.provider).or_insert_with(|| {
            json!({ "grants": {}, "refreshed_24h": 0, "failed_24h": 0, "checked_24h": 0,
                    "events_24h": {} })
        });
        entry["grants"][s.standing] = json!(s.grants as u64);
        for (key, add) in [
            ("refreshed_24h", s.refreshed_24h),
            ("failed_24h", s.failed_24h),
            ("checked_24h", s.checked_24h),
        ] {
            entry[key] = json!(entry[key].as_u64().unwrap_or(0) + add as u64);
        }
    }
    for e in event_counts {
        if let Some(entry) = platforms.get_mut(&e.provider) {
            entry["events_24h"][e.kind] = json!(e.n as u64);
        }
    }
    let mut sealed: Map<String, Value> = Map::new();
    let mut per_key: Vec<(String, u64)> = Vec::new();
    for k in key_counts {
        let entry = sealed.entry(k.key_id.clone()).or_insert_with(|| {
            json!({ "grants": 0, "tenant_clients": 0, "webhook_endpoints": 0,
                    "webhook_previous_secrets": 0, "oauth_sessions": 0 })
        });
        entry[k.table_name] = json!(k.n as u64);
        per_key.push((k.key_id, k.n as u64));
    }
    let configured: Vec<String> = cx
        .keyring()
        .map(|ring| ring.key_ids().into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let names: Vec<&str> = configured.iter().map(String::as_str).collect();
    let counts: Vec<(&str, u64)> = per_key.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    let standing = key_rotation::standing(&names, &counts);
    Ok(json!({
        "at": now.to_rfc3339(),
        "data_keys": {
            "active": configured.first(),
            "configured": configured,
            "sealed": sealed,
            "still_needed": standing.still_needed,
            "missing": standing.missing,
        },
        "platforms": platforms,
        "sweep_backlog": sweep_backlog,
        "outbox": outbox,
        "publish_backlog": publish_backlog,
        "dead_letters": dead_letters,
    }))
}
