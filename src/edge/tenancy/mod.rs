//! Tenants: the tenant API's dispatch, the admin API, erasure, key rotation, metrics, dead letters, the token-read audit.

pub(crate) mod admin;
pub(crate) mod caller;
pub(crate) mod dead_letters;
pub(crate) mod erasure;
pub(crate) mod metrics;
pub(crate) mod rekey;
pub(crate) mod tenant_api;
pub(crate) mod token_audit;
