//! Lists page by cursor under `wrangler dev` (issue 33): thousands of connections seeded through
//! a test power are walked page by page with none missing or repeated while rows are added and
//! turn red; the red filter finds its few among 10,000 through indexes (D1's own plan); a
//! cursor changed or used elsewhere is refused.
use crate::common::tenants::{bearer, Tenant};
use crate::common::{Answer, Stack};
use crate::stack;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `count` connections of the tenant, named `conn_{batch}{i:06}`, created `base_ms + i`, for
/// end user `seeded-user`.
fn seed(tenant: &Tenant<'_>, batch: &str, count: u32, dead_every: u32, base_ms: i64) {
    tenant.seed_connections(batch, count, dead_every, base_ms, "seeded-user");
}

fn seeded_id(batch: &str, i: u32) -> String {
    format!("conn_{batch}{i:06}")
}

fn lose_access(s: &Stack, tenant: &Tenant<'_>, connection_id: &str) {
    let lost = s.worker.send(
        "POST",
        &format!(
            "/__test/tenants/{}/connections/{connection_id}/access-lost",
            tenant.id
        ),
        Some(&s.operator()),
        &Value::Null,
    );
    assert_eq!(lost.status, 200, "{lost:?}");
}

fn ids(page: &Answer) -> Vec<String> {
    page.body["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("{page:?}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `GET /v1/connections{query}` (which holds `limit`), with `between` called
/// after each page with the page's number (from 1) before the next is read.
fn walk(tenant: &Tenant<'_>, query: &str, mut between: impl FnMut(usize)) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for number in 1.. {
        let path = match &cursor {
            Some(c) => format!("/v1/connections{query}&cursor={c}"),
            None => format!("/v1/connections{query}"),
        };
        let page = tenant.get(&path);
        assert_eq!(page.status, 200, "{path}: {page:?}");
        all.extend(page.body["connections"].as_array().unwrap().iter().cloned());
        between(number);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    all
}

#[test]
fn every_connection_is_listed_once_while_rows_are_added_and_turn_red() {
    let s = stack();
    let tenant = Tenant::new(s, "Walked");
    let start = now_ms() - 86_400_000;
    seed(&tenant, "walk", 2_500, 0, start);
    // Turned red during the walk: some on pages already read, some on pages still ahead.
    let behind = [seeded_id("walk", 3), seeded_id("walk", 150)];
    let ahead = [
        seeded_id("walk", 1_200),
        seeded_id("walk", 2_499),
        seeded_id("walk", 2_500),
    ];
    let listed = walk(&tenant, "?limit=100", |page| match page {
        3 => seed(&tenant, "late", 30, 0, now_ms()),
        5 => {
            for id in behind.iter().chain(&ahead) {
                lose_access(s, &tenant, id);
            }
        }
        _ => {}
    });
    let listed_ids: Vec<String> = listed
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=2_500)
        .map(|i| seeded_id("walk", i))
        .chain((1..=30).map(|i| seeded_id("late", i)))
        .collect();
    assert_eq!(listed_ids.len(), expected.len(), "none missing or repeated");
    assert_eq!(
        listed_ids.iter().collect::<BTreeSet<_>>().len(),
        expected.len(),
        "no connection twice"
    );
    assert_eq!(listed_ids, expected, "oldest first, ties by id");
    // Those ahead of the cursor were read after they turned red.
    for c in listed
        .iter()
        .filter(|c| ahead.contains(&c["id"].as_str().unwrap().to_owned()))
    {
        assert_eq!(c["health"]["colour"], "red", "{c}");
        assert_eq!(c["health"]["reason"], "access_lost", "{c}");
    }
    // The red filter, a page of two at a time, finds all five.
    let red: Vec<String> = walk(&tenant, "?health=red&limit=2", |_| {})
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let mut all_red: Vec<String> = behind.iter().chain(&ahead).cloned().collect();
    all_red.sort();
    assert_eq!(red, all_red);
    // Today's clients, with no parameters, get the first 500 as before, and a cursor.
    let first = tenant.get("/v1/connections");
    assert_eq!(ids(&first), expected[..500]);
    assert!(
        first.body["next_cursor"].is_string(),
        "{:?}",
        first.body["next_cursor"]
    );
}

#[test]
fn the_red_filter_finds_50_among_10_000_through_indexes() {
    let s = stack();
    let tenant = Tenant::new(s, "Ten thousand");
    seed(&tenant, "big", 10_000, 200, now_ms() - 86_400_000);
    let red = walk(&tenant, "?health=red&limit=20", |_| {});
    let red_ids: Vec<String> = red
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=10_000)
        .filter(|i| i % 200 == 0)
        .map(|i| seeded_id("big", i))
        .collect();
    assert_eq!(expected.len(), 50);
    assert_eq!(red_ids, expected);
    for c in &red {
        assert_eq!(c["health"]["colour"], "red", "{c}");
        assert_eq!(c["grant_state"], "dead", "{c}");
    }

    // D1's plan for that filter: the candidates come from indexes, no table is scanned, and
    // only they are sorted.
    let plan = |health: &str| -> Vec<String> {
        let answer = s.worker.get(
            &format!(
                "/__test/tenants/{}/connections-plan?health={health}",
                tenant.id
            ),
            Some(&s.operator()),
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["plan"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| step.as_str().unwrap().to_owned())
            .collect()
    };
    let red_plan = plan("red");
    let steps = red_plan.join("\n");
    assert!(
        !red_plan
            .iter()
            .any(|step| step.starts_with("SCAN") && step != "SCAN r"),
        "no table is scanned:\n{steps}"
    );
    for index in [
        "grants_by_tenant_state",
        "grants_by_tenant_refresh",
        "grants_by_tenant_expiry",
        "connections_by_tenant_access",
    ] {
        assert!(steps.contains(index), "{index} is used:\n{steps}");
    }
    let green_plan = plan("green").join("\n");
    assert!(
        green_plan.contains("USING INDEX connections_by_tenant (tenant_id=? AND"),
        "a green page reads the tenant's index from its position:\n{green_plan}"
    );
    assert!(!green_plan.contains("TEMP B-TREE"), "{green_plan}");
    let green = tenant.get("/v1/connections?health=green&limit=500");
    assert_eq!(ids(&green).len(), 500);
    assert!(green.body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["health"]["colour"] == "green"));
}

#[test]
fn a_cursor_changed_or_used_elsewhere_is_refused() {
    let s = stack();
    let mine = Tenant::new(s, "Cursor owner");
    let other = Tenant::new(s, "Cursor thief");
    seed(&mine, "mine", 5, 0, now_ms() - 60_000);
    seed(&other, "other", 5, 0, now_ms() - 60_000);
    let first = mine.get("/v1/connections?limit=2");
    assert_eq!(ids(&first), [seeded_id("mine", 1), seeded_id("mine", 2)]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let next = mine.get(&format!("/v1/connections?limit=2&cursor={cursor}"));
    assert_eq!(ids(&next), [seeded_id("mine", 3), seeded_id("mine", 4)]);

    // One character of the signed claims changed (not the last one: its low bits may be
    // padding).
    let mut tampered = cursor.clone().into_bytes();
    tampered[8] = if tampered[8] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let refused = |answer: Answer, why: &str| {
        assert_eq!(answer.status, 400, "{why}: {answer:?}");
        assert_eq!(answer.body["error"]["code"], "invalid_request", "{why}");
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cursor"),
            "{why}: {answer:?}"
        );
    };
    refused(
        mine.get(&format!("/v1/connections?limit=2&cursor={tampered}")),
        "changed",
    );
    refused(
        other.get(&format!("/v1/connections?limit=2&cursor={cursor}")),
        "another tenant's",
    );
    refused(
        mine.get(&format!("/v1/connections?health=red&cursor={cursor}")),
        "another filter's",
    );
    refused(
        mine.get(&format!("/v1/posts?cursor={cursor}")),
        "another list's",
    );
    let with_key = s.worker.get(
        &format!("/v1/connections?cursor={cursor}&limit=2"),
        Some(&bearer(&mine.manage)),
    );
    assert_eq!(ids(&with_key), ids(&next), "parameters in any order");
}

/// The targets a connections page lists (`data-target` ids), in order, and its link to the
/// older posts.
fn page_targets(body: &str) -> (Vec<String>, Option<String>) {
    let targets = body
        .split("data-target=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    let older = body
        .split("<a class=\"more\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"));
    (targets, older)
}

#[test]
fn the_connections_page_leads_to_every_post_that_needs_its_end_user() {
    let s = stack();
    let tenant = Tenant::new(s, "Busy page");
    seed(&tenant, "pageuser", 1, 0, now_ms() - 86_400_000);
    let connection = seeded_id("pageuser", 1);
    let seed_posts = |body: Value| {
        s.worker.send(
            "POST",
            &format!(
                "/__test/tenants/{}/connections/{connection}/seeded-posts",
                tenant.id
            ),
            Some(&s.operator()),
            &body,
        )
    };
    let seeded =
        seed_posts(json!({ "batch": "busy", "count": 130, "base_ms": now_ms() - 3_600_000 }));
    assert_eq!(seeded.status, 200, "{seeded:?}");
    assert_eq!(seeded.body["seeded"], 130);
    // The same batch again: its ids are taken, which the test power says instead of a 500.
    let again = seed_posts(json!({ "batch": "busy", "count": 1 }));
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(again.body["error"]["code"], "conflict", "{again:?}");

    let browser = crate::common::browser::Browser::new();
    let opened = browser.get(&tenant.page_link("seeded-user"));
    let first = browser.get(opened.redirect());
    assert_eq!(first.status, 200, "{first:?}");
    let (newest, older) = page_targets(&first.body);
    let expected: Vec<String> = (1..=130).rev().map(|i| format!("tgt_busy{i:06}")).collect();
    assert_eq!(newest, expected[..100], "the newest 100 posts first");
    let older = older.expect("a link to the older posts");
    let second = browser.get(&format!("{}{older}", s.worker.base_url));
    assert_eq!(second.status, 200, "{second:?}");
    let (rest, none) = page_targets(&second.body);
    assert_eq!(rest, expected[100..], "then the 30 older ones");
    assert_eq!(none, None, "and no further link");

    let changed = older.replacen("posts_cursor=", "posts_cursor=x", 1);
    let refused = browser.get(&format!("{}{changed}", s.worker.base_url));
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused
        .body
        .contains("That link to older posts is not valid"));

    // The API lists the same posts, each with its own target (read for a page at once).
    let mut listed: Vec<(String, Vec<Value>)> = Vec::new();
    let mut path = "/v1/posts?limit=100".to_owned();
    loop {
        let page = tenant.get(&path);
        assert_eq!(page.status, 200, "{page:?}");
        for post in page.body["posts"].as_array().unwrap() {
            let targets = post["targets"].as_array().unwrap().clone();
            listed.push((post["id"].as_str().unwrap().to_owned(), targets));
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/posts?limit=100&cursor={cursor}"),
            None => break,
        }
    }
    let posts: Vec<String> = (1..=130)
        .rev()
        .map(|i| format!("post_busy{i:06}"))
        .collect();
    let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, posts, "every post once, newest first, over two pages");
    for ((post, targets), target) in listed.iter().zip(&expected) {
        assert_eq!(targets.len(), 1, "{post}: {targets:?}");
        assert_eq!(targets[0]["id"], *target, "{post}");
        assert_eq!(targets[0]["connection_id"], connection, "{post}");
        assert_eq!(targets[0]["state"], "failed", "{post}");
    }
}
