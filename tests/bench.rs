//! Benchmarks (issue 12), not part of the test run: `scripts/bench` runs them, each on its
//! build, and prints what they print beside the targets. Each figure is measured side by side
//! with its baselines in one run of one worker. The correctness gates are asserted: a bench that
//! loses or doubles a refresh fails.
//!
//! - `token_api`: on the bench build (`EVERGREEN_BUILD=bench`: the release build plus the
//!   `/__bench/` probes). Fresh tokens over many connections against a no-op route and a bare
//!   Durable Object round trip that reads its storage.
//! - `refresh_throughput`: on the test build (the fake platform is reached through its URL
//!   rewrite). Due grants refreshed end to end against the worker's bare loopback fetch rate.
//! - `refresh_under_latency`: on the test build, every platform answer delayed as a real
//!   platform's would be; rounds alternate between the queue consumers working a batch one
//!   message after another and in lanes (`QUEUE_LANES`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tenants::{bearer, Tenant};
use common::Stack;
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Variable `name` read as a number, `default` when it is unset or not one.
fn number_from_env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// One line of output `scripts/bench` passes on.
fn report(line: &str) {
    println!("bench: {line}");
}

/// A request the load makes: method, path, authorization, body.
type Call = (&'static str, String, Option<String>, Option<String>);

/// Makes the `i`-th request of a load.
type MakeCall = Arc<dyn Fn(usize) -> Call + Send + Sync>;

/// What a load run measured.
struct Stats {
    requests: usize,
    failures: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Stats {
    fn line(&self) -> String {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({} requests, {} failed)",
            self.per_second, self.p50_ms, self.p99_ms, self.requests, self.failures
        )
    }
}

/// `clients` threads, each with its own keep-alive connection, call `make(i)` in turn for
/// `duration`; a non-200 answer counts as a failure.
fn load(base: &str, clients: usize, duration: Duration, make: MakeCall) -> Stats {
    let start = Arc::new(Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|client| {
            let start = start.clone();
            let make = make.clone();
            let base = base.to_owned();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .max_idle_connections_per_host(1)
                    .timeout(Duration::from_secs(30))
                    .build();
                let mut latencies = Vec::new();
                let mut failures = 0;
                start.wait();
                let began = Instant::now();
                let mut i = client;
                while began.elapsed() < duration {
                    let (method, path, auth, body) = make(i);
                    i += clients;
                    let mut req = agent.request(method, &format!("{base}{path}"));
                    if let Some(auth) = &auth {
                        req = req.set("Authorization", auth);
                    }
                    let sent = Instant::now();
                    let answer = match &body {
                        Some(b) => req.set("Content-Type", "application/json").send_string(b),
                        None => req.call(),
                    };
                    let ok = matches!(&answer, Ok(r) if r.status() == 200);
                    if let Ok(r) = answer {
                        let _ = r.into_string();
                    }
                    latencies.push(sent.elapsed());
                    if !ok {
                        failures += 1;
                    }
                }
                (latencies, failures, began.elapsed())
            })
        })
        .collect();
    start.wait();
    let mut all = Vec::new();
    let mut failures = 0;
    let mut longest = Duration::ZERO;
    for h in handles {
        let (latencies, failed, took) = h.join().expect("a load thread");
        all.extend(latencies);
        failures += failed;
        longest = longest.max(took);
    }
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Stats {
        requests: all.len(),
        failures,
        per_second: all.len() as f64 / longest.as_secs_f64(),
        p50_ms: at(0.50).as_secs_f64() * 1e3,
        p99_ms: at(0.99).as_secs_f64() * 1e3,
    }
}

/// Stores YouTube grants holding these tokens through `/__bench/seed` (the real store path);
/// their connection ids, in order.
fn seed(s: &Stack, tenant: &Tenant<'_>, grants: &[Value], expires_in: u64) -> Vec<String> {
    let answer = s.worker.send(
        "POST",
        "/__bench/seed",
        Some(&s.operator()),
        &json!({
            "tenant_id": tenant.id,
            "provider": "youtube",
            "client_id": s.google_client.id,
            "end_user_ref": "bench-user",
            "kind": "channel",
            "expires_in": expires_in,
            "grants": grants,
        }),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["connection_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// A random token-shaped string (the fake never sees these).
fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("random");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

const CONNECTIONS: usize = 200;
const CLIENTS: usize = 8;
const ROUNDS: usize = 5;
const ROUND: Duration = Duration::from_secs(5);

#[test]
#[ignore = "a benchmark: scripts/bench runs it on the bench build"]
fn token_api() {
    // The token reads' audit flushes at the deployment's default pace (the tests' stacks
    // flush after a second).
    let s = Stack::start_with("bench-token-api", |_| {
        vec![("TOKEN_AUDIT_FLUSH_SECONDS".to_owned(), "10".to_owned())]
    });
    // One tenant per client: a tenant's API budget (`[[ratelimits]]` in wrangler.toml) is a
    // guard against one runaway caller, and this load from one tenant would spend it.
    let per_tenant = CONNECTIONS / CLIENTS;
    let mut connections = Vec::new();
    let mut keys = Vec::new();
    for t in 0..CLIENTS {
        let tenant = Tenant::new(&s, &format!("Bench {t}"));
        let grants: Vec<Value> = (0..per_tenant)
            .map(|i| {
                json!({
                    "account_id": format!("bench_channel_{t}_{i}"),
                    "access_token": random_token("ya29.bench-"),
                    "refresh_token": random_token("1//bench-"),
                })
            })
            .collect();
        let ids = seed(&s, &tenant, &grants, 7200);
        assert_eq!(ids.len(), per_tenant);
        // Every connection serves the token it was seeded with, before anything is timed.
        for (i, id) in ids.iter().enumerate() {
            let answer = tenant.token(id);
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_eq!(answer.body["access_token"], grants[i]["access_token"]);
        }
        connections.push(ids);
        keys.push(bearer(&tenant.tokens));
    }
    let connections = Arc::new(connections);
    let keys = Arc::new(keys);
    let targets: Vec<(&str, MakeCall)> = vec![
        (
            "no-op route",
            Arc::new(|_| ("GET", "/__bench/noop".to_owned(), None, None)),
        ),
        (
            "bare DO round trip (storage read)",
            Arc::new(|i| {
                let path = format!("/__bench/object/{}", i % CONNECTIONS);
                ("GET", path, None, None)
            }),
        ),
        ("token API (fresh tokens)", {
            let connections = connections.clone();
            // Call i comes from client i % CLIENTS, which speaks for that tenant.
            Arc::new(move |i| {
                let t = i % CLIENTS;
                let id = &connections[t][(i / CLIENTS) % per_tenant];
                let path = format!("/v1/connections/{id}/token");
                ("POST", path, Some(keys[t].clone()), Some("{}".to_owned()))
            })
        }),
    ];
    // Warm every path (isolate, objects, caches) once, then interleave the rounds so drift on
    // the machine touches all three alike.
    for (_, make) in &targets {
        load(
            &s.worker.base_url,
            CLIENTS,
            Duration::from_secs(2),
            make.clone(),
        );
    }
    let mut totals: Vec<Vec<Stats>> = targets.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (t, (_, make)) in targets.iter().enumerate() {
            totals[t].push(load(&s.worker.base_url, CLIENTS, ROUND, make.clone()));
        }
    }
    let merged: Vec<Stats> = totals
        .iter()
        .map(|rounds| {
            let n = rounds.len() as f64;
            Stats {
                requests: rounds.iter().map(|r| r.requests).sum(),
                failures: rounds.iter().map(|r| r.failures).sum(),
                per_second: rounds.iter().map(|r| r.per_second).sum::<f64>() / n,
                // The median round's percentiles.
                p50_ms: median(rounds.iter().map(|r| r.p50_ms).collect()),
                p99_ms: median(rounds.iter().map(|r| r.p99_ms).collect()),
            }
        })
        .collect();
    report(&format!(
        "{CLIENTS} clients (one tenant each), {CONNECTIONS} connections, {ROUNDS} interleaved rounds of {} s each",
        ROUND.as_secs()
    ));
    for ((name, _), stats) in targets.iter().zip(&merged) {
        report(&format!("{name}: {}", stats.line()));
    }
    // The goal's figure: the token API's rate over the bare object's, round by round, and the
    // median round.
    let ratios: Vec<f64> = totals[2]
        .iter()
        .zip(&totals[1])
        .map(|(token, object)| token.per_second / object.per_second)
        .collect();
    let ratio = median(ratios.clone());
    report(&format!(
        "token API / bare DO round trip, by round: {}",
        ratios
            .iter()
            .map(|r| format!("{:.0} %", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report(&format!(
        "token API / bare DO round trip, median of {ROUNDS} rounds: {:.0} %; target >= 80 %: {}",
        ratio * 100.0,
        if ratio >= 0.8 { "met" } else { "MISSED" }
    ));
    for ((name, _), stats) in targets.iter().zip(&merged) {
        assert_eq!(stats.failures, 0, "{name}: {}", stats.line());
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Grants at each version: `(version, state) -> count`.
fn grant_versions(s: &Stack) -> Vec<(u64, String, u64)> {
    let answer = s.worker.get("/__bench/grant-versions", Some(&s.operator()));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["version"].as_f64().unwrap() as u64,
                c["state"].as_str().unwrap().to_owned(),
                c["n"].as_f64().unwrap() as u64,
            )
        })
        .collect()
}

/// The worker's plain GETs of the fake's health route: requests per second.
fn fetch_rate(s: &Stack, n: usize, concurrency: usize) -> f64 {
    let url = format!("{}/__fake/health", s.fake.base_url());
    let answer = s.worker.get(
        &format!("/__bench/fetch?url={url}&n={n}&concurrency={concurrency}"),
        Some(&s.operator()),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["failed"], 0, "{answer:?}");
    n as f64 / (answer.body["took_ms"].as_f64().unwrap() / 1e3)
}

/// What one end-to-end refresh run measured.
struct Refreshed {
    took: Duration,
    finished: bool,
    sweep_answered: Duration,
    first_refresh: Option<Duration>,
    calls: u64,
    lost: usize,
    double: usize,
    rejections: Vec<evergreen_fake_platform::Rejection>,
    versions: Vec<(u64, String, u64)>,
}

impl Refreshed {
    fn rate(&self, due: usize) -> f64 {
        due as f64 / self.took.as_secs_f64()
    }

    fn gates(&self, due: usize) -> String {
        format!(
            "{:.3} provider calls per refresh (target 1.0), {} lost (target 0), {} double (target 0), {} refused by the platform; grants by version and state: {:?}",
            self.calls as f64 / due as f64,
            self.lost,
            self.double,
            self.rejections.len(),
            self.versions
        )
    }

    /// The correctness gates, exact: every grant refreshed once, none lost, none twice.
    fn assert_gates(&self, due: usize) {
        assert!(
            self.finished,
            "refreshes stopped short: {:?}",
            self.versions
        );
        assert_eq!(self.calls, due as u64, "one provider call per refresh");
        assert_eq!((self.lost, self.double), (0, 0));
        assert!(self.rejections.is_empty(), "{:?}", self.rejections);
        assert_eq!(self.versions, vec![(2, "alive".to_owned(), due as u64)]);
    }
}

/// Seeds `due` YouTube grants (accounts named `prefix…`) through the store path.
fn seed_due(s: &Stack, tenant: &Tenant<'_>, prefix: &str, due: usize) {
    let seeded = s.fake.seed_google_grants(prefix, due, &s.google_client.id);
    for chunk in seeded.chunks(200) {
        let grants: Vec<Value> = chunk
            .iter()
            .map(|g| {
                json!({
                    "account_id": g.account_id,
                    "access_token": g.access_token,
                    "refresh_token": g.refresh_token,
                })
            })
            .collect();
        seed(s, tenant, &grants, 3600);
    }
    assert_eq!(grant_versions(s), vec![(1, "alive".to_owned(), due as u64)]);
}

/// Moves the worker's clock past the seeded grants' keep-alive, runs the hourly sweep and
/// waits until every grant is written again (or nothing moves for two minutes).
fn refresh_all(s: &Stack, prefix: &str, due: usize) -> Refreshed {
    // YouTube grants are kept alive 150 days after their last refresh: 151 days on, all are due.
    let _later = common::x_flow::ClockShift::by_days(s, 151);
    let started = Instant::now();
    s.worker.run_cron("0 * * * *");
    let sweep_answered = started.elapsed();
    let mut first_refresh: Option<Duration> = None;
    let mut last_progress = (0u64, Instant::now());
    let finished = loop {
        let refreshed: u64 = s
            .fake
            .counters_of_prefix(prefix)
            .values()
            .map(|c| c.token_refresh)
            .sum();
        if refreshed > 0 && first_refresh.is_none() {
            first_refresh = Some(started.elapsed());
        }
        let written: u64 = grant_versions(s)
            .iter()
            .filter(|(version, _, _)| *version >= 2)
            .map(|(_, _, n)| n)
            .sum();
        if written >= due as u64 {
            break Some(started.elapsed());
        }
        if refreshed + written > last_progress.0 {
            last_progress = (refreshed + written, Instant::now());
        } else if last_progress.1.elapsed() > Duration::from_secs(120) {
            break None; // two minutes without progress: what is left is lost
        }
        // Polling a runtime we cannot subscribe to; the figures come from the counters.
        std::thread::sleep(Duration::from_millis(250));
    };

    // Quiet again: a second sweep finds nothing due, so nothing more can be refreshed.
    s.worker.run_cron("0 * * * *");
    let counters = s.fake.counters_of_prefix(prefix);
    Refreshed {
        took: finished.unwrap_or_else(|| started.elapsed()),
        finished: finished.is_some(),
        sweep_answered,
        first_refresh,
        calls: counters.values().map(|c| c.token_refresh).sum(),
        lost: counters.values().filter(|c| c.token_refresh == 0).count(),
        double: counters.values().filter(|c| c.token_refresh > 1).count(),
        rejections: s.fake.rejections(),
        versions: grant_versions(s),
    }
}

#[test]
#[ignore = "a benchmark: scripts/bench runs it on the test build"]
fn refresh_throughput() {
    let due: usize = number_from_env("EVERGREEN_BENCH_GRANTS", 10_000);
    let s = Stack::start("bench-refresh");
    let tenant = Tenant::new(&s, "Bench");
    let seeding = Instant::now();
    seed_due(&s, &tenant, "bench_refresh_", due);
    report(&format!(
        "seeded {due} YouTube grants through the store path in {:.1} s",
        seeding.elapsed().as_secs_f64()
    ));

    // The baseline, in the same worker and run: the worker's bare loopback fetches, one at a
    // time and ten at a time.
    let sequential = fetch_rate(&s, 1_000, 1);
    let parallel = fetch_rate(&s, 1_000, 10);
    report(&format!(
        "bare loopback fetch from the worker: {sequential:.0}/s one at a time, {parallel:.0}/s ten at a time"
    ));
    let d1 = s.worker.get("/__bench/d1?n=500", Some(&s.operator()));
    assert_eq!(d1.status, 200, "{d1:?}");
    let d1_ms = d1.body["took_ms"].as_f64().unwrap() / 500.0;
    let object = Instant::now();
    for i in 0..200 {
        assert_eq!(
            s.worker.get(&format!("/__bench/object/{i}"), None).status,
            200
        );
    }
    let object_ms = object.elapsed().as_secs_f64() * 1e3 / 200.0;

    let run = refresh_all(&s, "bench_refresh_", due);
    let rate = run.rate(due);
    report(&format!(
        "{due} due grants refreshed end to end (sweep -> queue -> DO -> fake platform -> D1) in {:.1} s: {rate:.1} refreshes/s",
        run.took.as_secs_f64()
    ));
    report(&format!(
        "where the time goes: the sweep's first invocation answered in {:.2} s, the first refresh reached the platform at {:.2} s; {:.1} ms per refresh over the run, against {:.2} ms per D1 round trip, {:.2} ms per bare DO round trip (from outside, HTTP included) and {:.2} ms per loopback fetch, each measured alone in this run",
        run.sweep_answered.as_secs_f64(),
        run.first_refresh.unwrap_or_default().as_secs_f64(),
        run.took.as_secs_f64() * 1e3 / due as f64,
        d1_ms,
        object_ms,
        1e3 / sequential
    ));
    let ratio = rate / sequential;
    report(&format!(
        "refreshes / sequential loopback fetches: {:.1} %; target >= 25 %: {} (against ten at a time: {:.1} %)",
        ratio * 100.0,
        if ratio >= 0.25 { "met" } else { "MISSED" },
        rate / parallel * 100.0
    ));
    report(&format!("gates: {}", run.gates(due)));
    run.assert_gates(due);
}

/// The queue consumers against a platform's latency: every fake platform answer waits
/// `EVERGREEN_BENCH_DELAY_MS` (150 by default), and rounds alternate between the consumers
/// working a batch one message after another (`QUEUE_LANES=1`, how they worked before lanes)
/// and in lanes (`QUEUE_LANES=6`), each round on a fresh runtime, so both meet the same machine.
#[test]
#[ignore = "a benchmark: scripts/bench runs it on the test build"]
fn refresh_under_latency() {
    let due: usize = number_from_env("EVERGREEN_BENCH_LATENCY_GRANTS", 1_000);
    let delay_ms: u64 = number_from_env("EVERGREEN_BENCH_DELAY_MS", 150);
    let rounds: usize = number_from_env("EVERGREEN_BENCH_ROUNDS", 3);
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (which, lanes) in [(0, "1"), (1, "6")] {
            let s = Stack::start_with("bench-latency", |_| {
                vec![("QUEUE_LANES".to_owned(), lanes.to_owned())]
            });
            let tenant = Tenant::new(&s, "Bench");
            let prefix = format!("bench_latency_{round}_{lanes}_");
            seed_due(&s, &tenant, &prefix, due);
            s.fake.set_answer_delay(Duration::from_millis(delay_ms));
            let run = refresh_all(&s, &prefix, due);
            let rate = run.rate(due);
            report(&format!(
                "round {}: QUEUE_LANES={lanes}: {due} due grants, {delay_ms} ms per platform answer: {:.1} s, {rate:.1} refreshes/s; gates: {}",
                round + 1,
                run.took.as_secs_f64(),
                run.gates(due)
            ));
            run.assert_gates(due);
            rates[which].push(rate);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        }
    };
    let (one, lanes) = (median(&mut rates[0]), median(&mut rates[1]));
    let ratio = lanes / one;
    report(&format!(
        "in lanes / one after another, {delay_ms} ms per platform answer: {lanes:.2} / {one:.2} refreshes/s = {ratio:.2}x (medians of {rounds} interleaved rounds); target >= 4x: {}",
        if ratio >= 4.0 { "met" } else { "MISSED" }
    ));
}
