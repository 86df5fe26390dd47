//! Media on a post: what the scheduler declares (a URL, a kind, its type, size and, for video,
//! duration), what each platform takes, and the checks made before anything is sent.
//!
//! Evergreen never stores media. It reads each file from the scheduler's URL when the target
//! is published (a platform that pulls media itself, Instagram and TikTok, reads the URL
//! directly). Because a worker cannot measure a video's duration without decoding it, the
//! scheduler declares the facts, and they are checked twice: against each platform's limits
//! when the post is created (a 422 naming the platform and the limit), and against the file's
//! own `Content-Type` and `Content-Length` when it is read, before the platform is called.
//!
//! Each platform's limits are data in the catalogue (`publish.media`); where they come from:
//! - X: up to 4 images (JPEG, PNG, WEBP, GIF), 5 MB each
//!   (docs.x.com/x-api/media/quickstart/best-practices). Video is not taken through Evergreen.
//! - LinkedIn: one image (JPEG, PNG, GIF) through the Images API
//!   (learn.microsoft.com/linkedin/marketing/community-management/shares/images-api).
//!   LinkedIn documents a pixel limit (36,152,320), not a byte limit; 10 MB is Evergreen's.
//! - Facebook Pages: one photo by URL (`/{page-id}/photos`), JPEG, PNG, GIF, up to 10 MB
//!   (developers.facebook.com/docs/pages-api/posts).
//! - Instagram: one JPEG image up to 8 MB, or one video (MP4, MOV) up to 300 MB and 3 s to
//!   15 min, published as a reel (developers.facebook.com/docs/instagram-platform/reference/
//!   ig-user/media).
//! - TikTok: one video (MP4, WebM, MOV) up to 4 GB; the duration limit is the creator's own
//!   (`max_video_post_duration_sec`, read before each post)
//!   (developers.tiktok.com/doc/content-posting-api-media-transfer-guide).
//! - YouTube: one video; Evergreen streams it, and caps its size with `MEDIA upload_max_mb`
//!   (developers.google.com/youtube/v3/docs/videos/insert).

use serde::{Deserialize, Serialize};

/// The most media items one post carries (X's four images).
pub const MAX_ITEMS: usize = 4;
/// The longest media URL.
pub const MAX_URL_CHARS: usize = 2_048;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

/// One media item, as the scheduler declared it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Where the file is read from: `https://`, reachable from the internet.
    pub url: String,
    pub kind: MediaKind,
    /// `image/jpeg`, `video/mp4`, …
    pub content_type: String,
    #[serde(deserialize_with = "crate::core::http::json_integer::exact")]
    pub size_bytes: u64,
    /// Required for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
}

/// What a platform takes (`publish.media` in the catalogue).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaRules {
    /// The platform takes no post without media (Instagram, TikTok, YouTube).
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub images: Option<ImageRules>,
    #[serde(default)]
    pub video: Option<VideoRules>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRules {
    pub max_count: usize,
    pub types: Vec<String>,
    pub max_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoRules {
    pub types: Vec<String>,
    pub max_bytes: u64,
    #[serde(default)]
    pub min_secs: Option<u32>,
    #[serde(default)]
    pub max_secs: Option<u32>,
}

impl Media {
    /// Checks an item on its own; the error is a message for the developer.
    pub fn check(&self, n: usize) -> Result<(), String> {
        let which = format!("media[{n}]");
        let url = self.url.trim();
        if url.len() > MAX_URL_CHARS {
            return Err(format!(
                "{which}.url is longer than {MAX_URL_CHARS} characters."
            ));
        }
        let rest = url.strip_prefix("https://").ok_or_else(|| {
            format!("{which}.url must be an https:// URL the platforms can read.")
        })?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || host.contains('@') || url.chars().any(char::is_whitespace) {
            return Err(format!("{which}.url {url:?} is not a usable https:// URL."));
        }
        let prefix = match self.kind {
            MediaKind::Image => "image/",
            MediaKind::Video => "video/",
        };
        if !self.content_type.starts_with(prefix) || self.content_type.len() <= prefix.len() {
            return Err(format!(
                "{which}.content_type {:?} does not fit kind {:?} (expected {prefix}…).",
                self.content_type,
                kind_name(self.kind)
            ));
        }
        if self.size_bytes == 0 {
            return Err(format!(
                "{which}.size_bytes must be the file's size in bytes."
            ));
        }
        match (self.kind, self.duration_secs) {
            (MediaKind::Video, None) => Err(format!(
                "{which}.duration_secs is required for video (platforms limit the duration)."
            )),
            (MediaKind::Video, Some(d)) if !(d.is_finite() && d > 0.0) => {
                Err(format!("{which}.duration_secs must be a positive number."))
            }
            (MediaKind::Image, Some(_)) => Err(format!("{which}.duration_secs is for video only.")),
            _ => Ok(()),
        }
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
    }
}

/// Checks a post's media as a whole: at most [`MAX_ITEMS`], each sound, and either images or
/// one video.
pub fn check_all(media: &[Media]) -> Result<(), String> {
    if media.len() > MAX_ITEMS {
        return Err(format!(
            "media has {} items; a post carries at most {MAX_ITEMS}.",
            media.len()
        ));
    }
    for (n, item) in media.iter().enumerate() {
        item.check(n)?;
    }
    let videos = media.iter().filter(|m| m.kind == MediaKind::Video).count();
    if videos > 0 && media.len() > 1 {
        return Err("A post carries either images or one video, not both.".into());
    }
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1_048_576.0;
    if mb >= 1024.0 {
        format!("{:.0} GB", mb / 1024.0)
    } else {
        format!("{mb:.0} MB")
    }
}

/// Whether `media` fits a platform (`rules`: `None` for text only), or the message saying
/// what does not. `upload_cap` is Evergreen's own cap on a file it streams, if lower.
pub fn fits(
    rules: Option<&MediaRules>,
    display_name: &str,
    media: &[Media],
    upload_cap: Option<u64>,
) -> Result<(), String> {
    let Some(rules) = rules else {
        return if media.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{display_name} takes text posts only through Evergreen; send it without media."
            ))
        };
    };
    if media.is_empty() {
        return if rules.required {
            Err(format!(
                "{display_name} takes no post without media: add {}.",
                match (&rules.images, &rules.video) {
                    (Some(_), Some(_)) => "an image or a video",
                    (Some(_), None) => "an image",
                    _ => "a video",
                }
            ))
        } else {
            Ok(())
        };
    }
    let kind = media[0].kind;
    match kind {
        MediaKind::Image => {
            let Some(images) = &rules.images else {
                return Err(format!("{display_name} takes no images; send a video."));
            };
            if media.len() > images.max_count {
                return Err(format!(
                    "{display_name} takes at most {} image{} per post; this post has {}.",
                    images.max_count,
                    if images.max_count == 1 { "" } else { "s" },
                    media.len()
                ));
            }
            for (n, m) in media.iter().enumerate() {
                if !images.types.iter().any(|t| t == &m.content_type) {
                    return Err(format!(
                        "{display_name} takes images of type {}; media[{n}] is {}.",
                        images.types.join(", "),
                        m.content_type
                    ));
                }
                if m.size_bytes > images.max_bytes {
                    return Err(format!(
                        "{display_name} takes images up to {}; media[{n}] is {}.",
                        megabytes(images.max_bytes),
                        megabytes(m.size_bytes)
                    ));
                }
            }
            Ok(())
        }
        MediaKind::Video => {
            let Some(video) = &rules.video else {
                return Err(format!(
                    "{display_name} takes no video through Evergreen; send images or text."
                ));
            };
            let m = &media[0];
            if !video.types.iter().any(|t| t == &m.content_type) {
                return Err(format!(
                    "{display_name} takes video of type {}; this one is {}.",
                    video.types.join(", "),
                    m.content_type
                ));
            }
            let max = upload_cap.map_or(video.max_bytes, |cap| cap.min(video.max_bytes));
            if m.size_bytes > max {
                return Err(format!(
                    "{display_name} takes video up to {}{}; this one is {}.",
                    megabytes(max),
                    if Some(max) == upload_cap {
                        " (Evergreen's upload cap, MEDIA upload_max_mb)"
                    } else {
                        ""
                    },
                    megabytes(m.size_bytes)
                ));
            }
            let secs = m.duration_secs.unwrap_or(0.0);
            if let Some(min) = video.min_secs.filter(|min| secs < f64::from(*min)) {
                return Err(format!(
                    "{display_name} takes video of at least {min} s; this one lasts {secs} s."
                ));
            }
            if let Some(max) = video.max_secs.filter(|max| secs > f64::from(*max)) {
                return Err(format!(
                    "{display_name} takes video of at most {max} s; this one lasts {secs} s."
                ));
            }
            Ok(())
        }
    }
}

/// Whether the file as served matches what was declared: its `Content-Type` (parameters
/// ignored) and, where the server says, its `Content-Length` (`None` when it does not).
pub fn matches_file(
    declared: &Media,
    content_type: Option<&str>,
    length: Option<u64>,
) -> Result<(), String> {
    let served = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if served.as_deref() != Some(declared.content_type.as_str()) {
        return Err(format!(
            "The media at {} is served as {}, not the declared {}.",
            declared.url,
            served.as_deref().unwrap_or("an unknown type"),
            declared.content_type
        ));
    }
    if let Some(length) = length.filter(|l| *l != declared.size_bytes) {
        return Err(format!(
            "The media at {} is {length} bytes, not the declared {}.",
            declared.url, declared.size_bytes
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(ct: &str, size: u64) -> Media {
        Media {
            url: "https://cdn.example.com/a.jpg".into(),
            kind: MediaKind::Image,
            content_type: ct.into(),
            size_bytes: size,
            duration_secs: None,
        }
    }

    fn video(size: u64, secs: f64) -> Media {
        Media {
            url: "https://cdn.example.com/v.mp4".into(),
            kind: MediaKind::Video,
            content_type: "video/mp4".into(),
            size_bytes: size,
            duration_secs: Some(secs),
        }
    }

    fn rules() -> MediaRules {
        MediaRules {
            required: true,
            images: Some(ImageRules {
                max_count: 1,
                types: vec!["image/jpeg".into()],
                max_bytes: 8 * 1_048_576,
            }),
            video: Some(VideoRules {
                types: vec!["video/mp4".into()],
                max_bytes: 300 * 1_048_576,
                min_secs: Some(3),
                max_secs: Some(900),
            }),
        }
    }

    #[test]
    fn items_must_be_https_typed_sized_and_videos_timed() {
        assert!(image("image/jpeg", 10).check(0).is_ok());
        let mut http = image("image/jpeg", 10);
        http.url = "http://cdn.example.com/a.jpg".into();
        assert!(http.check(0).unwrap_err().contains("https://"));
        let mut creds = image("image/jpeg", 10);
        creds.url = "https://user:pw@cdn.example.com/a.jpg".into();
        assert!(creds.check(0).is_err());
        assert!(image("video/mp4", 10)
            .check(0)
            .unwrap_err()
            .contains("kind"));
        assert!(image("image/jpeg", 0).check(0).is_err());
        let mut untimed = video(10, 1.0);
        untimed.duration_secs = None;
        assert!(untimed.check(2).unwrap_err().starts_with("media[2]"));
        assert!(video(10, f64::NAN).check(0).is_err());
    }

    #[test]
    fn a_post_has_images_or_one_video() {
        assert!(check_all(&[image("image/jpeg", 1), image("image/png", 1)]).is_ok());
        assert!(check_all(&[image("image/jpeg", 1), video(1, 5.0)]).is_err());
        assert!(check_all(&vec![image("image/jpeg", 1); 5]).is_err());
        assert!(check_all(&[]).is_ok());
    }

    #[test]
    fn each_platforms_limits_are_named_when_missed() {
        let r = rules();
        assert!(fits(Some(&r), "Instagram", &[image("image/jpeg", 100)], None).is_ok());
        assert_eq!(
            fits(Some(&r), "Instagram", &[], None).unwrap_err(),
            "Instagram takes no post without media: add an image or a video."
        );
        assert!(fits(Some(&r), "Instagram", &[image("image/png", 1)], None)
            .unwrap_err()
            .contains("image/jpeg"));
        assert!(
            fits(Some(&r), "Instagram", &[image("image/jpeg", 9 << 20)], None)
                .unwrap_err()
                .contains("up to 8 MB")
        );
        assert!(fits(
            Some(&r),
            "Instagram",
            &[image("image/jpeg", 1), image("image/jpeg", 1)],
            None
        )
        .unwrap_err()
        .contains("at most 1 image per post"));
        assert!(fits(Some(&r), "Instagram", &[video(1, 2.0)], None)
            .unwrap_err()
            .contains("at least 3"));
        assert!(fits(Some(&r), "Instagram", &[video(1, 901.0)], None)
            .unwrap_err()
            .contains("at most 900"));
        assert!(
            fits(Some(&r), "YouTube", &[video(20 << 20, 5.0)], Some(10 << 20))
                .unwrap_err()
                .contains("upload_max_mb")
        );
        assert!(fits(None, "Facebook", &[], None).is_ok());
        assert!(fits(None, "X", &[image("image/jpeg", 1)], None)
            .unwrap_err()
            .contains("text posts only"));
    }

    #[test]
    fn the_served_file_must_match_the_declaration() {
        let m = video(1_000, 5.0);
        assert!(matches_file(&m, Some("video/mp4"), Some(1_000)).is_ok());
        assert!(matches_file(&m, Some("Video/MP4; codecs=avc1"), None).is_ok());
        assert!(matches_file(&m, Some("text/html"), Some(1_000))
            .unwrap_err()
            .contains("served as text/html"));
        assert!(matches_file(&m, Some("video/mp4"), Some(999))
            .unwrap_err()
            .contains("999 bytes"));
        assert!(matches_file(&m, None, Some(1_000)).is_err());
    }
}
