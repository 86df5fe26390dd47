//! Telling the scheduler app: webhook endpoints and deliveries, the event outbox, the events API.

pub(crate) mod endpoints;
pub(crate) mod events;
pub(crate) mod outbox;
pub(crate) mod webhook_delivery;
