//! Writes core log lines to the Workers log (one JSON object per line).

use crate::core::common::log::{Level, LogLine};

pub fn emit(line: &LogLine) {
    let json = line.to_json();
    match line.level() {
        Level::Error => worker::console_error!("{json}"),
        Level::Warn => worker::console_warn!("{json}"),
        Level::Debug | Level::Info => worker::console_log!("{json}"),
    }
}
