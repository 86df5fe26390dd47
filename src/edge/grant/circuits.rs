//! The per-platform circuits (`platform_circuits`): the core decides ([`crate::core::grant::circuit`]),
//! this module reads and writes the rows.
//!
//! Failures are counted with an SQL increment (the rule of `Circuit::after_failure`), not a
//! read-modify-write, so grants failing at the same moment in different objects all count.
//! The probe is claimed with a conditional update: of the callers arriving after the open
//! time, exactly one calls the platform.

use crate::core::common::clock::Timestamp;
use crate::core::grant::circuit::{Admission, BreakerConfig, Circuit};
use crate::edge::common::d1_time::read as time;
use crate::store::{self, Db};
use serde::Deserialize;
use worker::{D1Database, Result};

/// Whether the call may go out, and the circuit as read (to skip needless writes after).
pub enum Gate {
    Go(Circuit),
    Wait { until: Timestamp },
}

pub async fn admit(
    db: &D1Database,
    provider: &str,
    config: BreakerConfig,
    now: Timestamp,
) -> Result<Gate> {
    #[derive(Deserialize)]
    struct Row {
        consecutive_failures: f64,
        open_until: Option<f64>,
    }
    let row: Option<Row> = db.first(store::operations::circuit(provider)).await?;
    let circuit = row.map_or_else(Circuit::default, |r| Circuit {
        consecutive_failures: r.consecutive_failures as u32,
        open_until: r.open_until.map(time),
    });
    Ok(match circuit.admission(config, now) {
        Admission::Call => Gate::Go(circuit),
        Admission::Wait { until } => Gate::Wait { until },
        Admission::Probe { reopen_until } => {
            let claimed = db
                .write(store::operations::claim_probe(provider, reopen_until, now))
                .await?;
            if claimed == 1 {
                Gate::Go(circuit)
            } else {
                Gate::Wait {
                    until: reopen_until,
                }
            }
        }
    })
}

/// Records what the call showed: the platform failing (`failed`), or up.
pub async fn record(
    db: &D1Database,
    provider: &str,
    before: Circuit,
    failed: bool,
    config: BreakerConfig,
    now: Timestamp,
) -> Result<()> {
    if failed {
        db.write(store::operations::circuit_failed(
            provider,
            config.failures,
            now.plus_millis(config.open_ms),
            now,
        ))
        .await?;
    } else if before != before.after_success() {
        db.write(store::operations::circuit_closed(provider, now))
            .await?;
    }
    Ok(())
}
