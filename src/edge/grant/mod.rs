//! Keeping a grant alive: the grant's Durable Object (its only writer), connection access, the sweep, circuits.

pub(crate) mod circuits;
pub(crate) mod connection_access;
pub(crate) mod connection_reads;
pub(crate) mod connections;
pub(crate) mod grant_object;
pub(crate) mod sweep;
