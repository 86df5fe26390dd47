//! The scheduled handler: runs the job a cron expression names and records a heartbeat.
//!
//! Locally no cron fires by itself; the run command and the tests call
//! `/__scheduled?cron=...` (`wrangler dev --test-scheduled`). Jobs are idempotent under overlap (the platform
//! delivers crons at least once, and runs may overlap).

use crate::core::common::clock::Timestamp;
use crate::core::common::cron::CronJob;
use crate::core::common::log::LogLine;
use crate::core::oauth::connect_sessions::purge_cutoff;
use crate::core::tenancy::retention::PURGE_BATCH;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::store::{self, Db};
use serde_json::{json, Value};
use worker::{Result, ScheduledEvent};

pub async fn run(event: ScheduledEvent, cx: Context) {
    let scheduled_at = Timestamp::from_millis(event.schedule() as i64);
    let started_at = match clock::now(&cx).await {
        Ok(now) => now,
        Err(e) => {
            logging::emit(
                &LogLine::error("cron.clock_failed", clock::real_now())
                    .field("error", crate::edge::http::respond::with_causes(&e)),
            );
            return;
        }
    };
    let job = match CronJob::from_cron(&event.cron()) {
        Ok(job) => job,
        Err(unknown) => {
            logging::emit(
                &LogLine::warn("cron.unknown", started_at).field("reason", unknown.to_string()),
            );
            return;
        }
    };
    let outcome = match job {
        CronJob::Sweep => sweep(&cx, started_at).await,
        CronJob::Dispatch => dispatch(&cx, started_at).await,
    };
    let finished_at = clock::now(&cx).await.unwrap_or(started_at);
    let (line, summary) = match &outcome {
        Ok(summary) => (
            LogLine::info("cron.finished", finished_at).field("summary", summary.clone()),
            summary.to_string(),
        ),
        Err(e) => (
            LogLine::error("cron.failed", finished_at)
                .field("error", crate::edge::http::respond::with_causes(&e)),
            "failed".to_owned(),
        ),
    };
    logging::emit(&line.field("job", job.name()));
    let heartbeat = Heartbeat {
        job,
        failed: outcome.is_err(),
        scheduled_at,
        started_at,
        finished_at,
        summary,
    };
    if let Err(e) = heartbeat.record(&cx).await {
        logging::emit(
            &LogLine::error("cron.heartbeat_failed", finished_at)
                .field("job", job.name())
                .field("error", crate::edge::http::respond::with_causes(&e)),
        );
    }
}

/// The hourly sweep: hands the due grants to the refresh queue (`sweep`), deletes connect,
/// OAuth and connections-page sessions that expired more than a day ago, and prunes what
/// `RETENTION` no longer keeps ([`prune`]).
async fn sweep(cx: &Context, now: Timestamp) -> Result<Value> {
    let mut summary = crate::edge::grant::sweep::sweep(cx, now, None).await?;
    let db = cx.db()?;
    let purged = Db::batch(&db, store::operations::purge_sessions(purge_cutoff(now))).await?;
    let removed: Vec<usize> = purged.iter().map(|o| o.changes).collect();
    summary["purged_oauth_sessions"] = json!(removed.first().copied().unwrap_or(0));
    summary["purged_connect_sessions"] = json!(removed.get(1).copied().unwrap_or(0));
    summary["purged_page_sessions"] = json!(removed.get(2).copied().unwrap_or(0));
    if let (Some(all), Value::Object(more)) = (summary.as_object_mut(), prune(cx, now).await?) {
        all.extend(more);
    }
    Ok(summary)
}

/// Deletes what `RETENTION` no longer keeps (`core::tenancy::retention`), at most a batch per table per
/// run. Deliveries go before events (a delivery points at its event), and each connection's
/// latest event stays, so its `seq` goes on counting.
async fn prune(cx: &Context, now: Timestamp) -> Result<Value> {
    let retention = cx.settings().retention;
    let cutoffs = retention.cutoffs(now);
    let db = cx.db()?;
    let pruned = Db::batch(
        &db,
        store::operations::prune(&store::operations::Prune {
            deliveries_before: cutoffs.deliveries,
            events_before: cutoffs.events,
            token_reads_before: cutoffs.token_reads,
            reconnect_nonces_before: cutoffs.reconnect_nonces,
            limit: PURGE_BATCH.into(),
        }),
    )
    .await?;
    let removed: Vec<usize> = pruned.iter().map(|o| o.changes).collect();
    Ok(json!({
        "pruned_deliveries": removed.first().copied().unwrap_or(0),
        "pruned_events": removed.get(1).copied().unwrap_or(0),
        "pruned_token_reads": removed.get(2).copied().unwrap_or(0),
        "pruned_reconnect_nonces": removed.get(3).copied().unwrap_or(0),
    }))
}

/// The minute dispatch: due posts go to the publish queue; the reconcilers re-send publish
/// targets and webhook deliveries whose queue message was lost, and settle expired claims; the
/// re-encryption sweep moves a page of stored secrets to the active data key (`rekey`); the
/// webhook secrets whose overlap ended are deleted.
async fn dispatch(cx: &Context, now: Timestamp) -> Result<Value> {
    let mut summary = crate::edge::webhooks::outbox::reconcile(cx, now).await?;
    let parts = [
        crate::edge::publish::dispatch::dispatch(cx, now).await?,
        crate::edge::publish::dispatch::reconcile(cx, now).await?,
        crate::edge::publish::recheck::recheck(cx, now).await?,
        // A failing re-encryption (say, DATA_KEYS unreadable) must not stop the posts.
        crate::edge::tenancy::rekey::rekey(cx, now)
            .await
            .unwrap_or_else(
                |e| json!({ "rekey_error": crate::edge::http::respond::with_causes(&e) }),
            ),
        // Nor the end of a secret's overlap.
        crate::edge::webhooks::endpoints::end_overlaps(cx, now)
            .await
            .unwrap_or_else(
                |e| json!({ "secret_overlaps_error": crate::edge::http::respond::with_causes(&e) }),
            ),
        // Nor a failing erasure.
        crate::edge::tenancy::erasure::run(cx, now)
            .await
            .unwrap_or_else(
                |e| json!({ "erasure_error": crate::edge::http::respond::with_causes(&e) }),
            ),
    ];
    for part in parts {
        if let (Some(all), Value::Object(more)) = (summary.as_object_mut(), part) {
            all.extend(more);
        }
    }
    Ok(summary)
}

struct Heartbeat {
    job: CronJob,
    failed: bool,
    scheduled_at: Timestamp,
    started_at: Timestamp,
    finished_at: Timestamp,
    summary: String,
}

impl Heartbeat {
    /// One row per job, updated in place, so the table never grows.
    async fn record(&self, cx: &Context) -> Result<()> {
        cx.db()?
            .write(store::operations::record_heartbeat(
                &store::operations::Heartbeat {
                    job: self.job.name(),
                    failed: self.failed,
                    scheduled_at: self.scheduled_at,
                    started_at: self.started_at,
                    finished_at: self.finished_at,
                    outcome: &self.summary,
                },
            ))
            .await?;
        Ok(())
    }
}
