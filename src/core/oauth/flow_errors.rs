//! What a browser is told when a connect flow cannot go on.
//!
//! The rule that keeps the callback from being an open redirect: the browser is sent back to
//! the tenant's return URL (with an `error` code) only when the flow's session row was found,
//! since only then is the return URL one that was checked against the tenant's allow-list.
//! Otherwise it gets a page that says what happened and what to do.

use crate::core::http::pages::Page;
use crate::core::http::query::with_params;

/// Why a connect flow stopped. The codes are part of the API contract (the return URL gets
/// them as `?error=`): add new ones, never rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowError {
    /// The connect link is not one Evergreen issued (or was mistyped).
    UnknownConnectLink,
    /// The connect link is older than 10 minutes.
    ConnectLinkExpired,
    /// The connect link was already opened once.
    ConnectLinkUsed,
    /// The callback's `state` is missing or unknown.
    InvalidState,
    /// The callback's session was already used.
    StateReused,
    /// The callback came after the session expired.
    SessionExpired,
    /// The callback came to a browser without the binding cookie set when the link was opened.
    BrowserMismatch,
    /// The user declined consent at the platform.
    AccessDenied,
    /// The platform answered the authorization with an error other than a refusal.
    ProviderError,
    /// The callback had neither a code nor an error.
    MissingCode,
    /// The platform refused to exchange the code, or could not be reached.
    ExchangeFailed,
    /// A server that registers apps one by one (Mastodon) refused Evergreen's registration,
    /// or could not be reached.
    RegistrationFailed,
    /// The callback came from another authorization server than the one the consent was
    /// started with (its `iss` does not match): refused, nothing exchanged.
    IssuerMismatch,
    /// The platform's token answer could not be used (not JSON, an error inside a 200, no
    /// access token).
    InvalidTokenResponse,
    /// The user unticked scopes Evergreen needs; the redirect names them in `declined`.
    ScopesDeclined,
    /// The platform gave tokens but the account behind them could not be read.
    IdentityFailed,
    /// The account manages nothing the app can post to (Facebook: no Page with a role that
    /// may create content), so nothing was connected.
    NoPostableAccounts,
    /// The tenant's provider is not configured on this deployment (no client credentials).
    ProviderNotConfigured,
    /// The reconnect link is not one Evergreen signed (mistyped, tampered, or its key retired).
    InvalidReconnectLink,
    /// The reconnect link is past its lifetime.
    ReconnectLinkExpired,
    /// The connection changed since the link was made (disconnected, deleted, reconnected).
    ReconnectLinkStale,
    /// The reconnect link already restored the connection once.
    ReconnectLinkUsed,
    /// The person signed in as another account than the one the link reconnects.
    ReconnectWrongAccount,
    /// Something failed on Evergreen's side; the log has the details.
    Internal,
}

impl FlowError {
    pub const ALL: [FlowError; 24] = [
        FlowError::UnknownConnectLink,
        FlowError::ConnectLinkExpired,
        FlowError::ConnectLinkUsed,
        FlowError::InvalidState,
        FlowError::StateReused,
        FlowError::SessionExpired,
        FlowError::BrowserMismatch,
        FlowError::AccessDenied,
        FlowError::ProviderError,
        FlowError::MissingCode,
        FlowError::ExchangeFailed,
        FlowError::RegistrationFailed,
        FlowError::IssuerMismatch,
        FlowError::InvalidTokenResponse,
        FlowError::ScopesDeclined,
        FlowError::IdentityFailed,
        FlowError::NoPostableAccounts,
        FlowError::ProviderNotConfigured,
        FlowError::InvalidReconnectLink,
        FlowError::ReconnectLinkExpired,
        FlowError::ReconnectLinkStale,
        FlowError::ReconnectLinkUsed,
        FlowError::ReconnectWrongAccount,
        FlowError::Internal,
    ];

    /// The error an `error` code names (the page reads it back from a redirect).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    pub const fn code(self) -> &'static str {
        match self {
            FlowError::UnknownConnectLink => "unknown_connect_link",
            FlowError::ConnectLinkExpired => "connect_link_expired",
            FlowError::ConnectLinkUsed => "connect_link_used",
            FlowError::InvalidState => "invalid_state",
            FlowError::StateReused => "state_reused",
            FlowError::SessionExpired => "session_expired",
            FlowError::BrowserMismatch => "browser_mismatch",
            FlowError::AccessDenied => "access_denied",
            FlowError::ProviderError => "provider_error",
            FlowError::MissingCode => "missing_code",
            FlowError::ExchangeFailed => "exchange_failed",
            FlowError::RegistrationFailed => "registration_failed",
            FlowError::IssuerMismatch => "issuer_mismatch",
            FlowError::InvalidTokenResponse => "invalid_token_response",
            FlowError::ScopesDeclined => "scopes_declined",
            FlowError::IdentityFailed => "identity_failed",
            FlowError::NoPostableAccounts => "no_postable_accounts",
            FlowError::ProviderNotConfigured => "provider_not_configured",
            FlowError::InvalidReconnectLink => "invalid_reconnect_link",
            FlowError::ReconnectLinkExpired => "reconnect_link_expired",
            FlowError::ReconnectLinkStale => "reconnect_link_stale",
            FlowError::ReconnectLinkUsed => "reconnect_link_used",
            FlowError::ReconnectWrongAccount => "reconnect_wrong_account",
            FlowError::Internal => "internal_error",
        }
    }

    /// What the page says: what happened, then what to do.
    pub const fn explanation(self) -> (&'static str, &'static str) {
        const AGAIN: &str = "Go back to the app you came from and start connecting again.";
        match self {
            FlowError::UnknownConnectLink => (
                "This connect link is not valid.",
                "Check that the whole link was copied, or ask the app for a new one.",
            ),
            FlowError::ConnectLinkExpired => ("This connect link has expired.", AGAIN),
            FlowError::ConnectLinkUsed => ("This connect link was already used.", AGAIN),
            FlowError::InvalidState => (
                "This sign-in answer does not belong to a connect flow we started.",
                AGAIN,
            ),
            FlowError::StateReused => ("This sign-in answer was already used.", AGAIN),
            FlowError::SessionExpired => ("The sign-in took too long and expired.", AGAIN),
            FlowError::BrowserMismatch => (
                "The sign-in finished in a different browser than the one that started it.",
                "Start again, and finish in the same browser (cookies must be enabled).",
            ),
            FlowError::AccessDenied => ("You did not allow access, so nothing was connected.", AGAIN),
            FlowError::ProviderError => ("The platform reported an error during sign-in.", AGAIN),
            FlowError::MissingCode => ("The platform's answer was incomplete.", AGAIN),
            FlowError::IssuerMismatch => (
                "The answer came from another server than the one you were sent to, so nothing was connected.",
                AGAIN,
            ),
            FlowError::RegistrationFailed => (
                "Your server did not let Evergreen register as an app, so nothing was connected.",
                "Check the server's name and try again in a while; if it keeps failing, ask the server's administrators whether it accepts new apps.",
            ),
            FlowError::ExchangeFailed => (
                "The platform did not complete the sign-in.",
                "Try again in a few minutes.",
            ),
            FlowError::InvalidTokenResponse => (
                "The platform answered the sign-in with something we could not use.",
                "Try again in a few minutes.",
            ),
            FlowError::ScopesDeclined => (
                "Some permissions the app needs were not granted, so nothing was connected.",
                "Start again and leave every permission ticked.",
            ),
            FlowError::IdentityFailed => (
                "The platform did not tell us which account you signed in with.",
                "Try again in a few minutes.",
            ),
            FlowError::NoPostableAccounts => (
                "The account you signed in with has nothing the app may post to (no Page it can create content on, no board of its own), so nothing was connected.",
                "Get a role that can create content on the Page (or tick the Page when the platform asks which ones to share), or create a board, then connect again.",
            ),
            FlowError::ProviderNotConfigured => (
                "This platform is not set up on this service yet.",
                "Tell the app's support: the operator must configure the platform's client credentials.",
            ),
            FlowError::InvalidReconnectLink => (
                "This reconnect link is not valid.",
                "Check that the whole link was copied, or ask the app for a new one.",
            ),
            FlowError::ReconnectLinkExpired => (
                "This reconnect link has expired.",
                "Ask the app for a new reconnect link.",
            ),
            FlowError::ReconnectLinkStale => (
                "This reconnect link is no longer valid: the connection was removed or \
                 reconnected since it was sent. Nothing was changed.",
                "If you still want this account connected, connect it again from the app.",
            ),
            FlowError::ReconnectLinkUsed => (
                "This reconnect link was already used, and the connection was restored.",
                "Nothing more to do. If it broke again, ask the app for a new link.",
            ),
            FlowError::ReconnectWrongAccount => (
                "You signed in with a different account than the one this link reconnects, so \
                 nothing was changed.",
                "Open the link again and sign in with the account that was connected.",
            ),
            FlowError::Internal => (
                "Something went wrong on our side.",
                "Try again in a few minutes.",
            ),
        }
    }

    /// The HTTP status of the page, when a page is shown.
    pub const fn status(self) -> u16 {
        match self {
            FlowError::UnknownConnectLink => 404,
            FlowError::ConnectLinkExpired
            | FlowError::SessionExpired
            | FlowError::ReconnectLinkExpired
            | FlowError::ReconnectLinkStale => 410,
            FlowError::ConnectLinkUsed
            | FlowError::StateReused
            | FlowError::ReconnectLinkUsed
            | FlowError::ReconnectWrongAccount => 409,
            FlowError::InvalidReconnectLink => 404,
            FlowError::ExchangeFailed
            | FlowError::RegistrationFailed
            | FlowError::IdentityFailed
            | FlowError::InvalidTokenResponse => 502,
            FlowError::ProviderNotConfigured => 503,
            FlowError::Internal => 500,
            _ => 400,
        }
    }

    /// The page shown when there is no return URL to go back to.
    pub fn page(self) -> Page {
        let (what, todo) = self.explanation();
        let title = match self {
            FlowError::InvalidReconnectLink
            | FlowError::ReconnectLinkExpired
            | FlowError::ReconnectLinkStale
            | FlowError::ReconnectLinkUsed
            | FlowError::ReconnectWrongAccount => "Could not reconnect",
            _ => "Could not connect",
        };
        Page::new(self.status(), title, what)
            .paragraph(todo)
            .detail("Error code", self.code())
    }
}

/// Where the browser goes after a failed step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowReply {
    /// Back to the tenant's (allow-listed) return URL, with `error` set.
    Redirect(String),
    /// A page, when no session (and so no checked return URL) was found.
    Page(Page),
}

/// The reply for `error`, with `details` (e.g. `declined` scopes) added to the redirect's query
/// or listed on the page. `return_url` must come from a session row (it was checked against the
/// tenant's allow-list when the session was made); pass `None` when no session was found.
pub fn reply(error: FlowError, return_url: Option<&str>, details: &[(&str, &str)]) -> FlowReply {
    match return_url {
        Some(url) => {
            let mut params = vec![("error", error.code())];
            params.extend_from_slice(details);
            FlowReply::Redirect(with_params(url, &params))
        }
        None => {
            let mut page = error.page();
            for (k, v) in details {
                page = page.detail(k, v);
            }
            FlowReply::Page(page)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::query::param;

    #[test]
    fn every_code_reads_back_as_its_error() {
        for e in FlowError::ALL {
            assert_eq!(FlowError::parse(e.code()), Some(e));
        }
        assert_eq!(FlowError::parse("nonsense"), None);
    }

    #[test]
    fn redirects_only_to_a_session_return_url() {
        let FlowReply::Redirect(url) =
            reply(FlowError::AccessDenied, Some("https://app/done"), &[])
        else {
            panic!("expected a redirect");
        };
        assert_eq!(param(&url, "error").as_deref(), Some("access_denied"));
        assert!(url.starts_with("https://app/done?"));

        let FlowReply::Page(page) = reply(FlowError::InvalidState, None, &[]) else {
            panic!("expected a page");
        };
        assert_eq!(page.status, 400);
        assert!(page.to_html().contains("invalid_state"));
    }

    #[test]
    fn declined_scopes_are_named_in_the_redirect() {
        let FlowReply::Redirect(url) = reply(
            FlowError::ScopesDeclined,
            Some("https://app/done"),
            &[("declined", "tweet.write offline.access")],
        ) else {
            panic!("expected a redirect");
        };
        assert_eq!(param(&url, "error").as_deref(), Some("scopes_declined"));
        assert_eq!(
            param(&url, "declined").as_deref(),
            Some("tweet.write offline.access")
        );
    }

    #[test]
    fn every_error_has_a_distinct_code_and_an_explanation() {
        let all = FlowError::ALL;
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        for e in all {
            let (what, todo) = e.explanation();
            assert!(what.ends_with('.') && todo.ends_with('.'), "{e:?}");
            assert!((400..600).contains(&e.status()));
        }
    }
}
