//! `GET /healthz`: is the worker up, can it reach D1, which build is it, when did the crons run.

use crate::core::common::build;
use crate::core::common::clock::Timestamp;
use crate::core::common::log::LogLine;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time;
use crate::edge::common::logging;
use crate::edge::http::respond;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Map};
use worker::{Response, Result};

#[derive(Deserialize)]
struct HeartbeatRow {
    job: String,
    runs: f64,
    failures: f64,
    last_scheduled_at: Option<f64>,
    last_finished_at: Option<f64>,
    last_outcome: Option<String>,
}

pub async fn handle(cx: &Context, now: Timestamp) -> Result<Response> {
    let rows = match read_heartbeats(cx).await {
        Ok(rows) => rows,
        Err(e) => {
            logging::emit(&LogLine::error("healthz.d1_failed", now).field("error", e.to_string()));
            return respond::json(
                503,
                &json!({
                    "status": "unavailable",
                    "build": build::FLAVOUR,
                    "checks": { "d1": "failed" },
                }),
            );
        }
    };
    let mut crons = Map::new();
    for row in rows {
        crons.insert(
            row.job,
            json!({
                "runs": row.runs as i64,
                "failures": row.failures as i64,
                "last_scheduled_at": d1_time::json(row.last_scheduled_at),
                "last_finished_at": d1_time::json(row.last_finished_at),
                "last_outcome": row.last_outcome,
            }),
        );
    }
    respond::json(
        200,
        &json!({
            "status": "ok",
            "service": "evergreen",
            "version": build::VERSION,
            "build": build::FLAVOUR,
            "now": now.to_rfc3339(),
            "checks": { "d1": "ok" },
            "crons": crons,
        }),
    )
}

async fn read_heartbeats(cx: &Context) -> Result<Vec<HeartbeatRow>> {
    Ok(cx.db()?.all(store::operations::heartbeats()).await?)
}
