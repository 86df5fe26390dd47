//! The providers Evergreen can connect, and what it must know to run each one's OAuth flow.
//!
//! Only X so far. The catalogue as data (one entry per provider, config-declared providers)
//! is issue 4; this module keeps the X facts in one place until then.

use crate::core::query::with_params;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    X,
}

/// How a grant is kept alive (see the design's "sweep and refresh policy").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// Refresh ahead of expiry, on a lead time.
    Proactive,
    /// Refresh when a token is asked for and little is left; the sweep only keeps the grant alive.
    OnDemand,
    /// Nothing to refresh: validate, and count down to the known death.
    Validate,
}

impl RefreshPolicy {
    pub const fn as_str(self) -> &'static str {
        match self {
            RefreshPolicy::Proactive => "proactive",
            RefreshPolicy::OnDemand => "on_demand",
            RefreshPolicy::Validate => "validate",
        }
    }
}

/// The OAuth facts of one provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub authorize: &'static str,
    pub token: &'static str,
    /// Where the consenting account's identity is read with the new access token.
    pub identity: &'static str,
    /// Requested scopes, space-separated.
    pub scopes: &'static str,
    /// The deployment's client id and secret variables, used when a tenant has none of its own.
    pub client_id_var: &'static str,
    pub client_secret_var: &'static str,
}

impl Provider {
    pub const ALL: [Provider; 1] = [Provider::X];

    pub const fn name(self) -> &'static str {
        match self {
            Provider::X => "x",
        }
    }

    /// The name people know it by, for pages.
    pub const fn display_name(self) -> &'static str {
        match self {
            Provider::X => "X",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    pub const fn endpoints(self) -> Endpoints {
        match self {
            // X OAuth 2.0: a confidential client authenticates with HTTP Basic; PKCE (S256) is
            // required; `offline.access` is what makes X return a refresh token.
            Provider::X => Endpoints {
                authorize: "https://x.com/i/oauth2/authorize",
                token: "https://api.x.com/2/oauth2/token",
                identity: "https://api.x.com/2/users/me",
                scopes: "tweet.read tweet.write users.read offline.access",
                client_id_var: "X_CLIENT_ID",
                client_secret_var: "X_CLIENT_SECRET",
            },
        }
    }

    pub const fn refresh_policy(self) -> RefreshPolicy {
        match self {
            Provider::X => RefreshPolicy::OnDemand,
        }
    }

    /// The URL the browser is sent to for consent: authorization code with PKCE S256.
    pub fn authorize_url(
        self,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
    ) -> String {
        let endpoints = self.endpoints();
        with_params(
            endpoints.authorize,
            &[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("scope", endpoints.scopes),
                ("state", state),
                ("code_challenge", code_challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::query::param;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.name()), Some(p));
        }
        assert_eq!(Provider::parse("myspace"), None);
    }

    #[test]
    fn x_authorize_url_asks_for_a_code_with_s256_and_offline_access() {
        let url =
            Provider::X.authorize_url("client 1", "https://e.example/oauth/callback", "st", "ch");
        assert!(url.starts_with("https://x.com/i/oauth2/authorize?"));
        let get = |name| param(&url, name);
        assert_eq!(get("response_type").as_deref(), Some("code"));
        assert_eq!(get("client_id").as_deref(), Some("client 1"));
        assert_eq!(
            get("redirect_uri").as_deref(),
            Some("https://e.example/oauth/callback")
        );
        assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(get("code_challenge").as_deref(), Some("ch"));
        assert_eq!(get("state").as_deref(), Some("st"));
        assert!(get("scope")
            .unwrap()
            .split(' ')
            .any(|s| s == "offline.access"));
    }
}
