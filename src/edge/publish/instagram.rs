//! Instagram and Threads: the publishing cap, a container (from the media URL, or Threads' text
//! alone), its status followed through the queue, then `media_publish` / `threads_publish`
//! (`core::publish::instagram_publish` has the shapes).

use super::calls::Answer;
use super::claim::find_on_platform;
use super::claim::Claim;
use crate::core::grant::grant_tokens::SecretText;
use crate::core::oauth::catalogue::PublishSpec;
use crate::core::publish::instagram_publish::{self as ig, ContainerStatus};
use crate::core::publish::media::Media;
use crate::core::publish::publish_dialect::{self, Lookup};
use crate::core::publish::publish_progress::{Next, Progress};
use crate::edge::http::http_client::HttpError;
use crate::edge::http::respond::Handled;

pub(crate) async fn run(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    media: &[Media],
    token: &SecretText,
) -> Handled<Next> {
    match claim.target.progress() {
        Some(Progress::Container { id, polls }) => follow(claim, publish, token, &id, polls).await,
        _ => start(claim, publish, media, token).await,
    }
}

/// An answer that refuses the token (401, or Meta's 190).
fn refused_token(publish: &PublishSpec, answer: &Answer) -> bool {
    publish_dialect::token_refused(publish, answer.status().as_u16(), answer.body())
}

/// A refusal of a call that creates no post: retried with the publish policy's backoff.
fn refusal(
    publish: &PublishSpec,
    answer: std::result::Result<Answer, HttpError>,
    what: &str,
) -> Next {
    match answer {
        Ok(a) if refused_token(publish, &a) => Next::TokenRefused,
        Ok(a) => Next::Refused {
            status: a.status().as_u16(),
            retry_after_secs: None,
            message: format!("{} refused {what}", ig::platform(publish)),
        },
        Err(e) => Next::Refused {
            status: 503,
            retry_after_secs: None,
            message: format!("{} did not answer {what}: {e}", ig::platform(publish)),
        },
    }
}

async fn start(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    media: &[Media],
    token: &SecretText,
) -> Handled<Next> {
    let t = claim.target;
    let settings = claim.media;
    let name = ig::platform(publish);
    let item = media.first();
    if item.is_none() && !ig::takes_text_alone(publish) {
        return Ok(Next::Fail {
            reason: "media_required",
            message: format!("{name} takes no post without an image or a video."),
        });
    }
    let limit = claim
        .call(
            "GET",
            &ig::limit_url(publish, &t.external_id),
            token,
            None,
            &[],
        )
        .await;
    match limit {
        Ok(a) if a.status().is_success() => {
            if let Some((used, total)) = ig::publishing_limit(a.body()).filter(|(u, t)| u >= t) {
                let until = claim
                    .now
                    .plus_millis(i64::from(settings.cap_wait_secs) * 1_000);
                return Ok(Next::Defer {
                    until,
                    reason: "publishing_cap_reached",
                    message: format!(
                        "{name}'s publishing cap is reached: this account has published \
                         {used} of {total} posts allowed through the API in the last 24 hours. \
                         Evergreen tries again at {}.",
                        until.to_rfc3339()
                    ),
                });
            }
        }
        Ok(a) if refused_token(publish, &a) => return Ok(Next::TokenRefused),
        // The cap could not be read: the platform refuses the publish itself if it is reached.
        _ => {}
    }
    if let Some(item) = item {
        if let Err(next) = super::calls::check_media_served(claim, item).await {
            return Ok(next);
        }
    }
    let answer = claim
        .call(
            "POST",
            &ig::container_url(publish, &t.external_id),
            token,
            Some(ig::container_body(publish, item, &t.text)),
            &[],
        )
        .await;
    Ok(match answer {
        Ok(a) if a.status().is_success() => match ig::created_id(a.body()) {
            Some(id) => Next::Wait {
                progress: Progress::Container { id, polls: 0 },
                after_secs: settings.poll_delay_secs(0),
                note: format!("{name} is preparing the post."),
            },
            None => refusal(publish, Ok(a), "the container (no id in its answer)"),
        },
        other => refusal(publish, other, "the media container"),
    })
}

async fn follow(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    token: &SecretText,
    container: &str,
    polls: u32,
) -> Handled<Next> {
    let settings = claim.media;
    let name = ig::platform(publish);
    let answer = claim
        .call("GET", &ig::status_url(publish, container), token, None, &[])
        .await;
    let status = match &answer {
        Ok(a) if refused_token(publish, a) => return Ok(Next::TokenRefused),
        Ok(a) if a.status().is_success() => ig::container_status(publish, a.body()),
        _ => ContainerStatus::Unreadable,
    };
    let again = |note: String| {
        if polls + 1 >= settings.max_polls {
            Next::Fail {
                reason: "processing_timeout",
                message: format!(
                    "{name} had not finished preparing the post after {} checks ({note}); \
                     nothing was published. Retry the post to try again.",
                    polls + 1
                ),
            }
        } else {
            Next::Wait {
                progress: Progress::Container {
                    id: container.to_owned(),
                    polls: polls + 1,
                },
                after_secs: settings.poll_delay_secs(polls + 1),
                note,
            }
        }
    };
    match status {
        ContainerStatus::InProgress => Ok(again(format!("{name} is preparing the post."))),
        ContainerStatus::Unreadable => Ok(again("the container's status could not be read".into())),
        ContainerStatus::Failed(why) => Ok(Next::Fail {
            reason: "media_rejected",
            message: format!("{why}; nothing was published."),
        }),
        ContainerStatus::Published => {
            Ok(published_container(claim, publish, token, container).await)
        }
        ContainerStatus::Finished => {
            if !claim.mark_sent().await? {
                return Ok(Next::ClaimLost);
            }
            let t = claim.target;
            let answer = claim
                .call(
                    "POST",
                    &ig::publish_url(publish, &t.external_id),
                    token,
                    Some(ig::publish_body(container)),
                    &[],
                )
                .await;
            Ok(match answer {
                Ok(a) if a.status().is_success() => match ig::created_id(a.body()) {
                    Some(id) => Next::Published {
                        id,
                        message: "Published.".into(),
                    },
                    None => again("media_publish answered without an id".into()),
                },
                Ok(a) if refused_token(publish, &a) => Next::TokenRefused,
                Ok(a) if a.status().is_client_error() => Next::Refused {
                    status: a.status().as_u16(),
                    retry_after_secs: None,
                    message: format!("{name} refused the publish call"),
                },
                // Unclear: the container says whether it was published (a published container
                // cannot be published again), so read it again rather than guess.
                Ok(a) => again(format!("media_publish answered {}", a.status().as_u16())),
                Err(e) => again(format!("media_publish got no answer ({e})")),
            })
        }
    }
}

/// The container was published (a `media_publish` whose answer was lost went through): the
/// media's id from the account's recent media, or the container's if it is not listed yet.
async fn published_container(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    token: &SecretText,
    container: &str,
) -> Next {
    let t = claim.target;
    let author = t.author();
    let since =
        crate::edge::common::d1_time::read(t.sent_at.unwrap_or(t.not_before)).plus_millis(-5_000);
    let name = ig::platform(publish);
    match find_on_platform(claim.cx, publish, &author, token, &t.text, since).await {
        Ok(Lookup::Found(id)) => Next::Published {
            id,
            message: format!("Published ({name}'s container says so)."),
        },
        _ => Next::Published {
            id: container.to_owned(),
            message: format!(
                "Published ({name}'s container says so; the id stored is the container's, as \
                 the post was not listed yet)."
            ),
        },
    }
}
