//! One publish attempt: a message's target claimed, carried out through its platform's
//! dialect, and settled by what the answer proves.

use super::claim::Claim;
use super::dispatch::{send, Delivery, Queued};
use super::target::load;
use super::{attachments, bluesky, instagram, tiktok, youtube};
use crate::core::common::clock::Timestamp;
use crate::core::common::log::LogLine;
use crate::core::oauth::catalogue::PublishDialect;
use crate::core::oauth::managed_accounts::Access;
use crate::core::publish::posts::PublishMessage;
use crate::core::publish::posts::TargetState;
use crate::core::publish::pre_check::{pre_check, PreCheck, TargetFacts};
use crate::core::publish::publish_dialect::{self, Attached};
use crate::core::publish::publish_policy::Verdict;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::common::logging;
use crate::edge::http::respond::Handled;
use crate::edge::http::respond::Internal;
use crate::store::{self, Db};

/// Carries out one publish message.
pub async fn handle(cx: &Context, message: PublishMessage, now: Timestamp) -> Delivery {
    match publish(cx, &message.target_id, now).await {
        Ok(()) => Delivery::Done,
        Err(e) => Delivery::Retry(crate::edge::http::respond::with_causes(&e)),
    }
}

pub(crate) async fn publish(cx: &Context, target_id: &str, now: Timestamp) -> Handled<()> {
    let db = cx.db()?;
    let Some(target) = load(&db, target_id).await? else {
        return Ok(());
    };
    // Anything but `queued` is settled, claimed or waiting for the dispatch: a redelivered or
    // duplicate message does nothing.
    if target.state != TargetState::Queued.as_str() {
        logging::emit(
            &LogLine::info("publish.skipped", now)
                .field("target_id", target.id.as_str())
                .field("state", target.state.as_str()),
        );
        return Ok(());
    }
    let not_before = time(target.not_before);
    if not_before.as_millis() > now.as_millis() + 1_000 {
        // Early (a message sent for a later retry, or a long delay cut to 12 hours).
        let again = Queued {
            id: target.id.clone(),
            not_before,
            provider: target.provider.clone(),
        };
        return send(cx, &[again], now).await;
    }
    let settings = cx.settings().publish;
    let lease_id = crate::core::common::ids::LeaseId::mint()?;
    let lease_until = now.plus_millis(i64::from(settings.lease_secs) * 1_000);
    let claimed = db
        .write(store::targets::claim(
            &target.id,
            &lease_id,
            lease_until,
            now,
        ))
        .await?;
    if claimed == 0 {
        return Ok(());
    }
    let claim = Claim {
        cx,
        db: &db,
        target: &target,
        lease_id: &lease_id,
        settings,
        media: cx.settings().media,
        now,
    };
    claim.carry_out().await
}

impl Claim<'_> {
    pub(crate) async fn carry_out(&self) -> Handled<()> {
        let t = self.target;
        let catalogue = self.cx.catalogue().map_err(Internal::Config)?;
        let facts = TargetFacts {
            disconnected: t.disconnected_at.is_some(),
            access: if t.access == Access::Ok.as_str() {
                Access::Ok
            } else {
                Access::Lost
            },
            access_reason: t.access_reason.as_deref(),
            provider: &t.provider,
            text: &t.text,
        };
        let resolved = catalogue.resolve(&t.provider);
        let (spec, publish) = match pre_check(resolved.as_deref(), &facts) {
            PreCheck::Go { spec, publish } => (spec, publish),
            PreCheck::Stop {
                state,
                reason,
                message,
            } => return self.finish(state, reason, message).await,
        };
        if publish.dialect == PublishDialect::Bluesky {
            // Its own token read: the DPoP key comes with it.
            let next = bluesky::run(self).await?;
            return self.apply(next).await;
        }
        let media = t.media();
        let Some(token) = self.usable_token(false).await? else {
            return Ok(());
        };
        let author = t.author();
        let step = match publish.dialect {
            PublishDialect::Instagram | PublishDialect::Threads => {
                Some(instagram::run(self, publish, &media, &token).await)
            }
            PublishDialect::Tiktok => Some(tiktok::run(self, publish, &media, &token).await),
            PublishDialect::Youtube => Some(youtube::run(self, publish, &media, &token).await),
            _ => None,
        };
        if let Some(next) = step {
            return self.apply(next?).await;
        }
        let uploaded = match (publish.dialect, media.first()) {
            (PublishDialect::X | PublishDialect::Linkedin, Some(_)) => {
                match attachments::upload(self, spec, publish, &author, &media, &token).await? {
                    Ok(ids) => ids,
                    Err(next) => return self.apply(next).await,
                }
            }
            _ => Vec::new(),
        };
        let attached = match (publish.dialect, media.first()) {
            (PublishDialect::Facebook | PublishDialect::Pinterest, Some(image)) => {
                Attached::Url(&image.url)
            }
            (_, Some(_)) => Attached::Uploaded(&uploaded),
            _ => Attached::Nothing,
        };
        let request = publish_dialect::request(publish, &author, &t.text, attached);
        if !self.mark_sent().await? {
            return Ok(());
        }
        let mut verdict = self.send(spec, publish, &request, &token).await;
        if verdict == Verdict::TokenRefused {
            // One refresh (or the verdict that the grant is dead) through the object, then
            // one more try, counted as the same attempt.
            let Some(renewed) = self.usable_token(true).await? else {
                return Ok(());
            };
            verdict = self.send(spec, publish, &request, &renewed).await;
        }
        match verdict {
            Verdict::Published(id) => self.published(&id, "Published.").await,
            // Refused again with a renewed token: a refusal like any other.
            Verdict::TokenRefused => self.refused(401, None).await,
            Verdict::Refused {
                status,
                retry_after_secs,
            } => self.refused(status, retry_after_secs).await,
            Verdict::Ambiguous(why) => self.look_up(publish, &author, &token, &why).await,
        }
    }
}
