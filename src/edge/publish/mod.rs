//! Publishing one post target: the publish queue's consumer, the minute dispatch that hands
//! due targets to the queue, the reconciler, and resuming parked targets after a reconnect.
//!
//! A message carries a target id and nothing else. The consumer claims the target with a
//! conditional update (`queued` → `publishing`, with a lease), takes the token through the
//! grant's Durable Object (the pre-post check: a dead grant parks the target), marks the claim
//! `sent_at` just before the request goes out, and writes what the answer proves
//! (`core::publish::publish_policy`). Every settling write is conditional on the claim, so a redelivered
//! message, a second consumer or an expired lease can never publish twice.
//!
//! `dispatch` is the queue side, `attempt` one message's work on a `claim`, `settle` the
//! writes that end it; each platform's multi-step dialect has its own module, and `posts` is
//! the tenant API.

pub(crate) mod attachments;
pub(crate) mod attempt;
pub(crate) mod bluesky;
pub(crate) mod calls;
pub(crate) mod claim;
pub(crate) mod dispatch;
pub(crate) mod instagram;
pub(crate) mod posts;
pub(crate) mod recheck;
pub(crate) mod resolution;
pub(crate) mod settle;
pub(crate) mod target;
pub(crate) mod tiktok;
pub(crate) mod youtube;
