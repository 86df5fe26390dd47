//! What every handler shares: the bindings and settings, the clock, D1's time, log lines.

pub(crate) mod bindings;
pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod d1_time;
pub(crate) mod logging;
pub(crate) mod wall_clock;
