//! How far a multi-step publish has come, and the knobs of following a platform's work.
//!
//! Instagram, TikTok and YouTube publish asynchronously: a container, a publish id or an upload
//! session is created, and the platform's own status says when (and whether) the post exists.
//! The handle is stored on the target (`post_targets.progress`) the moment it exists, so a
//! later invocation, after a retry, a redelivery or an expired claim, continues from it instead
//! of starting again. Between polls the target goes back to the queue with a delay; nothing
//! sleeps.

use crate::core::common::clock::Timestamp;
use crate::core::common::settings::SettingError;
use crate::core::common::settings::{unknown_key, whole_numbers};
use crate::core::common::tagged;
use serde::{Deserialize, Serialize};

/// The stored progress of a target (JSON in `post_targets.progress`), tagged by `step` (read by
/// `core::common::tagged`, written by serde's derive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Progress {
    /// Media uploaded to the platform ahead of the post (X media ids, a LinkedIn image URN).
    Attached { ids: Vec<String> },
    /// Instagram: the container, and how often its status was read.
    Container { id: String, polls: u32 },
    /// TikTok: the post's publish id, followed through the status fetch.
    TiktokPublish { publish_id: String, polls: u32 },
    /// YouTube: the resumable upload session (its URI names the session; it is not a token).
    Upload { session: String },
    /// YouTube: the uploaded video, followed through processing.
    Processing { video_id: String, polls: u32 },
}

impl<'de> Deserialize<'de> for Progress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer, "step", |mut t| {
            Ok(match t.tag.as_str() {
                Self::ATTACHED_STEP => Self::Attached {
                    ids: t.field("ids")?,
                },
                "container" => Self::Container {
                    id: t.field("id")?,
                    polls: t.field("polls")?,
                },
                "tiktok_publish" => Self::TiktokPublish {
                    publish_id: t.field("publish_id")?,
                    polls: t.field("polls")?,
                },
                "upload" => Self::Upload {
                    session: t.field("session")?,
                },
                "processing" => Self::Processing {
                    video_id: t.field("video_id")?,
                    polls: t.field("polls")?,
                },
                _ => {
                    return t.unknown(&[
                        "attached",
                        "container",
                        "tiktok_publish",
                        "upload",
                        "processing",
                    ])
                }
            })
        })
    }
}

impl Progress {
    /// The step's name for [`Progress::Attached`]: a send made from it may have reached the
    /// platform unseen.
    pub const ATTACHED_STEP: &'static str = "attached";

    pub fn parse(text: Option<&str>) -> Option<Self> {
        serde_json::from_str(text?).ok()
    }

    /// The step's name, as the API shows it.
    pub const fn step(&self) -> &'static str {
        match self {
            Progress::Attached { .. } => Self::ATTACHED_STEP,
            Progress::Container { .. } => "container",
            Progress::TiktokPublish { .. } => "tiktok_publish",
            Progress::Upload { .. } => "upload",
            Progress::Processing { .. } => "processing",
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the platform can say what became of a send made from here: a claim that expired
    /// after sending goes back to the queue (the next step asks the platform) rather than
    /// becoming unconfirmed.
    pub const fn settles_itself(&self) -> bool {
        !matches!(self, Progress::Attached { .. })
    }
}

/// What the edge does next with a target, as a platform's answer decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Published: the platform's id for the post.
    Published { id: String, message: String },
    /// The platform is still working: store `progress`, come back after `after_secs`.
    Wait {
        progress: Progress,
        after_secs: u32,
        note: String,
    },
    /// Not now (a quota or a cap): back to the queue at `until`, not counted as an attempt.
    Defer {
        until: Timestamp,
        reason: &'static str,
        message: String,
    },
    /// Refused for good, with a stable reason; nothing was published.
    Fail {
        reason: &'static str,
        message: String,
    },
    /// Refused this time; retried with the publish policy's backoff, counted.
    Refused {
        status: u16,
        retry_after_secs: Option<u64>,
        message: String,
    },
    /// The platform refused the token: refresh once through the grant's object, then again.
    TokenRefused,
    /// It may have happened and nothing can tell.
    Unconfirmed { message: String },
    /// The claim was lost (its lease expired and another consumer owns the target): nothing
    /// more to write.
    ClaimLost,
}

/// Media publishing's knobs (`MEDIA`, e.g. `max_polls=40,upload_max_mb=1024`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaSettings {
    /// The first status poll's delay; it doubles per poll up to `poll_max_secs`.
    pub poll_first_secs: u32,
    pub poll_max_secs: u32,
    /// Polls before a platform's work counts as stuck (about three hours by default).
    pub max_polls: u32,
    /// Evergreen's cap on a file it streams to the platform (YouTube).
    pub upload_max_mb: u32,
    /// How long one upload request may take (the queue consumer's wall clock is 15 min).
    pub upload_timeout_secs: u32,
    /// The Google project's daily YouTube Data API quota, and what one upload costs.
    pub youtube_daily_units: u32,
    pub youtube_upload_units: u32,
    /// 1: videos go up `private` (needed until Google audits the API project).
    pub youtube_private: u32,
    /// 1: TikTok posts are `SELF_ONLY` (needed until TikTok audits the app).
    pub tiktok_private: u32,
    /// How long a target waits when Instagram's 24-hour publishing cap is reached.
    pub cap_wait_secs: u32,
    /// An unconfirmed target whose platform has a lookup is looked up again for this long
    /// after the send; not found by then, it failed.
    pub confirm_window_secs: u32,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            poll_first_secs: 5,
            poll_max_secs: 300,
            max_polls: 40,
            upload_max_mb: 1_024,
            upload_timeout_secs: 600,
            youtube_daily_units: 10_000,
            youtube_upload_units: 1_600,
            youtube_private: 0,
            tiktok_private: 0,
            cap_wait_secs: 3_600,
            confirm_window_secs: 900,
        }
    }
}

impl MediaSettings {
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let mut s = Self::default();
        for (key, n) in whole_numbers("MEDIA", text)? {
            let field = match key {
                "poll_first_secs" => &mut s.poll_first_secs,
                "poll_max_secs" => &mut s.poll_max_secs,
                "max_polls" => &mut s.max_polls,
                "upload_max_mb" => &mut s.upload_max_mb,
                "upload_timeout_secs" => &mut s.upload_timeout_secs,
                "youtube_daily_units" => &mut s.youtube_daily_units,
                "youtube_upload_units" => &mut s.youtube_upload_units,
                "youtube_private" => &mut s.youtube_private,
                "tiktok_private" => &mut s.tiktok_private,
                "cap_wait_secs" => &mut s.cap_wait_secs,
                "confirm_window_secs" => &mut s.confirm_window_secs,
                other => return Err(unknown_key("MEDIA", other)),
            };
            *field = n;
        }
        if s.poll_first_secs == 0 || s.poll_max_secs < s.poll_first_secs {
            return Err(SettingError::rule(
                "MEDIA",
                "MEDIA: poll_first_secs must be 1 or more, and at most poll_max_secs",
            ));
        }
        if s.max_polls == 0 || s.upload_max_mb == 0 || s.cap_wait_secs == 0 {
            return Err(SettingError::rule(
                "MEDIA",
                "MEDIA: max_polls, upload_max_mb and cap_wait_secs must be 1 or more",
            ));
        }
        if s.upload_timeout_secs == 0 || s.upload_timeout_secs > 840 {
            return Err(SettingError::rule(
                "MEDIA",
                "MEDIA: upload_timeout_secs must be 1 to 840 (a consumer runs 15 min)",
            ));
        }
        if s.youtube_upload_units == 0 || s.youtube_upload_units > s.youtube_daily_units {
            return Err(SettingError::rule(
                "MEDIA",
                "MEDIA: youtube_upload_units must be 1 to youtube_daily_units",
            ));
        }
        if s.youtube_private > 1 || s.tiktok_private > 1 {
            return Err(SettingError::rule(
                "MEDIA",
                "MEDIA: youtube_private and tiktok_private are 0 or 1",
            ));
        }
        Ok(s)
    }

    /// The delay before poll `polls + 1`.
    pub fn poll_delay_secs(self, polls: u32) -> u32 {
        u64::from(self.poll_first_secs)
            .saturating_mul(1u64 << polls.min(20))
            .min(u64::from(self.poll_max_secs)) as u32
    }

    pub fn upload_cap_bytes(self) -> u64 {
        u64::from(self.upload_max_mb) * 1_048_576
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_knows_what_settles_itself() {
        let p = Progress::Container {
            id: "17889".into(),
            polls: 2,
        };
        assert_eq!(
            p.to_json(),
            r#"{"step":"container","id":"17889","polls":2}"#
        );
        assert_eq!(Progress::parse(Some(&p.to_json())), Some(p.clone()));
        assert!(p.settles_itself());
        assert!(!Progress::Attached { ids: vec![] }.settles_itself());
        assert_eq!(Progress::parse(Some("{}")), None);
        assert_eq!(Progress::parse(None), None);
    }

    #[test]
    fn every_step_reads_back_as_it_was_written() {
        let steps = [
            Progress::Attached {
                ids: vec!["m1".into(), "m2".into()],
            },
            Progress::Container {
                id: "c".into(),
                polls: 0,
            },
            Progress::TiktokPublish {
                publish_id: "p".into(),
                polls: 4,
            },
            Progress::Upload {
                session: "https://upload/s".into(),
            },
            Progress::Processing {
                video_id: "v".into(),
                polls: 9,
            },
        ];
        for p in steps {
            let json = p.to_json();
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(value["step"], p.step(), "{json}");
            assert_eq!(Progress::parse(Some(&json)), Some(p), "{json}");
        }
        // A step without its fields, a field of the wrong type, an unknown step: no progress.
        for bad in [
            r#"{"step":"container","id":"c"}"#,
            r#"{"step":"processing","video_id":"v","polls":"9"}"#,
            r#"{"step":"teleport"}"#,
            r#"{"id":"c","polls":1}"#,
        ] {
            assert_eq!(Progress::parse(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_and_polls_back_off() {
        let s = MediaSettings::parse("poll_first_secs=1,poll_max_secs=4,max_polls=3").unwrap();
        assert_eq!(
            (0..5).map(|p| s.poll_delay_secs(p)).collect::<Vec<_>>(),
            [1, 2, 4, 4, 4]
        );
        assert_eq!(MediaSettings::parse("").unwrap(), MediaSettings::default());
        assert!(MediaSettings::parse("poll_first_secs=0").is_err());
        assert!(MediaSettings::parse("youtube_upload_units=20000").is_err());
        assert!(MediaSettings::parse("tiktok_private=2").is_err());
        assert!(MediaSettings::parse("upload_timeout_secs=900").is_err());
        assert!(MediaSettings::parse("colour=1")
            .unwrap_err()
            .to_string()
            .contains("unknown key"));
        assert_eq!(MediaSettings::default().upload_cap_bytes(), 1_073_741_824);
    }
}
