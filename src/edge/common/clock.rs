//! The one clock every handler uses.
//!
//! Release builds read real time. Test builds add the offset stored in D1 (`test_clock`), so a
//! test can shift every handler's clock at once (see `PUT /__test/clock`).

use crate::core::common::clock::Timestamp;
use crate::edge::common::context::Context;
use worker::Result;

pub use super::wall_clock::real_now;

/// The time handlers act on.
#[cfg(not(feature = "test-powers"))]
pub async fn now(_cx: &Context) -> Result<Timestamp> {
    Ok(real_now())
}

/// The time handlers act on: the moment the test clock is stopped at, or real time shifted
/// by its offset.
#[cfg(feature = "test-powers")]
pub async fn now(cx: &Context) -> Result<Timestamp> {
    let (offset, frozen_at) = test_clock(cx).await?;
    Ok(frozen_at.unwrap_or_else(|| offset.apply(real_now())))
}

/// The test clock as stored: its offset, and the moment it is stopped at, if it is.
#[cfg(feature = "test-powers")]
pub async fn test_clock(
    cx: &Context,
) -> crate::edge::http::respond::Handled<(crate::core::common::clock::ClockOffset, Option<Timestamp>)>
{
    use crate::core::common::clock::ClockOffset;
    #[derive(serde::Deserialize)]
    struct Row {
        offset_ms: f64,
        frozen_at: Option<f64>,
    }
    let stored: Option<Row> =
        crate::store::Db::first(&cx.db()?, crate::store::operations::test_clock()).await?;
    let (millis, frozen_at) = stored.map_or((0, None), |r| {
        (
            r.offset_ms as i64,
            r.frozen_at.map(|f| Timestamp::from_millis(f as i64)),
        )
    });
    let offset =
        ClockOffset::from_millis(millis).map_err(crate::edge::http::respond::Internal::Clock)?;
    Ok((offset, frozen_at))
}
