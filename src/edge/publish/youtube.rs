//! YouTube: the quota reserved, a resumable upload session stored the moment it exists, the
//! video streamed from the media URL to the session (never held in memory), an interrupted
//! upload resumed from where YouTube says it stopped, then processing followed
//! (`core::publish::youtube_upload` has the protocol and the quota day).

use super::calls::{self, header};
use super::claim::Claim;
use crate::core::grant::grant_tokens::SecretText;
use crate::core::http::platform_answer::{upload_retryable, Answer};
use crate::core::oauth::catalogue::PublishSpec;
use crate::core::publish::media::{Media, MediaKind};
use crate::core::publish::publish_progress::{Next, Progress};
use crate::core::publish::youtube_upload::{self as yt, Processing, UploadAnswer};
use crate::edge::http::http_client;
use crate::edge::http::respond::Handled;
use crate::store::{self, Db};
use serde::Deserialize;
use std::time::Duration;
use worker::{
    wasm_bindgen::JsValue, Headers, Method, Request, RequestInit, RequestRedirect, ResponseBody,
};

const PROVIDER: &str = "youtube";

pub(crate) async fn run(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    media: &[Media],
    token: &SecretText,
) -> Handled<Next> {
    let Some(video) = media.first().filter(|m| m.kind == MediaKind::Video) else {
        return Ok(Next::Fail {
            reason: "media_required",
            message: "YouTube takes a video; this post has none.".into(),
        });
    };
    match claim.target.progress() {
        Some(Progress::Processing { video_id, polls }) => {
            processing(claim, publish, token, &video_id, polls).await
        }
        Some(Progress::Upload { session }) => resume(claim, publish, token, video, &session).await,
        _ => start(claim, publish, token, video).await,
    }
}

/// Waiting for the quota's reset, with the figures.
async fn quota_spent(claim: &Claim<'_>, why: &str) -> Handled<Next> {
    let settings = claim.media;
    #[derive(Deserialize)]
    struct Used {
        units: f64,
    }
    let used = claim
        .db
        .first::<Used>(store::operations::quota_used(
            PROVIDER,
            &yt::quota_day(claim.now),
        ))
        .await?
        .map_or(0, |u| u.units as u64);
    let until = yt::next_reset(claim.now);
    Ok(Next::Defer {
        until,
        reason: "quota_deferred",
        message: format!(
            "YouTube's daily API quota is spent ({why}: {used} of {} units used today; an \
             upload costs {}). The video waits for the quota to reset at midnight Pacific \
             time ({}).",
            settings.youtube_daily_units,
            settings.youtube_upload_units,
            until.to_rfc3339()
        ),
    })
}

/// Adds `units` to today's count; with `limit`, only if the total stays within it. False:
/// the limit would be passed.
async fn spend(claim: &Claim<'_>, units: u32, limit: Option<u32>) -> Handled<bool> {
    let spent = claim
        .db
        .write(store::operations::spend_quota(
            PROVIDER,
            &yt::quota_day(claim.now),
            units,
            limit,
        ))
        .await?;
    Ok(spent == 1)
}

async fn start(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    token: &SecretText,
    video: &Media,
) -> Handled<Next> {
    let settings = claim.media;
    if !spend(
        claim,
        settings.youtube_upload_units,
        Some(settings.youtube_daily_units),
    )
    .await?
    {
        return quota_spent(claim, "counted by Evergreen").await;
    }
    let headers: Vec<(String, String)> = yt::session_headers(video)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let answer = claim
        .call(
            "POST",
            &publish.url,
            token,
            Some(yt::session_body(
                &claim.target.text,
                settings.youtube_private == 1,
            )),
            &headers,
        )
        .await;
    let session = match answer {
        Ok(a) if a.status().is_success() => match header(&a, "location") {
            Some(session) => session,
            None => {
                return Ok(Next::Refused {
                    status: a.status().as_u16(),
                    retry_after_secs: None,
                    message: "YouTube started no upload session (no Location)".into(),
                })
            }
        },
        Ok(a) if a.status().as_u16() == 401 => return Ok(Next::TokenRefused),
        Ok(a) if yt::is_quota(a.status().as_u16(), a.body()) => {
            return quota_spent(claim, "YouTube says so").await
        }
        Ok(a) => {
            return Ok(Next::Refused {
                status: a.status().as_u16(),
                retry_after_secs: None,
                message: "YouTube refused the upload session".into(),
            })
        }
        // No session means no video: safe to try again.
        Err(e) => {
            return Ok(Next::Refused {
                status: 503,
                retry_after_secs: None,
                message: format!("YouTube's upload session got no answer: {e}"),
            })
        }
    };
    let progress = Progress::Upload {
        session: session.clone(),
    };
    if !claim.save_progress(&progress).await? {
        return Ok(Next::ClaimLost);
    }
    upload(claim, token, video, &session, 0).await
}

/// Asks the session where it stands, then carries on from there.
async fn resume(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    token: &SecretText,
    video: &Media,
    session: &str,
) -> Handled<Next> {
    let answer = claim
        .call(
            "PUT",
            session,
            token,
            None,
            &[(
                "content-range".into(),
                yt::status_query_range(video.size_bytes),
            )],
        )
        .await;
    let read = match &answer {
        Ok(a) => yt::read_upload(a.status().as_u16(), header(a, "range").as_deref(), a.body()),
        Err(e) => UploadAnswer::Interrupted(e.to_string()),
    };
    match read {
        UploadAnswer::Complete(id) => Ok(processed_next(claim, id, 0)),
        UploadAnswer::ResumeFrom(from) => upload(claim, token, video, session, from).await,
        UploadAnswer::SessionGone => start(claim, publish, token, video).await,
        UploadAnswer::QuotaExceeded(_) => quota_spent(claim, "YouTube says so").await,
        UploadAnswer::Refused(401, _) => Ok(Next::TokenRefused),
        UploadAnswer::Refused(status, why) if !status_is_retryable(status) => Ok(Next::Fail {
            reason: "platform_refused",
            message: format!("YouTube refused the upload session ({status}): {why}."),
        }),
        UploadAnswer::Refused(_, why) | UploadAnswer::Interrupted(why) => {
            Ok(wait_on_session(claim, session, &why))
        }
    }
}

fn status_is_retryable(status: u16) -> bool {
    upload_retryable(Answer::status(status))
}

fn wait_on_session(claim: &Claim<'_>, session: &str, why: &str) -> Next {
    Next::Wait {
        progress: Progress::Upload {
            session: session.to_owned(),
        },
        after_secs: claim.media.poll_delay_secs(0),
        note: format!("The upload was interrupted ({why}); it resumes from where YouTube has it."),
    }
}

fn processed_next(claim: &Claim<'_>, video_id: String, polls: u32) -> Next {
    Next::Wait {
        progress: Progress::Processing { video_id, polls },
        after_secs: claim.media.poll_delay_secs(polls),
        note: "YouTube is processing the video.".into(),
    }
}

/// Streams the file from byte `from` to the session.
async fn upload(
    claim: &Claim<'_>,
    token: &SecretText,
    video: &Media,
    session: &str,
    from: u64,
) -> Handled<Next> {
    let settings = claim.media;
    if from >= video.size_bytes {
        // YouTube has every byte but gave no video yet: ask again.
        return Ok(wait_on_session(
            claim,
            session,
            "all bytes sent, no video yet",
        ));
    }
    if !claim
        .extend_lease(settings.upload_timeout_secs + 60)
        .await?
    {
        return Ok(Next::ClaimLost);
    }
    let deadline = Duration::from_secs(u64::from(settings.upload_timeout_secs));
    let file = match calls::open_media(claim.cx, video, from, deadline).await {
        Ok(file) => file,
        Err(why) => {
            return Ok(Next::Fail {
                reason: "media_unavailable",
                message: format!("{why} Fix the media, then retry the post."),
            })
        }
    };
    let body: JsValue = match file.body() {
        ResponseBody::Stream(stream) => stream.clone().into(),
        ResponseBody::Body(bytes) => worker::js_sys::Uint8Array::from(bytes.as_slice()).into(),
        ResponseBody::Empty => JsValue::NULL,
    };
    let headers = Headers::new();
    let set = |name: &str, value: &str| headers.set(name, value);
    set("authorization", &format!("Bearer {}", token.expose()))?;
    set("content-type", &video.content_type)?;
    set("content-length", &(video.size_bytes - from).to_string())?;
    if from > 0 {
        set("content-range", &yt::content_range(from, video.size_bytes))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Put)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(body));
    let request = Request::new_with_init(
        &crate::edge::oauth::platform::platform_url(claim.cx, session),
        &init,
    )?;
    if !claim.mark_sent().await? {
        return Ok(Next::ClaimLost);
    }
    let answer = http_client::fetch_within(request, deadline).await;
    let read = match &answer {
        Ok(a) => yt::read_upload(a.status().as_u16(), header(a, "range").as_deref(), a.body()),
        Err(e) => UploadAnswer::Interrupted(e.to_string()),
    };
    Ok(match read {
        UploadAnswer::Complete(id) => processed_next(claim, id, 0),
        UploadAnswer::QuotaExceeded(_) => return quota_spent(claim, "YouTube says so").await,
        UploadAnswer::Refused(401, _) => Next::TokenRefused,
        UploadAnswer::Refused(status, why) if !status_is_retryable(status) => Next::Fail {
            reason: "platform_refused",
            message: format!("YouTube refused the upload ({status}): {why}."),
        },
        UploadAnswer::Refused(_, why) | UploadAnswer::Interrupted(why) => {
            wait_on_session(claim, session, &why)
        }
        UploadAnswer::ResumeFrom(next) => {
            wait_on_session(claim, session, &format!("YouTube has {next} bytes"))
        }
        UploadAnswer::SessionGone => wait_on_session(claim, session, "the session was not found"),
    })
}

async fn processing(
    claim: &Claim<'_>,
    publish: &PublishSpec,
    token: &SecretText,
    video_id: &str,
    polls: u32,
) -> Handled<Next> {
    let settings = claim.media;
    spend(claim, 1, None).await?;
    let answer = claim
        .call("GET", &yt::status_url(publish, video_id), token, None, &[])
        .await;
    let seen = match &answer {
        Ok(a) if a.status().as_u16() == 401 => return Ok(Next::TokenRefused),
        Ok(a) if yt::is_quota(a.status().as_u16(), a.body()) => {
            return quota_spent(claim, "YouTube says so").await
        }
        Ok(a) if a.status().is_success() => yt::processing(a.body()),
        _ => Processing::Pending,
    };
    Ok(match seen {
        Processing::Done => Next::Published {
            id: video_id.to_owned(),
            message: "Published (uploaded and processed).".into(),
        },
        Processing::Failed(why) => Next::Fail {
            reason: "platform_failed",
            message: format!("YouTube did not accept video {video_id}: {why}."),
        },
        Processing::Pending | Processing::Missing if polls + 1 >= settings.max_polls => {
            Next::Unconfirmed {
                message: format!(
                    "Video {video_id} is uploaded, and YouTube was still processing it after {} \
                     checks. Check it in YouTube Studio, then resolve the target.",
                    polls + 1
                ),
            }
        }
        Processing::Pending | Processing::Missing => {
            processed_next(claim, video_id.to_owned(), polls + 1)
        }
    })
}
