//! The statement registry's tests: every statement the store has is executed by a scenario,
//! and every statement written in `src/store/` is in the registry.

use super::sqlite::Sqlite;
use super::{
    connections_tests, erasure_tests, grants_tests, operations_tests, posts_tests, reads_tests,
    registry, sessions_tests, sweep, targets_tests, tenants, test_powers_tests, webhooks_tests,
};
use std::collections::BTreeSet;

/// A named scenario: statements run against a fresh database, with their results asserted.
type Scenario = (&'static str, fn(&Sqlite));

/// Each module's scenarios, each on a fresh database.
const SCENARIOS: &[Scenario] = &[
    ("tenants_and_keys", tenants::tests::tenants_and_keys),
    (
        "return_urls_and_clients",
        tenants::tests::return_urls_and_clients,
    ),
    ("grant_insert_and_read", grants_tests::insert_and_read),
    ("grant_claim", grants_tests::claim),
    ("sweep_pages_and_leases", sweep::tests::pages_and_leases),
    ("grant_refresh_cas", grants_tests::refresh_compare_and_set),
    ("grant_failures_and_death", grants_tests::failures_and_death),
    (
        "grant_review_and_validation",
        grants_tests::review_and_validation,
    ),
    (
        "grant_restore_reseal_disconnect",
        grants_tests::restore_reseal_disconnect,
    ),
    ("connections_lifecycle", connections_tests::lifecycle),
    ("events_and_outbox", connections_tests::events_and_outbox),
    ("targets_claim_and_settle", targets_tests::claim_and_settle),
    (
        "targets_reconcile_resume_recheck",
        targets_tests::reconcile_resume_recheck,
    ),
    ("operations_quotas", targets_tests::quotas),
    ("operations_housekeeping", operations_tests::housekeeping),
    (
        "operations_operator_tables",
        operations_tests::operator_tables,
    ),
    (
        "erasure_end_user_then_tenant",
        erasure_tests::end_user_then_tenant,
    ),
    ("test_powers", test_powers_tests::test_powers),
    ("test_powers_spike", test_powers_tests::spike),
    ("posts_create_and_read", posts_tests::create_and_read),
    ("posts_retry", posts_tests::retry),
    ("posts_preflight", posts_tests::preflight),
    (
        "sessions_connect_and_oauth",
        sessions_tests::connect_and_oauth,
    ),
    ("sessions_pages", sessions_tests::pages),
    (
        "reads_connections_for_api_and_page",
        reads_tests::connections_for_api_and_page,
    ),
    ("reads_grants_by_account", reads_tests::grants_by_account),
    (
        "webhooks_endpoints_and_deliveries",
        webhooks_tests::endpoints_and_deliveries,
    ),
    (
        "reads_page_posts_and_deletions",
        reads_tests::page_posts_and_deletions,
    ),
];

fn registered() -> BTreeSet<&'static str> {
    registry().iter().map(|s| s.name).collect()
}

#[test]
fn every_registered_statement_is_executed_by_a_scenario() {
    let mut executed = BTreeSet::new();
    for (_, scenario) in SCENARIOS {
        let db = Sqlite::migrated();
        scenario(&db);
        executed.extend(db.executed());
    }
    let never: Vec<_> = registered().difference(&executed).copied().collect();
    assert!(never.is_empty(), "statements no test executes: {never:?}");
}

#[test]
fn every_statement_in_the_store_is_registered_once() {
    let names: Vec<_> = registry().iter().map(|s| s.name).collect();
    let unique: BTreeSet<_> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len(), "a statement is registered twice");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut written = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n == "sqlite.rs" || n == "coverage.rs")
        {
            continue; // the executor's own tests use `test.*` statements
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for piece in text.split("= Sql {").skip(1) {
            let name = piece
                .split("name: \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a Sql without a name in {}", path.display()));
            written.insert(name.to_owned());
        }
    }
    let registered: BTreeSet<String> = unique.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = written.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "statements not in store::registry(): {missing:?}"
    );
}

/// Every statement's name and text, one per line, for `scripts/query-plans` (which asks local
/// D1 for their plans): the store's own statements, never a copy.
#[test]
#[ignore = "run by scripts/query-plans"]
fn print_every_statement() {
    for sql in registry() {
        let text: String = sql.text.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("STATEMENT\t{}\t{}", sql.name, text);
    }
}
