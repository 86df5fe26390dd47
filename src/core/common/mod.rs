//! What every part of Evergreen shares: identifiers, time, log lines, settings, the build, the crons and queues, how a queue batch is worked (`lanes`), and internally tagged JSON read without serde's buffer (`tagged`).

pub mod build;
pub mod clock;
pub mod cron;
pub mod ids;
pub mod isolate_cache;
pub mod lanes;
pub mod log;
pub mod queues;
pub mod settings;
pub mod tagged;
