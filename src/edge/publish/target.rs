//! A post target as publishing reads it: the row and what it needs from its post, grant and
//! connection.

use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::ids::{PostId, TargetId};
use crate::core::publish::media::Media;
use crate::core::publish::publish_dialect::Author;
use crate::core::publish::publish_progress::Progress;
use crate::edge::http::respond::Handled;
use crate::store::{self, Db};
use serde::Deserialize;
use worker::D1Database;

/// A target with what publishing it needs.
#[derive(Deserialize)]
pub(crate) struct Target {
    pub(crate) id: TargetId,
    pub(crate) post_id: PostId,
    pub(crate) tenant_id: TenantId,
    pub(crate) connection_id: String,
    pub(crate) grant_id: GrantId,
    pub(crate) provider: String,
    pub(crate) state: String,
    pub(crate) not_before: f64,
    pub(crate) attempts: f64,
    pub(crate) text: String,
    pub(crate) end_user_ref: String,
    pub(crate) kind: String,
    pub(crate) external_id: String,
    pub(crate) access: String,
    pub(crate) access_reason: Option<String>,
    pub(crate) disconnected_at: Option<f64>,
    pub(crate) media: Option<String>,
    pub(crate) progress: Option<String>,
    pub(crate) sent_at: Option<f64>,
    pub(crate) username: Option<String>,
}

impl Target {
    pub(crate) fn media(&self) -> Vec<Media> {
        self.media
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default()
    }

    /// The account the target posts as.
    pub(crate) fn author(&self) -> Author<'_> {
        Author {
            kind: &self.kind,
            external_id: &self.external_id,
            username: self.username.as_deref(),
        }
    }

    pub(crate) fn progress(&self) -> Option<Progress> {
        Progress::parse(self.progress.as_deref())
    }
}

pub(crate) async fn load(db: &D1Database, id: &str) -> Handled<Option<Target>> {
    Ok(db.first(store::targets::load(id)).await?)
}
