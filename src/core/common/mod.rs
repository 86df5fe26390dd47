//! What every part of Evergreen shares: identifiers, time, log lines, settings, the build, the crons and queues.

pub mod build;
pub mod clock;
pub mod cron;
pub mod ids;
pub mod isolate_cache;
pub mod log;
pub mod queues;
pub mod settings;
