//! The per-platform circuits (`platform_circuits`): the core decides ([`crate::core::circuit`]),
//! this module reads and writes the rows.
//!
//! Failures are counted with an SQL increment (the rule of `Circuit::after_failure`), not a
//! read-modify-write, so grants failing at the same moment in different objects all count.
//! The probe is claimed with a conditional update: of the callers arriving after the open
//! time, exactly one calls the platform.

use super::d1::{changes, int};
use super::d1_time::{bind as ms, read as time};
use crate::core::circuit::{Admission, BreakerConfig, Circuit};
use crate::core::clock::Timestamp;
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
    let row: Option<Row> = db
        .prepare(
            "SELECT consecutive_failures, open_until FROM platform_circuits WHERE provider = ?1",
        )
        .bind(&[provider.into()])?
        .first(None)
        .await?;
    let circuit = row.map_or_else(Circuit::default, |r| Circuit {
        consecutive_failures: r.consecutive_failures as u32,
        open_until: r.open_until.map(time),
    });
    Ok(match circuit.admission(config, now) {
        Admission::Call => Gate::Go(circuit),
        Admission::Wait { until } => Gate::Wait { until },
        Admission::Probe { reopen_until } => {
            let claimed = db
                .prepare(
                    "UPDATE platform_circuits SET open_until = ?1, updated_at = ?2 \
                     WHERE provider = ?3 AND (open_until IS NULL OR open_until <= ?2)",
                )
                .bind(&[ms(reopen_until), ms(now), provider.into()])?
                .run()
                .await?;
            if changes(&claimed) == 1 {
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
        let open_until = ms(now.plus_millis(config.open_ms));
        db.prepare(
            "INSERT INTO platform_circuits (provider, consecutive_failures, open_until, updated_at) \
             VALUES (?1, 1, CASE WHEN 1 >= ?2 THEN ?3 ELSE NULL END, ?4) \
             ON CONFLICT (provider) DO UPDATE SET \
               consecutive_failures = consecutive_failures + 1, \
               open_until = CASE WHEN consecutive_failures + 1 >= ?2 THEN ?3 ELSE open_until END, \
               updated_at = ?4",
        )
        .bind(&[
            provider.into(),
            int(config.failures.into()),
            open_until,
            ms(now),
        ])?
        .run()
        .await?;
    } else if before != before.after_success() {
        db.prepare(
            "UPDATE platform_circuits SET consecutive_failures = 0, open_until = NULL, \
               updated_at = ?1 WHERE provider = ?2",
        )
        .bind(&[ms(now), provider.into()])?
        .run()
        .await?;
    }
    Ok(())
}
