//! A claimed target: what a publish attempt holds while it works, the token it takes through
//! the grant's object, and the writes that settle or requeue it on its claim.

use super::dispatch::{send, Queued};
use super::settle::{settle, Settle};
use super::target::Target;
use crate::core::common::clock::Timestamp;
use crate::core::common::log::LogLine;
use crate::core::grant::grant_tokens::{SecretText, TokenRequest};
use crate::core::oauth::catalogue::{ProviderSpec, PublishSpec};
use crate::core::publish::posts::TargetState;
use crate::core::publish::publish_dialect::{self, Author, Lookup};
use crate::core::publish::publish_policy::{self, AfterRefusal, PublishSettings, Verdict};
use crate::core::publish::publish_progress::{MediaSettings, Next, Progress};
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::grants;
use crate::edge::http::http_client;
use crate::edge::http::respond::Handled;
use crate::edge::oauth::platform;
use crate::store::{self, Db};
use serde_json::{json, Value};
use std::time::Duration;
use worker::D1Database;

/// A claimed target.
pub(crate) struct Claim<'a> {
    pub(crate) cx: &'a Context,
    pub(crate) db: &'a D1Database,
    pub(crate) target: &'a Target,
    pub(crate) lease_id: &'a str,
    pub(crate) settings: PublishSettings,
    pub(crate) media: MediaSettings,
    pub(crate) now: Timestamp,
}

/// What the grant's object said about the token.
pub(crate) enum Token {
    /// The token, and for a DPoP-bound one (Bluesky) what the token read gave with it.
    Ready(SecretText, Option<DpopUse>),
    /// The connection cannot post (dead grant, lost access): park, with the reason.
    Park(String, String),
    /// The connection is gone.
    Gone(String),
    /// Our side or the platform's refresh failed for now: try again later.
    NotNow(String),
}

impl Claim<'_> {
    /// The token, or `None` once the target is settled for want of one: parked (dead grant),
    /// failed (connection gone) or back in the queue (not now).
    pub(crate) async fn usable_token(&self, validate: bool) -> Handled<Option<SecretText>> {
        let settled = match self.token(validate).await? {
            Token::Ready(token, _) => return Ok(Some(token)),
            Token::Park(reason, why) => self.finish(TargetState::Parked, &reason, why).await,
            Token::Gone(why) => {
                self.finish(TargetState::Failed, "connection_gone", why)
                    .await
            }
            Token::NotNow(why) => self.back_to_queue(&why).await,
        };
        settled.map(|()| None)
    }

    /// A DPoP-bound token with its key (Bluesky), or `None` once the target is settled for want
    /// of one, as [`Self::usable_token`].
    pub(crate) async fn usable_dpop_token(
        &self,
        validate: bool,
    ) -> Handled<Option<(SecretText, DpopUse)>> {
        let settled = match self.token(validate).await? {
            Token::Ready(token, Some(dpop)) => return Ok(Some((token, dpop))),
            Token::Ready(_, None) => {
                self.back_to_queue("the token came without its DPoP key")
                    .await
            }
            Token::Park(reason, why) => self.finish(TargetState::Parked, &reason, why).await,
            Token::Gone(why) => {
                self.finish(TargetState::Failed, "connection_gone", why)
                    .await
            }
            Token::NotNow(why) => self.back_to_queue(&why).await,
        };
        settled.map(|()| None)
    }

    pub(crate) async fn token(&self, validate: bool) -> Handled<Token> {
        token_of(self.cx, self.target, validate).await
    }

    /// Records that the request is about to go out (an expired claim after this point is
    /// unconfirmed, before it is safe to send again). False: the claim was lost.
    pub(crate) async fn mark_sent(&self) -> Handled<bool> {
        self.update_claimed(store::targets::mark_sent(
            &self.target.id,
            self.lease_id,
            self.now,
        ))
        .await
    }

    /// A write made only while this claim holds the target. False: the claim was lost.
    pub(crate) async fn update_claimed(&self, write: store::Statement) -> Handled<bool> {
        Ok(self.db.write(write).await? == 1)
    }

    pub(crate) async fn send(
        &self,
        spec: &ProviderSpec,
        publish: &PublishSpec,
        request: &publish_dialect::PublishRequest,
        token: &SecretText,
    ) -> Verdict {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(platform::platform_url(self.cx, &request.url))
            .header("authorization", format!("Bearer {}", token.expose()))
            .header("content-type", request.content_type)
            .header("accept", "application/json");
        for (name, value) in spec.api.iter().flat_map(|a| a.call_headers()) {
            builder = builder.header(name, value);
        }
        if publish.dialect == crate::core::oauth::catalogue::PublishDialect::Mastodon {
            // The server answers a repeat of the key with the status it made: a retry after a
            // lost answer cannot post twice.
            builder = builder.header("idempotency-key", self.target.id.as_str());
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
                if let Some(status) = (200..300)
                    .contains(&status)
                    .then(|| publish_dialect::refusal_in_answer(publish, response.body()))
                    .flatten()
                {
                    return Verdict::Refused {
                        status,
                        retry_after_secs: retry_after,
                    };
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

    pub(crate) fn note_status(&self, status: u16) {
        logging::emit(
            &LogLine::info("publish.answer", self.now)
                .field("target_id", self.target.id.as_str())
                .field("provider", self.target.provider.as_str())
                .field("status", status),
        );
    }

    pub(crate) async fn published(&self, platform_post_id: &str, how: &str) -> Handled<()> {
        settle(
            self.cx,
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
    pub(crate) async fn refused(&self, status: u16, retry_after_secs: Option<u64>) -> Handled<()> {
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
    pub(crate) async fn apply(&self, next: Next) -> Handled<()> {
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
    pub(crate) async fn requeue_claim(
        &self,
        at: Timestamp,
        reason: &str,
        note: &str,
        progress: Option<&Progress>,
        refused: Option<(u16, u32)>,
    ) -> Handled<()> {
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
            let again = Queued {
                id: self.target.id.clone(),
                not_before: at,
                provider: self.target.provider.clone(),
            };
            send(self.cx, &[again], self.now).await?;
        }
        Ok(())
    }

    /// Stores progress the moment it exists (an upload session before the upload). False:
    /// the claim was lost.
    pub(crate) async fn save_progress(&self, progress: &Progress) -> Handled<bool> {
        self.update_claimed(store::targets::save_progress(
            &self.target.id,
            self.lease_id,
            &progress.to_json(),
            self.now,
        ))
        .await
    }

    /// Holds the claim for a long request (an upload). False: the claim was lost.
    pub(crate) async fn extend_lease(&self, secs: u32) -> Handled<bool> {
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
    pub(crate) async fn back_to_queue(&self, why: &str) -> Handled<()> {
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
    pub(crate) async fn look_up(
        &self,
        publish: &PublishSpec,
        author: &Author<'_>,
        token: &SecretText,
        why: &str,
    ) -> Handled<()> {
        let since = self.now.plus_millis(-5_000);
        let found =
            find_on_platform(self.cx, publish, author, token, &self.target.text, since).await;
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
            self.cx,
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

    pub(crate) async fn finish(
        &self,
        state: TargetState,
        reason: &str,
        message: String,
    ) -> Handled<()> {
        settle(
            self.cx,
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

/// What a DPoP-bound token is used with: the grant's key, the account's DID and PDS.
pub(crate) struct DpopUse {
    pub(crate) binding: crate::core::grant::grant_tokens::DpopBinding,
}

impl DpopUse {
    /// From the token read's `dpop` (`{"jwk": {…, "d"}, "did", "pds"}`).
    fn of(body: &Value) -> Option<Self> {
        let dpop = body.get("dpop")?;
        let text = |p: &str| dpop.pointer(p).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            binding: crate::core::grant::grant_tokens::DpopBinding {
                key: SecretText::new(text("/jwk/d")?),
                did: text("/did")?,
                handle: String::new(),
                pds: text("/pds")?,
                issuer: String::new(),
                token_endpoint: String::new(),
                revocation_endpoint: None,
                auth_nonce: None,
                pds_nonce: None,
            },
        })
    }
}

/// The token through the grant's object; `validate` checks it with the platform first
/// (refreshing once if refused), after the platform refused it.
pub(crate) async fn token_of(cx: &Context, t: &Target, validate: bool) -> Handled<Token> {
    let answer = grants::access_token(
        cx,
        &t.grant_id,
        &t.tenant_id,
        // The publish path reads its connection's standing with the target (`load`).
        None,
        &t.external_id,
        TokenRequest {
            min_valid_seconds: 120,
            validate,
        },
        // The publish path's own reads are not the API's: no audit.
        None,
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
                Token::Ready(SecretText::new(token.to_owned()), DpopUse::of(&body))
            }
            Some(token) => Token::Ready(SecretText::new(token.to_owned()), DpopUse::of(&body)),
            None => Token::NotNow("the grant's object answered without a token".into()),
        },
        (_, "connection_dead" | "token_expired") => Token::Park(code, message),
        (404, _) => Token::Gone(message),
        _ => Token::NotNow(format!("{status} {code}: {message}")),
    })
}

/// Looks `text` up among the account's recent posts made since `since`; `Err` says why the
/// platform cannot tell.
pub(crate) async fn find_on_platform(
    cx: &Context,
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
        .uri(platform::platform_url(cx, &url))
        .header("authorization", format!("Bearer {}", token.expose()))
        .header("accept", "application/json")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let deadline = Duration::from_secs(u64::from(cx.settings().publish.timeout_secs));
    match http_client::send_within(request, deadline).await {
        Ok(r) if r.status().is_success() => {
            Ok(publish_dialect::find(publish, r.body(), text, since))
        }
        Ok(r) => Err(format!("the lookup answered {}", r.status().as_u16())),
        Err(e) => Err(format!("the lookup failed: {e}")),
    }
}
