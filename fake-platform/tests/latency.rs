//! The fake can answer as slowly as a real platform (`set_answer_delay`, or
//! `FAKE_PLATFORM_DELAY_MS` for the process), so a consumer's concurrency can be measured
//! against real latency: every platform answer waits, concurrent calls wait side by side, and
//! the fake's own control routes never wait.

mod common;

use common::{agent, answer};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(400);

#[test]
fn every_platform_answer_waits_and_concurrent_ones_wait_side_by_side() {
    let fake = common::start("client-1", "secret-1");
    fake.set_answer_delay(DELAY);
    let url = format!("{}/api.x.com/2/users/me", fake.base_url());

    let started = Instant::now();
    let (status, _) = answer(agent().get(&url).call());
    assert_eq!(status, 401, "no token: refused, after the delay");
    assert!(started.elapsed() >= DELAY, "{:?}", started.elapsed());

    // Four at once: each waits its own delay on its own thread, so together they take about
    // one delay, not four.
    let started = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let sent = Instant::now();
                let (status, _) = answer(agent().get(&url).call());
                (status, sent.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (status, took) = call.join().unwrap();
        assert_eq!(status, 401);
        assert!(took >= DELAY, "{took:?}");
    }
    assert!(
        started.elapsed() < DELAY * 4,
        "the answers waited in turn: {:?}",
        started.elapsed()
    );

    // Back to at once.
    fake.set_answer_delay(Duration::ZERO);
    let started = Instant::now();
    let (status, _) = answer(agent().get(&url).call());
    assert_eq!(status, 401);
    assert!(started.elapsed() < DELAY, "{:?}", started.elapsed());
}

/// A caller that keeps its connection open (as workerd's connection pool does) must not hold up
/// callers on new connections: in waves of a dozen callers, each on a connection of its own,
/// all let go at once and keeping their connections open until the wave is over, every caller
/// is answered after one delay, not after another's.
#[test]
fn callers_on_new_connections_wait_one_delay_each() {
    let fake = common::start("client-1", "secret-1");
    fake.set_answer_delay(DELAY);
    let url = format!("{}/api.x.com/2/users/me", fake.base_url());
    for wave in 0..4 {
        let go = std::sync::Arc::new(std::sync::Barrier::new(12));
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let (url, go) = (url.clone(), go.clone());
                std::thread::spawn(move || {
                    // The agent holds its connection open until it is dropped.
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(10))
                        .build();
                    go.wait();
                    let sent = Instant::now();
                    let (status, _) = answer(agent.get(&url).call());
                    assert_eq!(status, 401);
                    (agent, sent.elapsed())
                })
            })
            .collect();
        let done: Vec<(ureq::Agent, Duration)> =
            calls.into_iter().map(|c| c.join().unwrap()).collect();
        for (_, took) in &done {
            assert!(*took >= DELAY, "{took:?}");
            // One delay and the time to start a thread, not a second delay.
            assert!(*took < DELAY * 2, "wave {wave}: a caller waited: {took:?}");
        }
    }
}
