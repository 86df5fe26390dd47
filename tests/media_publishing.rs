//! Media publishing under `wrangler dev`: images on X, LinkedIn and Facebook Pages, and the
//! asynchronous platforms (Instagram containers, TikTok publish ids, YouTube's resumable
//! upload), against the fake platform and its media host. Every test counts the fake's posts:
//! each post reaches each platform exactly once, or deliberately not at all.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ledger::serial;
use common::tenants::{create_post, Tenant};
use common::x_flow::{connect, connect_at, connect_x_linkedin_facebook};
use common::Stack;
use evergreen_fake_platform::{google, instagram, tiktok, PublishFault};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

const PUBLISH: &str =
    "max_attempts=3,retry_first_secs=1,retry_max_secs=2,stagger_secs=3,timeout_secs=3,lease_secs=20";
/// Polls a second or two apart, four at most; two uploads a day; unconfirmed settles in 4 s.
const MEDIA: &str = "poll_first_secs=1,poll_max_secs=2,max_polls=4,youtube_daily_units=4000,\
    youtube_upload_units=1600,confirm_window_secs=4";
const WAIT: Duration = Duration::from_secs(60);

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_with("media", |_| {
            vec![
                ("PUBLISH".into(), PUBLISH.into()),
                ("MEDIA".into(), MEDIA.into()),
            ]
        })
    })
}

/// A file on the fake's media host: `bytes` long, served as `content_type`.
fn media(name: &str, content_type: &str, bytes: u64) -> Value {
    let kind = if content_type.starts_with("video/") {
        "video"
    } else {
        "image"
    };
    let mut m = json!({
        "url": format!("https://media.example.test/{name}?bytes={bytes}&type={content_type}"),
        "kind": kind,
        "content_type": content_type,
        "size_bytes": bytes,
    });
    if kind == "video" {
        m["duration_secs"] = json!(12.5);
    }
    m
}

/// Creates a post and answers its id.
fn publish(s: &Stack, tenant: &Tenant<'_>, key: &str, body: Value) -> String {
    let made = create_post(s, tenant, key, &body);
    assert_eq!(made.status, 201, "{made:?}");
    made.body["id"].as_str().unwrap().to_owned()
}

fn target(tenant: &Tenant<'_>, post: &str, connection: &str) -> Value {
    let shown = tenant.get(&format!("/v1/posts/{post}"));
    assert_eq!(shown.status, 200, "{shown:?}");
    shown.body["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["connection_id"] == connection)
        .cloned()
        .unwrap_or_else(|| panic!("no target for {connection}"))
}

/// Waits until the target is in `state` (and, when given, has `reason`).
fn wait_for(
    s: &Stack,
    tenant: &Tenant<'_>,
    post: &str,
    connection: &str,
    state: &str,
    reason: Option<&str>,
) -> Value {
    s.worker.eventually(
        WAIT,
        &format!("{connection} to be {state} {reason:?}"),
        || {
            let t = target(tenant, post, connection);
            let reason_matches = match reason {
                Some(r) => t["reason"] == r,
                None => true,
            };
            (t["state"] == state && reason_matches).then_some(t)
        },
    )
}

#[test]
fn media_that_a_platform_cannot_take_is_refused_up_front_with_the_limit_named() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "media-checks");
    let x = connect(s, &tenant, "u-checks", "checks_x");
    let ig = connect_at(
        s,
        &tenant,
        "instagram",
        instagram::AUTHORIZE_PATH,
        "u-checks",
        "checks_ig",
    )[0]
    .clone();
    let refused = |body: Value, needle: &str| {
        let key: String = needle.chars().filter(char::is_ascii_alphanumeric).collect();
        let answer = create_post(s, &tenant, &format!("checks-{key}"), &body);
        assert_eq!(answer.status, 422, "{answer:?}");
        assert_eq!(answer.body["error"]["code"], "not_publishable");
        let message = answer.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{needle:?} in {message}");
    };
    refused(
        json!({"text": "a clip", "connection_ids": [x], "media": [media("c.mp4", "video/mp4", 100)]}),
        "X takes no video",
    );
    refused(
        json!({"text": "words only", "connection_ids": [ig]}),
        "Instagram takes no post without media",
    );
    refused(
        json!({"text": "a png", "connection_ids": [ig], "media": [media("a.png", "image/png", 100)]}),
        "image/jpeg",
    );
    refused(
        json!({"text": "big", "connection_ids": [x], "media": [media("b.jpg", "image/jpeg", 6 << 20)]}),
        "up to 5 MB",
    );
    let bad = create_post(
        s,
        &tenant,
        "checks-http",
        &json!({"text": "t", "connection_ids": [x], "media": [{"url": "http://media.example.test/a.jpg", "kind": "image", "content_type": "image/jpeg", "size_bytes": 1}]}),
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(s.fake.posts_with_text("a clip").is_empty());
}

#[test]
fn an_image_reaches_x_linkedin_and_a_facebook_page_once_each() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "images");
    let [x, li, fb] = connect_x_linkedin_facebook(s, &tenant, "u-img", "img", "Image Bakery");
    let text = "Sourdough, pictured";
    let image = media("loaf.jpg", "image/jpeg", 2_048);
    let id = publish(
        s,
        &tenant,
        "images-1",
        json!({"text": text, "connection_ids": [x, li, fb], "media": [image]}),
    );
    for c in [&x, &li, &fb] {
        wait_for(s, &tenant, &id, c, "published", None);
    }
    let mut made: Vec<(String, Vec<String>)> = s
        .fake
        .posts_with_text(text)
        .into_iter()
        .map(|p| (p.platform.to_owned(), p.media))
        .collect();
    made.sort();
    assert_eq!(
        made,
        [
            (
                "facebook".into(),
                vec![image["url"].as_str().unwrap().to_owned()]
            ),
            ("linkedin".into(), vec!["image:2048".to_owned()]),
            ("x".into(), vec!["image:2048".to_owned()]),
        ],
        "X and LinkedIn got the uploaded bytes; Facebook fetched the URL itself"
    );
}

#[test]
fn an_instagram_container_is_followed_to_a_post_and_the_daily_cap_defers_the_next() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "instagram-media");
    let ig = connect_at(
        s,
        &tenant,
        "instagram",
        instagram::AUTHORIZE_PATH,
        "u-ig",
        "ig_media",
    )[0]
    .clone();
    s.fake.set_container_polls(2);
    let text = "Croissants, in a reel";
    let id = publish(
        s,
        &tenant,
        "ig-1",
        json!({"text": text, "connection_ids": [ig], "media": [media("reel.mp4", "video/mp4", 4_096)]}),
    );
    let done = wait_for(s, &tenant, &id, &ig, "published", None);
    let made = s.fake.posts_with_text(text);
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(done["platform_post_id"], made[0].id.as_str());
    assert_eq!(made[0].platform, "instagram");

    // The account has used its 100 API posts of the last 24 hours: the next waits, with why.
    let account = tenant.connection(&ig)["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.fake.set_instagram_usage(&account, 100);
    let capped_text = "One too many";
    let capped = publish(
        s,
        &tenant,
        "ig-2",
        json!({"text": capped_text, "connection_ids": [ig], "media": [media("p.jpg", "image/jpeg", 1_024)]}),
    );
    let waiting = wait_for(
        s,
        &tenant,
        &capped,
        &ig,
        "queued",
        Some("publishing_cap_reached"),
    );
    let why = waiting["last_error"].as_str().unwrap_or("");
    assert!(why.contains("100 of 100"), "{why}");
    assert!(s.fake.posts_with_text(capped_text).is_empty());
    s.fake.set_instagram_usage(&account, 0);
    s.fake.set_container_polls(0);
}

#[test]
fn an_instagram_container_that_never_finishes_fails_with_its_reason_and_posts_nothing() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "instagram-stuck");
    let ig = connect_at(
        s,
        &tenant,
        "instagram",
        instagram::AUTHORIZE_PATH,
        "u-stuck",
        "ig_stuck",
    )[0]
    .clone();
    s.fake.set_container_polls(u32::MAX);
    let text = "A reel that never renders";
    let id = publish(
        s,
        &tenant,
        "stuck-1",
        json!({"text": text, "connection_ids": [ig], "media": [media("stuck.mp4", "video/mp4", 4_096)]}),
    );
    let failed = wait_for(s, &tenant, &id, &ig, "failed", Some("processing_timeout"));
    let why = failed["last_error"].as_str().unwrap_or("");
    assert!(
        why.contains("after 4 checks") && why.contains("nothing was published"),
        "{why}"
    );
    assert!(s.fake.posts_with_text(text).is_empty());
    s.fake.set_container_polls(0);
}

#[test]
fn a_tiktok_video_is_followed_from_its_publish_id_and_an_unaudited_app_is_told_to_post_privately() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "tiktok-media");
    let tt = connect_at(
        s,
        &tenant,
        "tiktok",
        tiktok::AUTHORIZE_PATH,
        "u-tt",
        "tt_media",
    )[0]
    .clone();
    s.fake.set_tiktok_polls(2);
    let text = "Kneading, at speed";
    let id = publish(
        s,
        &tenant,
        "tt-1",
        json!({"text": text, "connection_ids": [tt], "media": [media("knead.mp4", "video/mp4", 8_192)]}),
    );
    let done = wait_for(s, &tenant, &id, &tt, "published", None);
    let made = s.fake.posts_with_text(text);
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        done["platform_post_id"],
        made[0].id.as_str(),
        "the public post id, not the publish id"
    );

    s.fake.set_tiktok_unaudited(true);
    let private_text = "Public, said nobody";
    let refused = publish(
        s,
        &tenant,
        "tt-2",
        json!({"text": private_text, "connection_ids": [tt], "media": [media("k2.mp4", "video/mp4", 8_192)]}),
    );
    let failed = wait_for(
        s,
        &tenant,
        &refused,
        &tt,
        "failed",
        Some("platform_refused"),
    );
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("tiktok_private=1"),
        "{failed}"
    );
    assert!(s.fake.posts_with_text(private_text).is_empty());
    s.fake.set_tiktok_unaudited(false);
    s.fake.set_tiktok_polls(0);
}

#[test]
fn a_youtube_upload_cut_off_midway_resumes_without_resending_and_the_quota_defers_the_third() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "youtube-media");
    let yt = connect_at(
        s,
        &tenant,
        "youtube",
        google::AUTHORIZE_PATH,
        "u-yt",
        "yt_media",
    )[0]
    .clone();
    s.fake.set_processing_polls(1);
    let kept_before = s.fake.upload_bytes_kept();
    s.fake.cut_next_upload_after(1_500);
    let text = "How we bake, the long version";
    let id = publish(
        s,
        &tenant,
        "yt-1",
        json!({"text": text, "connection_ids": [yt], "media": [media("long.mp4", "video/mp4", 5_000)]}),
    );
    let done = wait_for(s, &tenant, &id, &yt, "published", None);
    let made = s.fake.posts_with_text("How we bake, the long version");
    assert_eq!(made.len(), 1, "one video: {made:?}");
    assert_eq!(made[0].media, ["video:5000:video/mp4:intact"]);
    assert_eq!(done["platform_post_id"], made[0].id.as_str());
    assert_eq!(
        s.fake.upload_bytes_kept() - kept_before,
        5_000,
        "the second request carried only the 3,500 bytes YouTube did not have"
    );
    assert!(
        s.fake.media_reads("long.mp4") >= 2,
        "the rest was read again as a range"
    );

    // A second upload fits today's 4,000 units; a third (1,600 more) does not.
    let second = publish(
        s,
        &tenant,
        "yt-2",
        json!({"text": "Second video", "connection_ids": [yt], "media": [media("two.mp4", "video/mp4", 2_000)]}),
    );
    wait_for(s, &tenant, &second, &yt, "published", None);
    let third = publish(
        s,
        &tenant,
        "yt-3",
        json!({"text": "Third video", "connection_ids": [yt], "media": [media("three.mp4", "video/mp4", 2_000)]}),
    );
    let deferred = wait_for(s, &tenant, &third, &yt, "queued", Some("quota_deferred"));
    let why = deferred["last_error"].as_str().unwrap_or("");
    assert!(why.contains("midnight Pacific"), "{why}");
    assert!(s.fake.posts_with_text("Third video").is_empty());
    assert_eq!(
        s.fake.media_reads("three.mp4"),
        0,
        "nothing was read for a deferred upload"
    );
    s.fake.set_processing_polls(0);
}

#[test]
fn an_unclear_answer_on_x_settles_itself_as_failed_when_the_post_never_appears() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "recheck");
    let x = connect(s, &tenant, "u-recheck", "recheck_x");
    s.fake.inject_publish_fault(PublishFault::ServerErrorBefore);
    let text = "Did this go out?";
    let id = publish(
        s,
        &tenant,
        "recheck-1",
        json!({"text": text, "connection_ids": [x]}),
    );
    let unclear = wait_for(s, &tenant, &id, &x, "unconfirmed", Some("ambiguous"));
    assert!(
        unclear["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("looks again"),
        "{unclear}"
    );
    // The minute dispatch looks again; past the 4 s window, still absent, it failed.
    let failed = s.worker.eventually(WAIT, "the recheck to settle it", || {
        s.worker.run_cron("* * * * *");
        let t = target(&tenant, &id, &x);
        (t["state"] == "failed").then_some(t)
    });
    assert_eq!(failed["reason"], "not_on_platform", "{failed}");
    assert!(s.fake.posts_with_text(text).is_empty());
}
