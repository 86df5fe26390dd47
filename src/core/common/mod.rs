//! What every part of Evergreen shares: identifiers, time, log lines, settings, the build, the crons and queues, and how a queue batch is worked (`lanes`).

pub mod build;
pub mod clock;
pub mod cron;
pub mod ids;
pub mod isolate_cache;
pub mod lanes;
pub mod log;
pub mod queues;
pub mod settings;
