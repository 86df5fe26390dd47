//! The per-platform circuits (`platform_circuits`): the core decides ([`crate::core::grant::circuit`]),
//! this module reads and writes the rows.
//!
//! Failures are counted with an SQL increment (the rule of `Circuit::after_failure`), not a
//! read-modify-write, so grants failing at the same moment in different objects all count.
//! The probe is claimed with a conditional update: of the callers arriving after the open
//! time, exactly one calls the platform. The others look again every [`PROBE_LOOK`] for up to
//! [`PROBE_PATIENCE`] and follow its answer (`Circuit::after_probe`): a queue batch worked side
//! by side brings a platform's grants together, and they should not all hold back for another
//! open period because one of them probed.

use crate::core::common::clock::Timestamp;
use crate::core::grant::circuit::{Admission, AfterProbe, BreakerConfig, Circuit};
use crate::edge::common::d1_time::read as time;
use crate::store::{self, Db};
use serde::Deserialize;
use std::time::Duration;
use worker::{D1Database, Delay, Result};

/// How often a caller that lost the probe looks at the circuit again.
const PROBE_LOOK: Duration = Duration::from_millis(250);
/// How long it waits for the probe's answer before holding back.
const PROBE_PATIENCE: Duration = Duration::from_secs(5);

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
    let circuit = read(db, provider).await?;
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
                follow_probe(db, provider, config, reopen_until).await?
            }
        }
    })
}

async fn read(db: &D1Database, provider: &str) -> Result<Circuit> {
    #[derive(Deserialize)]
    struct Row {
        consecutive_failures: f64,
        open_until: Option<f64>,
    }
    let row: Option<Row> = db.first(store::operations::circuit(provider)).await?;
    Ok(row.map_or_else(Circuit::default, |r| Circuit {
        consecutive_failures: r.consecutive_failures as u32,
        open_until: r.open_until.map(time),
    }))
}

/// Another caller holds the probe: wait for its answer, within [`PROBE_PATIENCE`].
async fn follow_probe(
    db: &D1Database,
    provider: &str,
    config: BreakerConfig,
    reopen_until: Timestamp,
) -> Result<Gate> {
    let mut circuit = read(db, provider).await?;
    let probing_until = circuit.open_until.unwrap_or(reopen_until);
    let looks = PROBE_PATIENCE.as_millis() / PROBE_LOOK.as_millis();
    for look in 0..=looks {
        // The first look is the read above: the probe may have answered already.
        if look > 0 {
            Delay::from(PROBE_LOOK).await;
            circuit = read(db, provider).await?;
        }
        match circuit.after_probe(config, probing_until) {
            AfterProbe::Go => return Ok(Gate::Go(circuit)),
            AfterProbe::Wait { until } => return Ok(Gate::Wait { until }),
            AfterProbe::Probing => {}
        }
    }
    Ok(Gate::Wait {
        until: probing_until,
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
