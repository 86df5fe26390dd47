//! Bluesky: the post written with `putRecord` at the target's own record key, on the account's
//! PDS, with the DPoP-bound token (`core::publish::bluesky_post` has the shapes and why a retry
//! cannot post twice).

use super::claim::{Claim, DpopUse};
use crate::core::grant::grant_tokens::SecretText;
use crate::core::publish::bluesky_post as post;
use crate::core::publish::publish_progress::Next;
use crate::edge::common::d1_time::read as time;
use crate::edge::http::respond::Handled;
use crate::edge::oauth::atproto_client::pds_call;
use std::time::Duration;

pub(crate) async fn run(claim: &Claim<'_>) -> Handled<Next> {
    let Some((token, dpop)) = claim.usable_dpop_token(false).await? else {
        return Ok(Next::ClaimLost);
    };
    let t = claim.target;
    let rkey = post::record_key(t.id.as_str(), time(t.not_before));
    if !claim.mark_sent().await? {
        return Ok(Next::ClaimLost);
    }
    let mut answer = put(claim, &dpop, &token, &rkey).await;
    if matches!(answer, Ok((401, _))) {
        // One refresh (or the verdict that the grant is dead) through the object, then again.
        let Some((renewed, dpop)) = claim.usable_dpop_token(true).await? else {
            return Ok(Next::ClaimLost);
        };
        answer = put(claim, &dpop, &renewed, &rkey).await;
        if matches!(answer, Ok((401, _))) {
            return Ok(Next::TokenRefused);
        }
        return settle(claim, &dpop, &renewed, &rkey, answer).await;
    }
    settle(claim, &dpop, &token, &rkey, answer).await
}

async fn put(
    claim: &Claim<'_>,
    dpop: &DpopUse,
    token: &SecretText,
    rkey: &str,
) -> Result<(u16, Vec<u8>), String> {
    let b = &dpop.binding;
    let body = post::put_body(&b.did, rkey, &claim.target.text, claim.now);
    let deadline = Duration::from_secs(u64::from(claim.settings.timeout_secs));
    let answer = pds_call(
        claim.cx,
        b,
        token,
        "POST",
        &post::put_url(&b.pds),
        Some(&body),
        deadline,
    )
    .await
    .map_err(|e| e.to_string())?;
    claim.note_status(answer.0);
    Ok(answer)
}

async fn settle(
    claim: &Claim<'_>,
    dpop: &DpopUse,
    token: &SecretText,
    rkey: &str,
    answer: Result<(u16, Vec<u8>), String>,
) -> Handled<Next> {
    let unclear = match answer {
        Ok((200, body)) => match post::record_uri(&body) {
            Some(uri) => {
                return Ok(Next::Published {
                    id: uri,
                    message: "Published.".into(),
                })
            }
            None => "the PDS answered 200 without the record's uri".to_owned(),
        },
        Ok((401, _)) => return Ok(Next::TokenRefused),
        Ok((status @ 400..=499, _)) => {
            return Ok(Next::Refused {
                status,
                retry_after_secs: None,
                message: format!("Bluesky refused the post ({status})"),
            })
        }
        Ok((status, _)) => format!("the PDS answered {status}"),
        Err(e) => format!("no answer from the PDS ({e})"),
    };
    // Unclear: the record says. There, it was published; not there, nothing was, and the same
    // record key makes the next attempt safe.
    let b = &dpop.binding;
    let deadline = Duration::from_secs(u64::from(claim.settings.timeout_secs));
    let read = pds_call(
        claim.cx,
        b,
        token,
        "GET",
        &post::get_url(&b.pds, &b.did, rkey),
        None,
        deadline,
    )
    .await;
    Ok(match read {
        Ok((200, body)) => match post::record_uri(&body) {
            Some(uri) => Next::Published {
                id: uri,
                message: format!("Published ({unclear}; the record is there)."),
            },
            None => Next::Unconfirmed {
                message: format!("{unclear}, and the record could not be read back"),
            },
        },
        Ok((400, body)) if post::not_found(&body) => Next::Refused {
            status: 503,
            retry_after_secs: None,
            message: format!("{unclear}; the record is not there, so nothing was published"),
        },
        _ => Next::Unconfirmed {
            message: format!("{unclear}, and the record could not be read back"),
        },
    })
}
