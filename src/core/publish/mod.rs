//! Publishing: posts and their targets, media, each platform's dialect, the publish policy and progress.

pub mod bluesky_post;
pub mod instagram_publish;
pub mod media;
pub mod posts;
pub mod pre_check;
pub mod publish_dialect;
pub mod publish_policy;
pub mod publish_progress;
pub mod tiktok_publish;
pub mod youtube_upload;
