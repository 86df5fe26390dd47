//! Unconfirmed targets settle themselves where the platform allows: one whose platform lists
//! the account's recent posts (X, Facebook, Instagram) is looked up again, with backoff, for
//! `MEDIA confirm_window_secs` after its send. Found, it is published; still not there when the
//! window closes, it failed (the platform shows what it took within minutes, links rewritten
//! aside, which the comparison ignores), and retry sends it again. A platform with no lookup
//! (LinkedIn, TikTok without a publish id) leaves it to a person.
//!
//! The writes are conditional on the target still being unconfirmed, so a person resolving it
//! meanwhile wins.

use super::claim::{find_on_platform, token_of, Token};
use super::dispatch::PAGE;
use super::settle::{settle, Settle};
use super::target::load;
use crate::core::common::clock::Timestamp;
use crate::core::publish::posts::TargetState;
use crate::core::publish::publish_dialect::Lookup;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::http::respond::Handled;
use crate::edge::http::respond::Internal;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};

/// One pass over the unconfirmed targets due a look.
// Exception to the 80-line limit: one pass over unconfirmed targets: look, then settle or schedule the next look.
#[allow(clippy::too_many_lines)]
pub async fn recheck(cx: &Context, now: Timestamp) -> Handled<Value> {
    let db = cx.db()?;
    #[derive(Deserialize)]
    struct Due {
        id: String,
    }
    let due: Vec<Due> = db.all(store::targets::due_for_recheck(now, PAGE)).await?;
    let settings = cx.settings().media;
    let catalogue = cx.catalogue().map_err(Internal::Config)?;
    let (mut published, mut failed) = (0, 0);
    for d in due {
        let Some(target) = load(&db, &d.id).await? else {
            continue;
        };
        let Some(spec) = catalogue.resolve(&target.provider) else {
            continue;
        };
        let Some(publish) = spec.publish.as_ref() else {
            continue;
        };
        let sent = time(target.sent_at.unwrap_or(target.not_before));
        let window_closed =
            now.as_millis() - sent.as_millis() >= i64::from(settings.confirm_window_secs) * 1_000;
        let author = target.author();
        let found = match token_of(cx, &target, false).await? {
            Token::Ready(token, _) => {
                find_on_platform(
                    cx,
                    publish,
                    &author,
                    &token,
                    &target.text,
                    sent.plus_millis(-5_000),
                )
                .await
            }
            _ => Err("no token to look with".into()),
        };
        let from: &[TargetState] = &[TargetState::Unconfirmed];
        match (found, window_closed) {
            (Ok(Lookup::Found(id)), _) => {
                let settled = settle(
                    cx,
                    &db,
                    &target,
                    Settle {
                        state: TargetState::Published,
                        message: "Published (found on the platform when looked up again).".into(),
                        platform_post_id: Some(&id),
                        from,
                        ..Settle::default()
                    },
                    now,
                )
                .await?;
                published += usize::from(settled);
            }
            (Ok(Lookup::NotFound), true) => {
                let settled = settle(
                    cx,
                    &db,
                    &target,
                    Settle {
                        state: TargetState::Failed,
                        reason: "not_on_platform",
                        message: format!(
                            "The post was still not among the account's recent posts {} minutes \
                             after it was sent, so the platform did not take it. Retry the post \
                             to send it again.",
                            settings.confirm_window_secs / 60
                        ),
                        from,
                        ..Settle::default()
                    },
                    now,
                )
                .await?;
                failed += usize::from(settled);
            }
            (_, closed) => {
                // Not found yet, or the lookup could not say: again later, or (window closed,
                // nothing could be read) left to a person.
                let next = if closed {
                    None
                } else {
                    let waited = (now.as_millis() - sent.as_millis()).max(1_000) / 1_000;
                    let secs =
                        (waited as u32).clamp(settings.poll_first_secs, settings.poll_max_secs);
                    Some(now.plus_millis(i64::from(secs) * 1_000))
                };
                db.write(store::targets::set_recheck(&target.id, next))
                    .await?;
            }
        }
    }
    Ok(json!({ "posts_confirmed": published, "posts_not_on_platform": failed }))
}
