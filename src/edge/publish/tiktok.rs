//! TikTok: creator info, a `PULL_FROM_URL` video post, then its `publish_id` followed through
//! the status fetch (`core::publish::tiktok_publish` has the shapes and the rules).

use super::calls::Answer;
use super::claim::Claim;
use crate::core::grant::grant_tokens::SecretText;
use crate::core::oauth::catalogue::PublishSpec;
use crate::core::publish::media::{Media, MediaKind};
use crate::core::publish::publish_progress::{Next, Progress};
use crate::core::publish::tiktok_publish::{self as tt, PostStatus, TikTokError};
use crate::edge::http::http_client::HttpError;
use crate::edge::http::respond::Handled;

pub(crate) async fn run(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    media: &[Media],
    token: &SecretText,
) -> Handled<Next> {
    match claim.target.progress() {
        Some(Progress::TiktokPublish { publish_id, polls }) => {
            follow(claim, publish, token, &publish_id, polls).await
        }
        _ => start(claim, publish, media, token).await,
    }
}

/// What a refusal means: the token, a rule a person must act on, or a refusal to retry.
fn refused(status: u16, error: Option<TikTokError>, what: &str) -> Next {
    match error {
        Some(e) if e.token_refused() || status == 401 => Next::TokenRefused,
        Some(e) => match e.permanent() {
            Some(message) => Next::Fail {
                reason: "platform_refused",
                message,
            },
            None => Next::Refused {
                status,
                retry_after_secs: None,
                message: format!("TikTok refused {what}: {} {}", e.code, e.message),
            },
        },
        None if status == 401 => Next::TokenRefused,
        None => Next::Refused {
            status,
            retry_after_secs: None,
            message: format!("TikTok answered {what} with {status}"),
        },
    }
}

fn status_of(answer: &std::result::Result<Answer, HttpError>) -> u16 {
    answer.as_ref().map_or(0, |a| a.status().as_u16())
}

// Exception to the 80-line limit: TikTok's init call with its creator-info check, as the platform orders them.
#[allow(clippy::too_many_lines)]
async fn start(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    media: &[Media],
    token: &SecretText,
) -> Handled<Next> {
    let settings = claim.media;
    let Some(video) = media.first().filter(|m| m.kind == MediaKind::Video) else {
        return Ok(Next::Fail {
            reason: "media_required",
            message: "TikTok takes a video; this post has none.".into(),
        });
    };
    let answer = claim
        .call(
            "POST",
            publish.endpoint("creator_info"),
            token,
            Some("{}".into()),
            &[],
        )
        .await;
    let status = status_of(&answer);
    let info = match answer {
        Ok(a) => match tt::creator_info(a.body()) {
            Ok(info) => info,
            Err(e) => return Ok(refused(status, e, "the creator info query")),
        },
        Err(e) => {
            return Ok(Next::Refused {
                status: 503,
                retry_after_secs: None,
                message: format!("TikTok's creator info got no answer: {e}"),
            })
        }
    };
    let privacy = match tt::privacy_level(&info, settings.tiktok_private == 1) {
        Ok(level) => level,
        Err(message) => {
            return Ok(Next::Fail {
                reason: "privacy_not_allowed",
                message,
            })
        }
    };
    if let Err(message) = tt::fits_duration(&info, video.duration_secs.unwrap_or(0.0)) {
        return Ok(Next::Fail {
            reason: "media_too_long",
            message,
        });
    }
    if let Err(next) = super::calls::check_media_served(claim, video).await {
        return Ok(next);
    }
    if !claim.mark_sent().await? {
        return Ok(Next::ClaimLost);
    }
    let answer = claim
        .call(
            "POST",
            &publish.url,
            token,
            Some(tt::init_body(&claim.target.text, privacy, &video.url)),
            &[],
        )
        .await;
    let status = status_of(&answer);
    Ok(match answer {
        Ok(a) => match tt::publish_id(a.body()) {
            Ok(publish_id) => Next::Wait {
                progress: Progress::TiktokPublish {
                    publish_id,
                    polls: 0,
                },
                after_secs: settings.poll_delay_secs(0),
                note: format!("TikTok is fetching the video (posting as {privacy})."),
            },
            Err(Some(e)) => refused(status, Some(e), "the post"),
            Err(None) if (400..500).contains(&status) => refused(status, None, "the post"),
            Err(None) => unclear(format!(
                "TikTok answered the post with {status} and no publish id"
            )),
        },
        Err(e) => unclear(format!("TikTok's answer to the post was lost ({e})")),
    })
}

/// Without its publish id a post cannot be found: TikTok lists an account's videos only to
/// apps with `video.list`, and a private post not at all.
fn unclear(why: String) -> Next {
    Next::Unconfirmed {
        message: format!(
            "{why}. TikTok offers no way to find the post without its publish id: check the \
             account, then resolve the target as published or retry it."
        ),
    }
}

async fn follow(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    token: &SecretText,
    publish_id: &str,
    polls: u32,
) -> Handled<Next> {
    let settings = claim.media;
    let answer = claim
        .call(
            "POST",
            publish.endpoint("status"),
            token,
            Some(tt::status_body(publish_id)),
            &[],
        )
        .await;
    let status = status_of(&answer);
    let seen = match answer.as_ref().map(|a| tt::post_status(a.body())) {
        Ok(Ok(seen)) => seen,
        Ok(Err(Some(e))) if e.token_refused() || status == 401 => return Ok(Next::TokenRefused),
        Ok(Err(Some(e))) => PostStatus::Processing(format!("status unreadable: {}", e.code)),
        Ok(Err(None)) => PostStatus::Processing(format!("status answered {status}")),
        Err(e) => PostStatus::Processing(format!("status got no answer ({e})")),
    };
    Ok(match seen {
        PostStatus::Complete(Some(id)) => Next::Published {
            id,
            message: "Published.".into(),
        },
        PostStatus::Complete(None) => Next::Published {
            id: publish_id.to_owned(),
            message: "Published. TikTok gives no post id for a post that is not public; the \
                      id stored is the publish id."
                .into(),
        },
        PostStatus::Failed(reason) => Next::Fail {
            reason: "platform_failed",
            message: format!("TikTok could not publish the video: {reason}."),
        },
        PostStatus::Processing(now) if polls + 1 >= settings.max_polls => Next::Unconfirmed {
            message: format!(
                "TikTok still reported {now} after {} checks. The post may yet appear \
                 (TikTok's moderation can take hours): check the account, then resolve the \
                 target.",
                polls + 1
            ),
        },
        PostStatus::Processing(now) => Next::Wait {
            progress: Progress::TiktokPublish {
                publish_id: publish_id.to_owned(),
                polls: polls + 1,
            },
            after_secs: settings.poll_delay_secs(polls + 1),
            note: format!("TikTok reports {now}."),
        },
    })
}
