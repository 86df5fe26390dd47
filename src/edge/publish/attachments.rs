//! Images uploaded to the platform before the post that carries them: X's media upload and
//! LinkedIn's Images API (`core::publish::publish_dialect` has the shapes). An uploaded image is not a
//! post, so an upload that fails is simply tried again; the ids are stored as the target's
//! progress, so a later attempt reuses them instead of uploading twice.

use super::calls::{self, Answer};
use super::claim::Claim;
use crate::core::grant::grant_tokens::SecretText;
use crate::core::oauth::catalogue::{ProviderSpec, PublishDialect, PublishSpec};
use crate::core::publish::media::Media;
use crate::core::publish::publish_dialect::{self, Author};
use crate::core::publish::publish_progress::{Next, Progress};
use crate::edge::http::http_client;
use crate::edge::http::http_client::HttpError;
use crate::edge::http::respond::Handled;
use crate::edge::http::respond::Internal;
use crate::edge::oauth::platform;
use std::time::Duration;

/// The uploaded media's ids, or what to do instead of posting.
// Exception to the 80-line limit: one upload's request, progress and answer, each step a platform call.
#[allow(clippy::too_many_lines)]
pub(crate) async fn upload(
    claim: &Claim<'_>,
    spec: &ProviderSpec,
    publish: &PublishSpec,
    author: &Author<'_>,
    media: &[Media],
    token: &SecretText,
) -> Handled<std::result::Result<Vec<String>, Next>> {
    if let Some(Progress::Attached { ids }) = claim.target.progress() {
        if ids.len() == media.len() {
            return Ok(Ok(ids));
        }
    }
    let deadline = Duration::from_secs(u64::from(claim.settings.timeout_secs));
    let mut ids = Vec::new();
    for item in media {
        let bytes = match calls::open_media(claim.cx, item, 0, deadline).await {
            Ok(mut file) => file.bytes().await.map_err(|e| e.to_string()),
            Err(why) => Err(why),
        };
        let bytes = match bytes {
            Ok(b) if b.len() as u64 == item.size_bytes => b,
            Ok(b) => {
                return Ok(Err(media_problem(format!(
                    "The media at {} is {} bytes, not the declared {}.",
                    item.url,
                    b.len(),
                    item.size_bytes
                ))))
            }
            Err(why) => return Ok(Err(media_problem(why))),
        };
        let id = match publish.dialect {
            PublishDialect::X => {
                let body = publish_dialect::x_media_upload_body(&bytes, &item.content_type);
                let answer = claim
                    .call(
                        "POST",
                        publish.endpoint("media_upload"),
                        token,
                        Some(body),
                        &[],
                    )
                    .await;
                match read(answer, publish_dialect::x_media_id) {
                    Ok(id) => id,
                    Err(next) => return Ok(Err(next)),
                }
            }
            _ => {
                let api: Vec<(String, String)> =
                    spec.api.iter().flat_map(|a| a.call_headers()).collect();
                let body = publish_dialect::linkedin_image_init_body(author);
                let answer = claim
                    .call(
                        "POST",
                        publish.endpoint("image_upload"),
                        token,
                        Some(body),
                        &api,
                    )
                    .await;
                let (upload_url, image) = match read(answer, publish_dialect::linkedin_image_upload)
                {
                    Ok(found) => found,
                    Err(next) => return Ok(Err(next)),
                };
                let put = http::Request::builder()
                    .method("PUT")
                    .uri(platform::platform_url(claim.cx, &upload_url))
                    .header("authorization", format!("Bearer {}", token.expose()))
                    .header("content-type", item.content_type.as_str())
                    .body(bytes)
                    .map_err(Internal::Request)?;
                let answer = http_client::send_within(put, deadline).await;
                if let Err(next) = read(answer, |_| Some(())) {
                    return Ok(Err(next));
                }
                image
            }
        };
        ids.push(id);
    }
    claim
        .save_progress(&Progress::Attached { ids: ids.clone() })
        .await?;
    Ok(Ok(ids))
}

fn media_problem(why: String) -> Next {
    Next::Fail {
        reason: "media_unavailable",
        message: format!("{why} Fix the media, then retry the post."),
    }
}

/// What an upload's answer gives, or what to do: the token refused, or a refusal retried
/// with backoff (an upload that went wrong left no post behind).
fn read<T>(
    answer: std::result::Result<Answer, HttpError>,
    found: impl Fn(&[u8]) -> Option<T>,
) -> std::result::Result<T, Next> {
    match answer {
        Ok(a) if a.status().is_success() => found(a.body()).ok_or(Next::Refused {
            status: a.status().as_u16(),
            retry_after_secs: None,
            message: "the media upload answered without an id".into(),
        }),
        Ok(a) if a.status().as_u16() == 401 => Err(Next::TokenRefused),
        Ok(a) => Err(Next::Refused {
            status: a.status().as_u16(),
            retry_after_secs: calls::header(&a, "retry-after").and_then(|v| v.trim().parse().ok()),
            message: "the media upload was refused".into(),
        }),
        Err(e) => Err(Next::Refused {
            status: 503,
            retry_after_secs: None,
            message: format!("the media upload got no answer: {e}"),
        }),
    }
}
