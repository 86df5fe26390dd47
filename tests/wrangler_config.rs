//! `wrangler.toml` agrees with the code: every queue has its consumer and dead-letter consumer
//! with explicit settings, the crons are the ones the code runs, and the bindings exist.
#![cfg(not(target_arch = "wasm32"))]

use evergreen::core::common::cron::CronJob;
use evergreen::core::common::lanes::OUTGOING_LIMIT;
use evergreen::core::common::queues::WorkQueue;
use toml::Value;

/// The checkout under test: cargo's `CARGO_MANIFEST_DIR` for this process, which wins over the
/// path compiled in (another checkout may have compiled this binary; see `tests/common`).
fn root() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn config() -> Value {
    let text = std::fs::read_to_string(root().join("wrangler.toml")).unwrap();
    text.parse().unwrap()
}

fn table_array<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

#[test]
fn the_crons_are_exactly_the_jobs_the_code_runs() {
    let config = config();
    let mut crons: Vec<&str> = table_array(&config, &["triggers", "crons"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    let mut expected: Vec<&str> = CronJob::ALL.iter().map(|j| j.cron()).collect();
    crons.sort_unstable();
    expected.sort_unstable();
    assert_eq!(crons, expected);
}

#[test]
fn every_work_queue_has_a_producer_a_consumer_and_a_consumed_dead_letter_queue() {
    let config = config();
    let producers = table_array(&config, &["queues", "producers"]);
    let consumers = table_array(&config, &["queues", "consumers"]);
    let consumer = |name: &str| {
        consumers
            .iter()
            .find(|c| c["queue"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no consumer for {name}"))
    };
    for q in WorkQueue::ALL {
        assert!(
            producers
                .iter()
                .any(|p| p["queue"].as_str() == Some(q.queue_name())
                    && p["binding"].as_str() == Some(q.binding())),
            "no producer {} for {}",
            q.binding(),
            q.queue_name()
        );
        let work = consumer(q.queue_name());
        for key in ["max_batch_size", "max_batch_timeout", "max_retries"] {
            assert!(
                work.get(key).is_some(),
                "{} has no explicit {key}",
                q.queue_name()
            );
        }
        // A batch is worked in waves of at most OUTGOING_LIMIT lanes: a size that is not a
        // multiple leaves lanes idle in the last wave, which takes as long as a full one.
        let size = work["max_batch_size"].as_integer().unwrap_or(0) as usize;
        assert!(
            size > 0 && size.is_multiple_of(OUTGOING_LIMIT),
            "{}: max_batch_size {size} is not a whole number of waves of {OUTGOING_LIMIT}",
            q.queue_name()
        );
        assert_eq!(
            work["dead_letter_queue"].as_str(),
            Some(q.dead_letter_queue_name())
        );
        let dead = consumer(q.dead_letter_queue_name());
        assert!(dead.get("max_retries").is_some());
    }
    assert_eq!(
        consumers.len(),
        2 * WorkQueue::ALL.len(),
        "a consumer for an unknown queue"
    );
}

#[test]
fn the_grant_object_is_sqlite_backed_and_d1_has_its_migrations() {
    let config = config();
    let objects = table_array(&config, &["durable_objects", "bindings"]);
    assert!(objects
        .iter()
        .any(|b| b["name"].as_str() == Some("GRANT_OBJECTS")
            && b["class_name"].as_str() == Some("GrantObject")));
    let migrations = table_array(&config, &["migrations"]);
    assert!(migrations
        .iter()
        .any(|m| table_array(m, &["new_sqlite_classes"])
            .iter()
            .any(|c| c.as_str() == Some("GrantObject"))));
    let d1 = table_array(&config, &["d1_databases"]);
    let db = d1
        .iter()
        .find(|d| d["binding"].as_str() == Some("DB"))
        .expect("a DB binding");
    let dir = db["migrations_dir"].as_str().expect("migrations_dir");
    let sql = std::fs::read_to_string(root().join(dir).join("0001_initial.sql")).unwrap();
    assert!(
        sql.contains("ON grants (next_check_at)"),
        "the sweep's index is missing"
    );
}

#[test]
fn the_webhook_queue_allows_more_retries_than_a_delivery_window_needs() {
    use evergreen::core::webhooks::webhook_retry::{RetryPolicy, QUEUE_MAX_RETRIES};
    let c = config();
    let consumer = table_array(&c, &["queues", "consumers"])
        .into_iter()
        .find(|q| q["queue"].as_str() == Some(WorkQueue::Webhooks.queue_name()))
        .expect("the webhook queue's consumer");
    let max_retries = consumer["max_retries"].as_integer().unwrap();
    assert_eq!(max_retries, i64::from(QUEUE_MAX_RETRIES));
    assert!(i64::from(RetryPolicy::default().retries_needed()) < max_retries);
}

#[test]
fn the_tenant_rate_limit_binding_counts_over_the_period_the_code_announces() {
    let config = config();
    let limits = table_array(&config, &["ratelimits"]);
    let tenant = limits
        .iter()
        .find(|l| l["name"].as_str() == Some("TENANT_RATE_LIMIT"))
        .expect("a [[ratelimits]] binding named TENANT_RATE_LIMIT");
    assert_eq!(
        tenant["simple"]["period"].as_integer(),
        Some(i64::from(
            evergreen::core::tenancy::rate_limit::PERIOD_SECONDS
        )),
        "Retry-After announces PERIOD_SECONDS; the binding must count over the same period"
    );
    assert!(tenant["simple"]["limit"].as_integer().unwrap_or(0) > 0);
    assert!(tenant["namespace_id"]
        .as_str()
        .is_some_and(|id| id.parse::<u64>().is_ok_and(|n| n > 0)));
}

/// What `wrangler deploy` may bind in production, exactly: anything else (a test-only
/// variable such as `FAKE_PLATFORM_URL`, a forgotten `[vars]` entry) fails this test.
/// Secrets are set with `wrangler secret put` and are not listed by a dry run.
const RELEASE_BINDINGS: [(&str, &str); 6] = [
    ("GRANT_OBJECTS", "Durable Object"),
    ("REFRESH_QUEUE", "Queue"),
    ("PUBLISH_QUEUE", "Queue"),
    ("WEBHOOK_QUEUE", "Queue"),
    ("DB", "D1 Database"),
    ("TENANT_RATE_LIMIT", "Rate Limit"),
];

/// The bindings table `wrangler deploy --dry-run` printed: (name, resource kind).
fn dry_run_bindings(output: &str) -> Vec<(String, String)> {
    let plain: String = {
        // Strip terminal colour codes, should any be there.
        let mut out = String::new();
        let mut chars = output.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let table = plain
        .split("Your Worker has access to the following bindings:")
        .nth(1)
        .unwrap_or_else(|| panic!("no bindings table in the dry run's output:\n{plain}"));
    table
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty() || l.starts_with("Binding"))
        .take_while(|l| l.starts_with("env."))
        .map(|l| {
            let name = l["env.".len()..]
                .split([' ', '('])
                .next()
                .unwrap_or_default()
                .to_owned();
            let kind = l.rsplit("  ").next().unwrap_or_default().trim().to_owned();
            (name, kind)
        })
        .collect()
}

#[test]
fn the_release_deploy_binds_exactly_the_allow_list() {
    let root = root();
    // scripts/test writes this when it makes the release bundle, and scripts/integration
    // before any runtime starts. Not here: making it rebuilds build/ as the release flavour,
    // under the runtimes of the binaries running beside this one.
    let saved = root.join("target/release-deploy/dry-run.txt");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = modified(&saved) >= modified(&root.join("wrangler.toml"));
    let output = std::fs::read_to_string(&saved)
        .ok()
        .filter(|_| fresh)
        .unwrap_or_else(|| {
            panic!(
                "{} is missing or older than wrangler.toml: run this through scripts/integration \
                 or scripts/test, which make it",
                saved.display()
            )
        });
    let mut bound = dry_run_bindings(&output);
    bound.sort();
    let mut allowed: Vec<(String, String)> = RELEASE_BINDINGS
        .iter()
        .map(|(n, k)| ((*n).to_owned(), (*k).to_owned()))
        .collect();
    allowed.sort();
    assert_eq!(bound, allowed, "the release deploy's bindings");
}

#[test]
fn the_bindings_table_is_read_as_wrangler_prints_it() {
    let printed = "Total Upload: 1 KiB\nYour Worker has access to the following bindings:\n\
        Binding                                         Resource            \n\
        env.DB (evergreen)                              D1 Database         \n\
        env.FAKE_PLATFORM_URL (\"http://127.0.0.1:8790\")  Environment Variable\n\
        \n--dry-run: exiting now.\n";
    assert_eq!(
        dry_run_bindings(printed),
        [
            ("DB".to_owned(), "D1 Database".to_owned()),
            (
                "FAKE_PLATFORM_URL".to_owned(),
                "Environment Variable".to_owned()
            )
        ]
    );
}
