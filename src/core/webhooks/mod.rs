//! Telling the scheduler app: webhook endpoints, payloads, signatures, retries.

pub mod secret_rotation;
pub mod webhook_endpoints;
pub mod webhook_payload;
pub mod webhook_retry;
pub mod webhook_signature;
