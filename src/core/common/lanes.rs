//! How a queue batch is worked: its messages sorted into lanes, one per grant (or webhook
//! endpoint, or platform), lanes side by side and at most [`OUTGOING_LIMIT`] at once.
//!
//! - A lane's messages keep the order the batch gave them and are worked one after another, so
//!   one lane holds at most one outgoing call at a time.
//! - A message equal to one already in its lane is a copy: it is not worked again, and it takes
//!   the outcome of the one that was (the queue settles each message on its own).
//! - Platforms answer in 100–500 ms; one after another, a batch of ten refreshes held an
//!   invocation for seconds. Side by side it takes about as long as its slowest lane.
//! - The lanes run in waves of at most [`OUTGOING_LIMIT`]; a wave takes as long as its slowest
//!   call, however few lanes it holds. So the work queues' `max_batch_size` is a whole number
//!   of waves (12: two), which `tests/wrangler_config.rs` checks.

use futures_util::stream::{self, StreamExt};
use std::future::Future;

/// Simultaneous outgoing connections one invocation may hold open (the platform's limit;
/// `wrangler dev` does not enforce it, so the bound is proven by this module's tests).
pub const OUTGOING_LIMIT: usize = 6;

/// One message to work, and the copies of it the batch also carried.
#[derive(Debug, PartialEq, Eq)]
pub struct Unique<T> {
    pub first: T,
    pub copies: Vec<T>,
}

/// The messages that must go one after another, in the batch's order.
#[derive(Debug, PartialEq, Eq)]
pub struct Lane<K, T> {
    pub key: K,
    pub messages: Vec<Unique<T>>,
}

/// Sorts a batch into lanes by `key`, lanes in the order their key first appears. `same` says
/// whether two messages of a lane are copies of one another (compared on what they carry, not
/// on the queue's message id).
pub fn sort<K: PartialEq, T>(
    batch: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<Lane<K, T>> {
    let mut lanes: Vec<Lane<K, T>> = Vec::new();
    for message in batch {
        let k = key(&message);
        let Some(lane) = lanes.iter_mut().find(|l| l.key == k) else {
            lanes.push(Lane {
                key: k,
                messages: vec![Unique {
                    first: message,
                    copies: Vec::new(),
                }],
            });
            continue;
        };
        match lane.messages.iter_mut().find(|u| same(&u.first, &message)) {
            Some(unique) => unique.copies.push(message),
            None => lane.messages.push(Unique {
                first: message,
                copies: Vec::new(),
            }),
        }
    }
    lanes
}

/// Works every lane with `work`, at most `limit` lanes at once; answers each lane's result, in
/// the order the lanes finished.
pub async fn work<L, F, Fut>(lanes: Vec<L>, limit: usize, work: F) -> Vec<Fut::Output>
where
    F: FnMut(L) -> Fut,
    Fut: Future,
{
    stream::iter(lanes.into_iter().map(work))
        .buffer_unordered(limit.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    /// Polls `f` to the end on this thread (every future here wakes itself).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// Pending `n` times, then ready: a call in flight.
    struct InFlight(u32);
    impl Future for InFlight {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 == 0 {
                return Poll::Ready(());
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_grants_messages_share_a_lane_in_order_and_copies_ride_along() {
        let batch = [
            ("g1", 1),
            ("g2", 1),
            ("g1", 2),
            ("g1", 1),
            ("g3", 1),
            ("g2", 1),
        ];
        let lanes = sort(batch, |m| m.0, |a, b| a == b);
        let keys: Vec<_> = lanes.iter().map(|l| l.key).collect();
        assert_eq!(keys, ["g1", "g2", "g3"]);
        assert_eq!(
            lanes[0].messages,
            [
                Unique {
                    first: ("g1", 1),
                    copies: vec![("g1", 1)]
                },
                Unique {
                    first: ("g1", 2),
                    copies: vec![]
                }
            ]
        );
        assert_eq!(lanes[1].messages.len(), 1);
        assert_eq!(lanes[1].messages[0].copies, [("g2", 1)]);
        // Nothing is lost: every message is a first or a copy.
        let counted: usize = lanes
            .iter()
            .flat_map(|l| &l.messages)
            .map(|u| 1 + u.copies.len())
            .sum();
        assert_eq!(counted, batch.len());
    }

    #[test]
    fn at_most_the_limit_of_lanes_is_in_flight_and_each_lane_keeps_its_order() {
        let in_flight = Cell::new(0usize);
        let most = Cell::new(0usize);
        let seen = RefCell::new(Vec::new());
        // 20 lanes of 3 calls each, every call in flight for a few polls.
        let lanes: Vec<(usize, Vec<u32>)> = (0..20).map(|l| (l, vec![1, 2, 3])).collect();
        let finished = block_on(work(lanes, OUTGOING_LIMIT, |(lane, calls)| {
            let (in_flight, most, seen) = (&in_flight, &most, &seen);
            async move {
                for call in calls {
                    in_flight.set(in_flight.get() + 1);
                    most.set(most.get().max(in_flight.get()));
                    InFlight(1 + (lane as u32 + call) % 4).await;
                    seen.borrow_mut().push((lane, call));
                    in_flight.set(in_flight.get() - 1);
                }
                lane
            }
        }));
        assert_eq!(
            most.get(),
            OUTGOING_LIMIT,
            "side by side, never above the limit"
        );
        let mut done = finished.clone();
        done.sort_unstable();
        assert_eq!(
            done,
            (0..20).collect::<Vec<_>>(),
            "every lane finished once"
        );
        let seen = seen.into_inner();
        assert_eq!(seen.len(), 60);
        for lane in 0..20 {
            let calls: Vec<u32> = seen.iter().filter(|s| s.0 == lane).map(|s| s.1).collect();
            assert_eq!(calls, [1, 2, 3], "lane {lane} kept its order");
        }
    }

    #[test]
    fn a_limit_of_one_works_the_lanes_one_after_another() {
        let in_flight = Cell::new(0usize);
        let most = Cell::new(0usize);
        block_on(work((0..5).collect(), 1, |_| {
            let (in_flight, most) = (&in_flight, &most);
            async move {
                in_flight.set(in_flight.get() + 1);
                most.set(most.get().max(in_flight.get()));
                InFlight(3).await;
                in_flight.set(in_flight.get() - 1);
            }
        }));
        assert_eq!(most.get(), 1);
        // A limit of 0 is read as 1, never as "no work".
        let ran = Cell::new(0);
        block_on(work(vec![(), ()], 0, |_| {
            ran.set(ran.get() + 1);
            async {}
        }));
        assert_eq!(ran.get(), 2);
    }
}
