//! The work queues, their dead-letter queues, and the bindings that reach them.
//!
//! Names here must match `wrangler.toml`; `tests/wrangler_config.rs` checks that they do.
//! Messages carry ids, never content or tokens.

/// A queue Evergreen hands work to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkQueue {
    /// Grant refreshes and validations fanned out by the sweep.
    Refresh,
    /// Publish targets that are due.
    Publish,
    /// Webhook deliveries from the outbox.
    Webhooks,
}

/// Where a consumed batch came from: a work queue or its dead-letter queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueRole {
    Work(WorkQueue),
    DeadLetter(WorkQueue),
}

impl WorkQueue {
    pub const ALL: [WorkQueue; 3] = [WorkQueue::Refresh, WorkQueue::Publish, WorkQueue::Webhooks];

    /// The short name used in routes and logs.
    pub const fn slug(self) -> &'static str {
        match self {
            WorkQueue::Refresh => "refresh",
            WorkQueue::Publish => "publish",
            WorkQueue::Webhooks => "webhooks",
        }
    }

    /// The queue's name on the platform.
    pub const fn queue_name(self) -> &'static str {
        match self {
            WorkQueue::Refresh => "evergreen-refresh",
            WorkQueue::Publish => "evergreen-publish",
            WorkQueue::Webhooks => "evergreen-webhooks",
        }
    }

    /// The dead-letter queue's name on the platform.
    pub const fn dead_letter_queue_name(self) -> &'static str {
        match self {
            WorkQueue::Refresh => "evergreen-refresh-dlq",
            WorkQueue::Publish => "evergreen-publish-dlq",
            WorkQueue::Webhooks => "evergreen-webhooks-dlq",
        }
    }

    /// The producer binding in `wrangler.toml`.
    pub const fn binding(self) -> &'static str {
        match self {
            WorkQueue::Refresh => "REFRESH_QUEUE",
            WorkQueue::Publish => "PUBLISH_QUEUE",
            WorkQueue::Webhooks => "WEBHOOK_QUEUE",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.slug() == slug)
    }
}

impl QueueRole {
    /// What a consumer is looking at, from the batch's queue name.
    pub fn of_queue(name: &str) -> Option<Self> {
        WorkQueue::ALL.into_iter().find_map(|q| {
            if q.queue_name() == name {
                Some(QueueRole::Work(q))
            } else if q.dead_letter_queue_name() == name {
                Some(QueueRole::DeadLetter(q))
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_name_resolves_to_its_role() {
        for q in WorkQueue::ALL {
            assert_eq!(
                QueueRole::of_queue(q.queue_name()),
                Some(QueueRole::Work(q))
            );
            assert_eq!(
                QueueRole::of_queue(q.dead_letter_queue_name()),
                Some(QueueRole::DeadLetter(q))
            );
            assert_eq!(WorkQueue::from_slug(q.slug()), Some(q));
        }
        assert_eq!(QueueRole::of_queue("someone-elses-queue"), None);
        assert_eq!(WorkQueue::from_slug("nope"), None);
    }
}
