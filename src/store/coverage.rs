//! The statement registry's tests: every statement the store has is executed by a scenario,
//! and every statement written in `src/store/` is in the registry.

use super::sqlite::Sqlite;
use super::{
    connections_tests, erasure_tests, grants_tests, operations_tests, pages_tests, posts_tests,
    reads_tests, registry, sessions_tests, sweep, targets_tests, tenants, test_powers_tests,
    webhooks_tests,
};
use std::collections::BTreeSet;

/// A named scenario: statements run against a fresh database, with their results asserted.
type Scenario = (&'static str, fn(&Sqlite));

/// Each module's scenarios: every one runs in the coverage test below, and as a named test of
/// its own (the name says what it proves; `scripts/store-mutants` names them).
macro_rules! scenarios {
    ($($test:ident => $scenario:path,)*) => {
        const SCENARIOS: &[Scenario] = &[$((stringify!($test), $scenario)),*];
        $(
            #[test]
            fn $test() {
                $scenario(&Sqlite::migrated());
            }
        )*
    };
}

scenarios! {
    tenants_and_keys_are_stored_as_the_api_needs => tenants::tests::tenants_and_keys,
    return_urls_and_own_clients_are_replaced_whole => tenants::tests::return_urls_and_clients,
    a_grant_is_inserted_once_and_read_back_typed => grants_tests::insert_and_read,
    the_refresh_claim_has_one_holder => grants_tests::claim,
    the_sweep_pages_by_cursor_and_leases_what_it_takes => sweep::tests::pages_and_leases,
    a_refresh_lands_once_on_the_version_read => grants_tests::refresh_compare_and_set,
    failures_back_off_and_death_ends_the_checks => grants_tests::failures_and_death,
    reviews_write_the_ledger_and_validation_clears_failures => grants_tests::review_and_validation,
    reconnect_reseal_and_disconnect_write_only_the_row_as_read => grants_tests::restore_reseal_disconnect,
    connections_are_stored_lost_restored_and_disconnected_under_the_grants_version => connections_tests::lifecycle,
    events_fan_out_once_guarded_and_reach_the_outbox => connections_tests::events_and_outbox,
    a_claimed_target_is_written_only_under_its_lease => targets_tests::claim_and_settle,
    the_reconciler_tells_a_claim_that_never_sent_from_one_that_may_have => targets_tests::reconcile_resume_recheck,
    a_days_quota_is_spent_within_its_limit_or_not_at_all => targets_tests::quotas,
    housekeeping_removes_only_what_expired_in_foreign_key_order => operations_tests::housekeeping,
    operator_tables_keep_one_row_per_job_probe_and_letter => operations_tests::operator_tables,
    erasing_an_end_user_leaves_the_others_and_the_tenant_goes_last => erasure_tests::end_user_then_tenant,
    test_powers_write_through_the_object_statements => test_powers_tests::test_powers,
    the_spike_probe_swaps_its_version_once => test_powers_tests::spike,
    a_post_and_its_targets_are_stored_once_per_key_and_read_for_their_tenant => posts_tests::create_and_read,
    retry_moves_only_the_states_the_api_may_move => posts_tests::retry,
    the_preflight_brings_the_check_forward_and_clears_what_it_satisfies => posts_tests::preflight,
    connect_and_oauth_sessions_open_and_are_consumed_once => sessions_tests::connect_and_oauth,
    a_page_link_opens_one_session_for_a_live_tenant => sessions_tests::pages,
    connection_reads_answer_for_their_tenant_and_end_user => reads_tests::connections_for_api_and_page,
    grants_are_found_by_account_as_a_consent_and_a_platform_need => reads_tests::grants_by_account,
    webhook_deliveries_move_only_while_pending_and_stay_in_their_tenant => webhooks_tests::endpoints_and_deliveries,
    a_secret_rotates_only_as_read_and_the_replaced_one_ends_with_its_overlap => webhooks_tests::rotation,
    the_pages_lists_and_ownership_checks_hold => reads_tests::page_posts_and_deletions,
    connection_colours_in_sql_are_the_cores => pages_tests::colour_in_sql_is_the_cores,
    seeding_writes_what_it_says_and_plans_read_through_d1 => super::seeding::tests::seeds_and_plans,
    the_red_filter_reads_indexes_not_the_tenant => pages_tests::the_red_filter_reads_indexes_not_the_tenant,
}

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
