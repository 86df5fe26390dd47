//! The token reads' audit: what a read of a connection's token came to, as `token_reads`
//! records it (never the token itself).

use crate::core::http::api_error::ErrorCode;

/// What one read through `POST /v1/connections/{id}/token` came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The token was handed out.
    Served,
    /// The token had expired and could not be renewed in time (`token_expired`).
    Expired,
    /// The connection is dead (`connection_dead`).
    Dead,
    /// No such connection for the caller (`not_found`).
    NotFound,
    /// Anything else: a failure of Evergreen's own, or of the platform's.
    Failed,
}

impl ReadOutcome {
    /// The outcome of an answer: served on success, else named by the error's code.
    pub fn of(answer: Result<(), Option<ErrorCode>>) -> Self {
        match answer {
            Ok(()) => ReadOutcome::Served,
            Err(Some(ErrorCode::TokenExpired)) => ReadOutcome::Expired,
            Err(Some(ErrorCode::ConnectionDead)) => ReadOutcome::Dead,
            Err(Some(ErrorCode::NotFound)) => ReadOutcome::NotFound,
            Err(_) => ReadOutcome::Failed,
        }
    }

    /// As stored in `token_reads.outcome` and shown in the end user's export.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadOutcome::Served => "served",
            ReadOutcome::Expired => "expired",
            ReadOutcome::Dead => "dead",
            ReadOutcome::NotFound => "not_found",
            ReadOutcome::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_name_their_outcome() {
        assert_eq!(ReadOutcome::of(Ok(())), ReadOutcome::Served);
        assert_eq!(
            ReadOutcome::of(Err(Some(ErrorCode::TokenExpired))),
            ReadOutcome::Expired
        );
        assert_eq!(
            ReadOutcome::of(Err(Some(ErrorCode::ConnectionDead))),
            ReadOutcome::Dead
        );
        assert_eq!(
            ReadOutcome::of(Err(Some(ErrorCode::NotFound))),
            ReadOutcome::NotFound
        );
        assert_eq!(
            ReadOutcome::of(Err(Some(ErrorCode::Unavailable))),
            ReadOutcome::Failed
        );
        assert_eq!(ReadOutcome::of(Err(None)), ReadOutcome::Failed);
    }
}
