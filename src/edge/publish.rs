//! Publishing one post target: the publish queue's consumer, the minute dispatch that hands
//! due targets to the queue, the reconciler, and resuming parked targets after a reconnect.
//!
//! A message carries a target id and nothing else. The consumer claims the target with a
//! conditional update (`queued` → `publishing`, with a lease), takes the token through the
//! grant's Durable Object (the pre-post check: a dead grant parks the target), marks the claim
//! `sent_at` just before the request goes out, and writes what the answer proves
//! (`core::publish::publish_policy`). Every settling write is conditional on the claim, so a redelivered
//! message, a second consumer or an expired lease can never publish twice.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::ids::{PostId, TargetId};
use crate::core::common::log::LogLine;
use crate::core::common::queues::WorkQueue;
use crate::core::grant::grant_tokens::{SecretText, TokenRequest};
use crate::core::oauth::catalogue::{ProviderSpec, PublishDialect, PublishSpec};
use crate::core::publish::media::Media;
use crate::core::publish::posts::TargetState;
use crate::core::publish::publish_dialect::{self, Attached, Author, Lookup};
use crate::core::publish::publish_policy::{self, AfterRefusal, PublishSettings, Verdict};
use crate::core::publish::publish_progress::{MediaSettings, Next, Progress};
use crate::core::webhooks::webhook_payload::{render_post, PostEventRecord};
use crate::edge::common::bindings;
use crate::edge::common::d1_time::read as time;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::grants;
use crate::edge::grant::grant_object::grants::CheckByAsk;
use crate::edge::grant::grant_object::protocol::GrantObjectClient;
use crate::edge::http::http_client;
use crate::edge::oauth::platform;
use crate::edge::webhooks::outbox;
use crate::store::{self, Db};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use worker::{D1Database, Env, MessageBuilder, Result};

/// The publish queue's message.
#[derive(Serialize, Deserialize)]
pub struct PublishMessage {
    pub target_id: TargetId,
}

/// How a publish message went: done (ack) or worth another try (retry, with the queue's delay).
pub enum Delivery {
    Done,
    Retry(String),
}

/// The longest delay a queue message may carry (12 hours).
const MAX_DELAY_SECS: i64 = 43_200;
/// A queued target whose message has not arrived this long after it was due is re-sent.
const OVERDUE_MS: i64 = 5 * 60_000;
/// The most targets one dispatch or reconciler pass hands on.
const PAGE: i64 = 100;

mod attachments;
mod calls;
mod instagram;
pub(crate) mod posts;
mod recheck;
mod tiktok;
mod youtube;

pub use recheck::recheck;

pub fn settings(env: &Env) -> PublishSettings {
    bindings::setting(env, "PUBLISH", PublishSettings::parse)
}

pub fn media_settings(env: &Env) -> MediaSettings {
    bindings::setting(env, "MEDIA", MediaSettings::parse)
}

/// Sends each target's message, delayed until its `not_before` (at most 12 hours; the
/// dispatch hands later ones on when their time comes).
pub async fn send(env: &Env, due: &[(TargetId, Timestamp)], now: Timestamp) -> Result<()> {
    if due.is_empty() {
        return Ok(());
    }
    let queue = env.queue(WorkQueue::Publish.binding())?;
    for (id, not_before) in due {
        let delay = ((not_before.as_millis() - now.as_millis()) as f64 / 1000.0).ceil() as i64;
        queue
            .send(
                MessageBuilder::new(PublishMessage {
                    target_id: id.clone(),
                })
                .delay_seconds(delay.clamp(0, MAX_DELAY_SECS) as u32)
                .build(),
            )
            .await?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct Due {
    id: TargetId,
    not_before: f64,
}

fn due_list(rows: Vec<Due>) -> Vec<(TargetId, Timestamp)> {
    rows.into_iter()
        .map(|r| (r.id, time(r.not_before)))
        .collect()
}

/// The minute dispatch: scheduled targets due within the next minute go to the queue, each
/// delayed to its second.
pub async fn dispatch(env: &Env, now: Timestamp) -> Result<Value> {
    let db = bindings::db(env)?;
    let rows: Vec<Due> = db
        .all(store::targets::dispatch_due(
            now,
            now.plus_millis(60_000),
            PAGE,
        ))
        .await?;
    let due = due_list(rows);
    send(env, &due, now).await?;
    // Pre-flight marks a failed call left behind (a minute old: the post's own call has had
    // its turn).
    #[derive(Deserialize)]
    struct Left {
        grant_id: GrantId,
        check_by: f64,
    }
    let left: Vec<Left> = db
        .all(store::targets::preflights_left(
            now.plus_millis(-60_000),
            PAGE,
        ))
        .await?;
    for l in &left {
        preflight(env, &l.grant_id, time(l.check_by), now).await;
    }
    Ok(json!({ "posts_dispatched": due.len(), "preflights_resent": left.len() }))
}

/// Asks the grant's object to check the grant by `by` (the pre-flight). Best effort: a failure
/// is logged, and the minute dispatch sends the mark the call left behind.
pub async fn preflight(env: &Env, grant_id: &GrantId, by: Timestamp, now: Timestamp) {
    let ask = CheckByAsk {
        grant_id: grant_id.to_owned(),
        by: by.as_millis(),
    };
    let failed = match GrantObjectClient::new(env, grant_id).check_by(ask).await {
        Ok(answer) if answer.status_code() == 200 => return,
        Ok(answer) => format!("the grant's object answered {}", answer.status_code()),
        Err(e) => e.to_string(),
    };
    logging::emit(
        &LogLine::warn("publish.preflight_failed", now)
            .field("grant_id", grant_id)
            .field("error", failed),
    );
}

/// The reconciler: re-sends queued targets whose message was lost (the local broker loses its
/// messages when killed), and settles expired claims: one that never sent goes back to the
/// queue; one that may have sent becomes `unconfirmed`.
pub async fn reconcile(env: &Env, now: Timestamp) -> Result<Value> {
    let db = bindings::db(env)?;
    let overdue = now.plus_millis(-OVERDUE_MS);
    let lost: Vec<Due> = db
        .all(store::targets::resend_lost(now, overdue, PAGE))
        .await?;
    let lost = due_list(lost);
    send(env, &lost, now).await?;
    let never_sent: Vec<Due> = db.all(store::targets::requeue_never_sent(now)).await?;
    let never_sent = due_list(never_sent);
    send(env, &never_sent, now).await?;
    #[derive(Deserialize)]
    struct Expired {
        id: String,
        lease_id: String,
    }
    let expired: Vec<Expired> = db
        .all(store::targets::expired_after_sending(now, PAGE))
        .await?;
    let mut unconfirmed = 0;
    let catalogue = bindings::catalogue(env).map_err(|e| worker::Error::RustError(e.message))?;
    for e in &expired {
        let Some(target) = load(&db, &e.id).await? else {
            continue;
        };
        // Where the platform lists the account's recent posts, the recheck looks the post up
        // from the next dispatch on (`publish/recheck.rs`), as after any unclear answer: a
        // runtime killed mid-publish needs no person when the platform can tell.
        let can_look = catalogue
            .get(&target.provider)
            .and_then(|spec| spec.publish.as_ref())
            .is_some_and(|publish| publish.lookup_url.is_some());
        let settled = settle(
            env,
            &db,
            &target,
            Settle {
                state: TargetState::Unconfirmed,
                reason: "lease_expired",
                message: format!(
                    "The publish request went out and no outcome was recorded before the claim \
                     expired. {}",
                    if can_look {
                        "Evergreen looks for the post on the platform for a while, then settles \
                         the target."
                    } else {
                        "Check the platform, then resolve the target."
                    }
                ),
                lease_id: Some(&e.lease_id),
                recheck_at: can_look.then_some(now),
                ..Settle::default()
            },
            now,
        )
        .await?;
        unconfirmed += usize::from(settled);
    }
    Ok(json!({
        "posts_resent": lost.len(),
        "posts_requeued": never_sent.len(),
        "posts_unconfirmed": unconfirmed,
    }))
}

/// After a consent restored `grant_id`: its parked targets go back to the queue, or fail when
/// their slot is further back than the staleness limit.
pub async fn resume_parked(env: &Env, db: &D1Database, grant_id: &GrantId, now: Timestamp) {
    if let Err(e) = resume(env, db, grant_id, now).await {
        logging::emit(
            &LogLine::warn("publish.resume_failed", now)
                .field("grant_id", grant_id)
                .field("error", e.to_string()),
        );
    }
}

async fn resume(env: &Env, db: &D1Database, grant_id: &GrantId, now: Timestamp) -> Result<()> {
    #[derive(Deserialize)]
    struct Parked {
        id: String,
        publish_at: f64,
    }
    let parked: Vec<Parked> = db.all(store::targets::parked_of_grant(grant_id)).await?;
    let settings = settings(env);
    let mut resumed = Vec::new();
    for p in parked {
        if publish_policy::resumes(settings, time(p.publish_at), now) {
            let rows: Vec<Due> = db
                .all(store::targets::resume_parked(&p.id, grant_id, now))
                .await?;
            resumed.extend(due_list(rows));
        } else if let Some(target) = load(db, &p.id).await? {
            settle(
                env,
                db,
                &target,
                Settle {
                    state: TargetState::Failed,
                    reason: "stale",
                    message: format!(
                        "The connection came back more than {} hours after the post's slot; \
                         it was not published late. Retry it to publish it now.",
                        settings.stale_after_secs / 3_600
                    ),
                    from: &[TargetState::Parked],
                    ..Settle::default()
                },
                now,
            )
            .await?;
        }
    }
    send(env, &resumed, now).await
}

/// A target with what publishing it needs.
#[derive(Deserialize)]
struct Target {
    id: TargetId,
    post_id: PostId,
    tenant_id: TenantId,
    connection_id: String,
    grant_id: GrantId,
    provider: String,
    state: String,
    not_before: f64,
    attempts: f64,
    text: String,
    end_user_ref: String,
    kind: String,
    external_id: String,
    access: String,
    access_reason: Option<String>,
    disconnected_at: Option<f64>,
    media: Option<String>,
    progress: Option<String>,
    sent_at: Option<f64>,
}

impl Target {
    fn media(&self) -> Vec<Media> {
        self.media
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default()
    }

    fn progress(&self) -> Option<Progress> {
        Progress::parse(self.progress.as_deref())
    }
}

async fn load(db: &D1Database, id: &str) -> Result<Option<Target>> {
    Ok(db.first(store::targets::load(id)).await?)
}

/// Carries out one publish message.
pub async fn handle(env: &Env, message: PublishMessage, now: Timestamp) -> Delivery {
    match publish(env, &message.target_id, now).await {
        Ok(()) => Delivery::Done,
        Err(e) => Delivery::Retry(e.to_string()),
    }
}

async fn publish(env: &Env, target_id: &str, now: Timestamp) -> Result<()> {
    let db = bindings::db(env)?;
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
        return send(env, &[(target.id.clone(), not_before)], now).await;
    }
    let settings = settings(env);
    let lease_id = crate::core::common::ids::LeaseId::mint()
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
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
        env,
        db: &db,
        target: &target,
        lease_id: &lease_id,
        settings,
        media: media_settings(env),
        now,
    };
    claim.carry_out().await
}

/// A claimed target.
struct Claim<'a> {
    env: &'a Env,
    db: &'a D1Database,
    target: &'a Target,
    lease_id: &'a str,
    settings: PublishSettings,
    media: MediaSettings,
    now: Timestamp,
}

/// What the grant's object said about the token.
enum Token {
    Ready(SecretText),
    /// The connection cannot post (dead grant, lost access): park, with the reason.
    Park(String, String),
    /// The connection is gone.
    Gone(String),
    /// Our side or the platform's refresh failed for now: try again later.
    NotNow(String),
}

impl Claim<'_> {
    // Exception to the 80-line limit: a claim's publish from token to settled target; the pre-post checks move to a core planner next (issue 29).
    #[allow(clippy::too_many_lines)]
    async fn carry_out(&self) -> Result<()> {
        let t = self.target;
        if t.disconnected_at.is_some() {
            return self
                .finish(
                    TargetState::Failed,
                    "connection_disconnected",
                    "The connection was disconnected before the post went out.".into(),
                )
                .await;
        }
        if t.access != "ok" {
            let why = t.access_reason.clone().unwrap_or_else(|| {
                "The account lost its access to this page at the platform.".into()
            });
            return self.finish(TargetState::Parked, "access_lost", why).await;
        }
        let catalogue =
            bindings::catalogue(self.env).map_err(|e| worker::Error::RustError(e.message))?;
        let Some((spec, publish)) = catalogue
            .get(&t.provider)
            .and_then(|s| s.publish.as_ref().map(|p| (s, p)))
        else {
            return self
                .finish(
                    TargetState::Failed,
                    "not_publishable",
                    format!("Evergreen cannot publish to {:?}.", t.provider),
                )
                .await;
        };
        if let Err(why) = publish_dialect::fits(publish, &spec.display_name, &t.text) {
            return self.finish(TargetState::Failed, "text_too_long", why).await;
        }
        let media = t.media();
        let Some(token) = self.usable_token(false).await? else {
            return Ok(());
        };
        let author = Author {
            kind: &t.kind,
            external_id: &t.external_id,
        };
        let step = match publish.dialect {
            PublishDialect::Instagram => Some(instagram::run(self, publish, &media, &token).await),
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
            (PublishDialect::Facebook, Some(image)) => Attached::Url(&image.url),
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

    /// The token, or `None` once the target is settled for want of one: parked (dead grant),
    /// failed (connection gone) or back in the queue (not now).
    async fn usable_token(&self, validate: bool) -> Result<Option<SecretText>> {
        let settled = match self.token(validate).await? {
            Token::Ready(token) => return Ok(Some(token)),
            Token::Park(reason, why) => self.finish(TargetState::Parked, &reason, why).await,
            Token::Gone(why) => {
                self.finish(TargetState::Failed, "connection_gone", why)
                    .await
            }
            Token::NotNow(why) => self.back_to_queue(&why).await,
        };
        settled.map(|()| None)
    }

    async fn token(&self, validate: bool) -> Result<Token> {
        token_of(self.env, self.target, validate).await
    }

    /// Records that the request is about to go out (an expired claim after this point is
    /// unconfirmed, before it is safe to send again). False: the claim was lost.
    async fn mark_sent(&self) -> Result<bool> {
        self.update_claimed(store::targets::mark_sent(
            &self.target.id,
            self.lease_id,
            self.now,
        ))
        .await
    }

    /// A write made only while this claim holds the target. False: the claim was lost.
    async fn update_claimed(&self, write: store::Statement) -> Result<bool> {
        Ok(self.db.write(write).await? == 1)
    }

    async fn send(
        &self,
        spec: &ProviderSpec,
        publish: &PublishSpec,
        request: &publish_dialect::PublishRequest,
        token: &SecretText,
    ) -> Verdict {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(platform::platform_url(self.env, &request.url))
            .header("authorization", format!("Bearer {}", token.expose()))
            .header("content-type", "application/json")
            .header("accept", "application/json");
        for (name, value) in spec.api.iter().flat_map(|a| a.call_headers()) {
            builder = builder.header(name, value);
        }
        let Ok(http_request) = builder.body(request.body.clone().into_bytes()) else {
            return Verdict::Refused {
                status: 400,
                retry_after_secs: None,
            };
        };
        let deadline = Duration::from_secs(u64::from(self.settings.timeout_secs));
        match http_client::send_within(http_request, deadline).await {
            Ok(response) => {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let restli_id = header("x-restli-id");
                let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
                let status = response.status().as_u16();
                let id = publish_dialect::post_id(publish, restli_id.as_deref(), response.body());
                self.note_status(status);
                if publish_dialect::token_refused(publish, status, response.body()) {
                    return Verdict::TokenRefused;
                }
                publish_policy::classify(Some(status), id, retry_after)
            }
            Err(http_client::HttpError::Build(_)) => Verdict::Refused {
                status: 400,
                retry_after_secs: None,
            },
            Err(e) => Verdict::Ambiguous(format!("no answer after sending ({e})")),
        }
    }

    fn note_status(&self, status: u16) {
        logging::emit(
            &LogLine::info("publish.answer", self.now)
                .field("target_id", self.target.id.as_str())
                .field("provider", self.target.provider.as_str())
                .field("status", status),
        );
    }

    async fn published(&self, platform_post_id: &str, how: &str) -> Result<()> {
        settle(
            self.env,
            self.db,
            self.target,
            Settle {
                state: TargetState::Published,
                reason: "",
                message: how.to_owned(),
                platform_post_id: Some(platform_post_id),
                lease_id: Some(self.lease_id),
                ..Settle::default()
            },
            self.now,
        )
        .await
        .map(|_| ())
    }

    /// The platform took nothing: again after the backoff, or failed at the limit.
    async fn refused(&self, status: u16, retry_after_secs: Option<u64>) -> Result<()> {
        let attempts = self.target.attempts as u32 + 1;
        let why = format!("The platform refused the post ({status}) on attempt {attempts}.");
        match publish_policy::after_refusal(
            self.settings,
            attempts,
            crate::edge::grant::grant_object::refresh::jitter(),
            retry_after_secs,
        ) {
            AfterRefusal::Fail => {
                self.finish(
                    TargetState::Failed,
                    "rejected",
                    format!("{why} No more attempts are made; retry the post to try again."),
                )
                .await
            }
            AfterRefusal::RetryIn(secs) => {
                let at = self.now.plus_millis(i64::from(secs) * 1_000);
                // Counted here as well as when sent: a refused step that sends no post (an
                // upload, a container) must count towards `max_attempts` too.
                self.requeue_claim(at, "retrying", &why, None, Some((status, attempts)))
                    .await
            }
        }
    }

    /// Carries out what a step of a multi-step flow decided.
    async fn apply(&self, next: Next) -> Result<()> {
        match next {
            Next::Published { id, message } => self.published(&id, &message).await,
            Next::Wait {
                progress,
                after_secs,
                note,
            } => {
                let at = self.now.plus_millis(i64::from(after_secs) * 1_000);
                self.requeue_claim(at, "processing", &note, Some(&progress), None)
                    .await
            }
            Next::Defer {
                until,
                reason,
                message,
            } => {
                self.requeue_claim(until, reason, &message, None, None)
                    .await
            }
            Next::Fail { reason, message } => {
                self.finish(TargetState::Failed, reason, message).await
            }
            Next::Refused {
                status,
                retry_after_secs,
                message,
            } => {
                logging::emit(
                    &LogLine::info("publish.refused", self.now)
                        .field("target_id", self.target.id.as_str())
                        .field("status", status)
                        .field("message", message),
                );
                self.refused(status, retry_after_secs).await
            }
            Next::TokenRefused => {
                // The grant's object checks the token with the platform and refreshes it (or
                // finds the grant dead, which parks the target); the step is then counted as a
                // refused attempt, so a token the platform keeps refusing ends in `failed`.
                match self.usable_token(true).await? {
                    Some(_) => self.refused(401, None).await,
                    None => Ok(()),
                }
            }
            Next::Unconfirmed { message } => {
                self.finish(TargetState::Unconfirmed, "ambiguous", message)
                    .await
            }
            Next::ClaimLost => Ok(()),
        }
    }

    /// Back to the queue at `at`, with the progress made (`None`: as stored); after a refusal,
    /// with the platform's status and the attempts made so far.
    async fn requeue_claim(
        &self,
        at: Timestamp,
        reason: &str,
        note: &str,
        progress: Option<&Progress>,
        refused: Option<(u16, u32)>,
    ) -> Result<()> {
        let progress = progress.map(Progress::to_json);
        let requeued = self
            .db
            .write(store::targets::requeue_claim(&store::targets::Requeue {
                target_id: &self.target.id,
                lease_id: self.lease_id,
                at,
                reason,
                note,
                progress: progress.as_deref(),
                refused,
                now: self.now,
            }))
            .await?;
        if requeued == 1 {
            send(self.env, &[(self.target.id.clone(), at)], self.now).await?;
        }
        Ok(())
    }

    /// Stores progress the moment it exists (an upload session before the upload). False:
    /// the claim was lost.
    async fn save_progress(&self, progress: &Progress) -> Result<bool> {
        self.update_claimed(store::targets::save_progress(
            &self.target.id,
            self.lease_id,
            &progress.to_json(),
            self.now,
        ))
        .await
    }

    /// Holds the claim for a long request (an upload). False: the claim was lost.
    async fn extend_lease(&self, secs: u32) -> Result<bool> {
        let until = self.now.plus_millis(i64::from(secs) * 1_000);
        self.update_claimed(store::targets::extend_lease(
            &self.target.id,
            self.lease_id,
            until,
        ))
        .await
    }

    /// No token could be had now: back to the queue after the first retry delay. A send this
    /// claim made already (refused with 401) was counted when it went out.
    async fn back_to_queue(&self, why: &str) -> Result<()> {
        let at = self.now.plus_millis(
            i64::from(self.settings.retry_delay_secs(
                1,
                crate::edge::grant::grant_object::refresh::jitter(),
                None,
            )) * 1_000,
        );
        self.requeue_claim(at, "token_unavailable", why, None, None)
            .await
    }

    /// An ambiguous answer: the account's recent posts say whether ours is there; if they
    /// cannot, the target is unconfirmed, and looked up again for a while where the platform
    /// has a lookup (`recheck`).
    async fn look_up(
        &self,
        publish: &PublishSpec,
        author: &Author<'_>,
        token: &SecretText,
        why: &str,
    ) -> Result<()> {
        let since = self.now.plus_millis(-5_000);
        let found =
            find_on_platform(self.env, publish, author, token, &self.target.text, since).await;
        let found = match found {
            Ok(Lookup::Found(id)) => {
                return self
                    .published(
                        &id,
                        "Published (found on the platform after an unclear answer).",
                    )
                    .await
            }
            Ok(Lookup::NotFound) => "the post is not among the account's recent posts yet".into(),
            Ok(Lookup::Unreadable) => "the lookup's answer could not be read".into(),
            Err(why) => why,
        };
        let recheck_at = publish.lookup_url.is_some().then(|| {
            let secs = self.media.poll_delay_secs(0);
            self.now.plus_millis(i64::from(secs) * 1_000)
        });
        settle(
            self.env,
            self.db,
            self.target,
            Settle {
                state: TargetState::Unconfirmed,
                reason: "ambiguous",
                message: format!(
                    "{why}; {found}. The post may or may not be on the platform{}",
                    if recheck_at.is_some() {
                        ": Evergreen looks again for a while, then settles it."
                    } else {
                        ", and the platform offers no way to tell: check, then resolve the \
                         target as published or retry it."
                    }
                ),
                lease_id: Some(self.lease_id),
                recheck_at,
                ..Settle::default()
            },
            self.now,
        )
        .await
        .map(|_| ())
    }

    async fn finish(&self, state: TargetState, reason: &str, message: String) -> Result<()> {
        settle(
            self.env,
            self.db,
            self.target,
            Settle {
                state,
                reason,
                message,
                lease_id: Some(self.lease_id),
                ..Settle::default()
            },
            self.now,
        )
        .await
        .map(|_| ())
    }
}

/// The token through the grant's object; `validate` checks it with the platform first
/// (refreshing once if refused), after the platform refused it.
async fn token_of(env: &Env, t: &Target, validate: bool) -> Result<Token> {
    let answer = grants::access_token(
        env,
        &t.grant_id,
        &t.tenant_id,
        // The publish path reads its connection's standing with the target (`load`).
        None,
        &t.external_id,
        TokenRequest {
            min_valid_seconds: 120,
            validate,
        },
    )
    .await;
    let mut answer = match answer {
        Ok(answer) => answer,
        Err(e) => return Ok(Token::NotNow(format!("{e:?}"))),
    };
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let status = answer.status_code();
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let code = body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Ok(match (status, code.as_str()) {
        (200, _) => match body.get("access_token").and_then(Value::as_str) {
            Some(token) if validate && body.get("validated") == Some(&json!(false)) => {
                // The platform could not confirm the token even after a refresh: the
                // post goes out with it, and the platform's answer decides.
                Token::Ready(SecretText::new(token.to_owned()))
            }
            Some(token) => Token::Ready(SecretText::new(token.to_owned())),
            None => Token::NotNow("the grant's object answered without a token".into()),
        },
        (_, "connection_dead" | "token_expired") => Token::Park(code, message),
        (404, _) => Token::Gone(message),
        _ => Token::NotNow(format!("{status} {code}: {message}")),
    })
}

/// For platforms that fetch the media themselves: the file is read far enough to see that it
/// is there and is what was declared (its type and length), so a wrong URL fails here with a
/// clear message instead of at the platform.
async fn check_media_served(claim: &Claim<'_>, item: &Media) -> std::result::Result<(), Next> {
    let deadline = Duration::from_secs(u64::from(claim.settings.timeout_secs));
    match calls::open_media(claim.env, item, 0, deadline).await {
        // Dropping the answer cancels the rest of the download.
        Ok(_) => Ok(()),
        Err(why) => Err(Next::Fail {
            reason: "media_unavailable",
            message: format!("{why} Fix the media, then retry the post."),
        }),
    }
}

/// Looks `text` up among the account's recent posts made since `since`; `Err` says why the
/// platform cannot tell.
async fn find_on_platform(
    env: &Env,
    publish: &PublishSpec,
    author: &Author<'_>,
    token: &SecretText,
    text: &str,
    since: Timestamp,
) -> std::result::Result<Lookup, String> {
    let Some(url) = publish_dialect::lookup_url(publish, author) else {
        return Err("the platform offers no way to look the post up".into());
    };
    let request = http::Request::builder()
        .method("GET")
        .uri(platform::platform_url(env, &url))
        .header("authorization", format!("Bearer {}", token.expose()))
        .header("accept", "application/json")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let deadline = Duration::from_secs(u64::from(settings(env).timeout_secs));
    match http_client::send_within(request, deadline).await {
        Ok(r) if r.status().is_success() => {
            Ok(publish_dialect::find(publish, r.body(), text, since))
        }
        Ok(r) => Err(format!("the lookup answered {}", r.status().as_u16())),
        Err(e) => Err(format!("the lookup failed: {e}")),
    }
}

/// A settling write: the target's new state and its event.
pub struct Settle<'a> {
    pub state: TargetState,
    /// A stable code (`rejected`, `ambiguous`, `connection_dead`, …); empty for published.
    pub reason: &'a str,
    pub message: String,
    pub platform_post_id: Option<&'a str>,
    /// The claim the write is conditional on; `None` for writes from the API, which are
    /// conditional on `from`.
    pub lease_id: Option<&'a str>,
    /// The states the write may move the target from (with no lease).
    pub from: &'a [TargetState],
    /// An unconfirmed target is looked up again then.
    pub recheck_at: Option<Timestamp>,
}

impl Default for Settle<'_> {
    fn default() -> Self {
        Self {
            state: TargetState::Failed,
            reason: "",
            message: String::new(),
            platform_post_id: None,
            lease_id: None,
            from: &[],
            recheck_at: None,
        }
    }
}

/// Writes the target's settled state and its `post.*` event in one batch, then hands the
/// event's deliveries to the webhook queue. False: the write's condition did not hold (the
/// claim was lost, or the state moved on), and nothing was written.
async fn settle(
    env: &Env,
    db: &D1Database,
    target: &Target,
    settle: Settle<'_>,
    now: Timestamp,
) -> Result<bool> {
    let state = settle.state.as_str();
    let update = store::targets::settle(&store::targets::Settled {
        target_id: &target.id,
        state: settle.state,
        reason: Some(settle.reason).filter(|r| !r.is_empty()),
        message: Some(settle.message.as_str()).filter(|_| settle.state != TargetState::Published),
        platform_post_id: settle.platform_post_id,
        by: match settle.lease_id {
            Some(lease_id) => store::targets::Settler::Claim(lease_id),
            None => store::targets::Settler::From(settle.from),
        },
        recheck_at: settle.recheck_at,
        now,
    });
    let mut statements = vec![update];
    statements.extend(post_event(db, target, &settle, now).await?);
    let results = Db::batch(db, statements).await?;
    let landed = results.first().map(|r| r.changes) == Some(1);
    if landed {
        logging::emit(
            &LogLine::info("publish.settled", now)
                .field("target_id", target.id.as_str())
                .field("provider", target.provider.as_str())
                .field("state", state)
                .field("reason", settle.reason),
        );
        outbox::hand_off(env, db, &target.grant_id, now).await;
    }
    Ok(landed)
}

/// The event row of a settling write (guarded on the write having landed), and its outbox
/// rows. The body is rendered now, with the target's next sequence number.
async fn post_event(
    db: &D1Database,
    target: &Target,
    settle: &Settle<'_>,
    now: Timestamp,
) -> Result<[store::Statement; 2]> {
    #[derive(Deserialize)]
    struct Next {
        seq: i64,
    }
    let seq = db
        .first::<Next>(store::events::next_seq(&target.id))
        .await?
        .map_or(1, |n| n.seq);
    let id = crate::core::common::ids::EventId::mint()
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let kind = format!("post.{}", settle.state.as_str());
    let dedupe = format!("{kind}:{}", now.as_millis());
    let body = render_post(&PostEventRecord {
        id: &id,
        kind: &kind,
        post_id: &target.post_id,
        target_id: &target.id,
        connection_id: &target.connection_id,
        end_user_ref: &target.end_user_ref,
        provider: &target.provider,
        seq,
        platform_post_id: settle.platform_post_id,
        reason: Some(settle.reason).filter(|r| !r.is_empty()),
        message: &settle.message,
        occurred_at: now,
    });
    let event = store::events::record_post(&store::events::PostEvent {
        id: &id,
        seq,
        kind: &kind,
        reason: settle.reason,
        message: &settle.message,
        dedupe_key: &dedupe,
        body: &body,
        target_id: &target.id,
        target_state: settle.state.as_str(),
        occurred_at: now,
    });
    let outbox = store::events::enqueue_deliveries(&target.grant_id, &dedupe, now);
    Ok([event, outbox])
}

/// A target settled through the API (resolve, cancel): written with its event.
pub async fn settle_from_api(
    env: &Env,
    db: &D1Database,
    target_id: &str,
    settle_as: Settle<'_>,
    now: Timestamp,
) -> Result<bool> {
    let Some(target) = load(db, target_id).await? else {
        return Ok(false);
    };
    settle(env, db, &target, settle_as, now).await
}
