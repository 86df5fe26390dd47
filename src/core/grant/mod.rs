//! Keeping a grant alive: its tokens, state and health, refresh failures and schedules, the scheduled check, the sweep, expiry and its warnings, disconnects, circuits.

pub mod circuit;
pub mod consent;
pub mod disconnect;
pub mod expiry_warnings;
pub mod grant_events;
pub mod grant_expiry;
pub mod grant_health;
pub mod grant_tokens;
pub mod refresh_failure;
pub mod refresh_schedule;
pub mod scheduled_check;
pub mod sweep;
