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
