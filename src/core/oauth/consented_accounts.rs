//! What a consent connects: the consenting profile and the accounts it manages, decided from
//! what the platform said. Meta's Facebook rules live here:
//! - the Pages are the connections, each with a token of its own; the user is not one;
//! - a consent that manages no Page it may post to connects nothing;
//! - the user token's 60 days do not bound the Page tokens it was used to read, so the
//!   consent's `expires_in` is dropped.

use crate::core::grant::grant_tokens::SecretText;
use crate::core::oauth::catalogue::ProviderSpec;
use crate::core::oauth::flow_errors::FlowError;
use crate::core::oauth::graph::ManagedPage;
use crate::core::oauth::identity::AccountIdentity;
use std::collections::BTreeMap;

/// What the platform said about the consent's accounts.
pub struct Found {
    /// The consenting account.
    pub profile: AccountIdentity,
    /// The accounts it manages (LinkedIn's organizations).
    pub managed: Vec<AccountIdentity>,
    /// Facebook's Pages with their tokens (`None` for other providers).
    pub pages: Option<Vec<ManagedPage>>,
    /// The access token's lifetime as the consent gave it.
    pub expires_in: Option<u64>,
}

/// The connections to store, consenting account first, and the tokens of their own.
pub struct Connected {
    pub connections: Vec<AccountIdentity>,
    /// Per-account tokens by the account's id at the platform (Facebook's Pages).
    pub account_tokens: BTreeMap<String, SecretText>,
    /// The lifetime the grant keeps for its access token.
    pub expires_in: Option<u64>,
}

/// The connections a consent for `provider` makes of what was `found`.
pub fn connected(provider: &ProviderSpec, found: Found) -> Result<Connected, FlowError> {
    let Found {
        profile,
        mut managed,
        pages,
        mut expires_in,
    } = found;
    let mut account_tokens = BTreeMap::new();
    if let Some(pages) = pages {
        if pages.is_empty() {
            return Err(FlowError::NoPostableAccounts);
        }
        for page in pages {
            account_tokens.insert(page.identity.external_id.clone(), page.token);
            managed.push(page.identity);
        }
        expires_in = None;
    }
    let profile = provider.profile_is_connection().then_some(profile);
    let connections: Vec<AccountIdentity> = profile.into_iter().chain(managed).collect();
    if connections.is_empty() {
        // A Pinterest profile without a board: nothing to pin to.
        return Err(FlowError::NoPostableAccounts);
    }
    Ok(Connected {
        connections,
        account_tokens,
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::catalogue::Catalogue;

    fn account(kind: &str, id: &str) -> AccountIdentity {
        AccountIdentity {
            kind: kind.into(),
            external_id: id.into(),
            display_name: None,
            username: None,
        }
    }

    fn page(id: &str) -> ManagedPage {
        ManagedPage {
            identity: account("page", id),
            token: SecretText::new(format!("page-token-{id}")),
        }
    }

    #[test]
    fn the_profile_comes_first_then_what_it_manages() {
        let catalogue = Catalogue::builtin();
        let linkedin = catalogue.get("linkedin").unwrap();
        let found = Found {
            profile: account("profile", "me"),
            managed: vec![account("organization", "o1")],
            pages: None,
            expires_in: Some(5_184_000),
        };
        let c = connected(linkedin, found).unwrap();
        let ids: Vec<_> = c
            .connections
            .iter()
            .map(|a| a.external_id.as_str())
            .collect();
        assert_eq!(ids, ["me", "o1"]);
        assert!(c.account_tokens.is_empty());
        assert_eq!(c.expires_in, Some(5_184_000));
    }

    #[test]
    fn facebook_connects_its_pages_with_their_tokens_and_not_the_user() {
        let catalogue = Catalogue::builtin();
        let facebook = catalogue.get("facebook").unwrap();
        let found = Found {
            profile: account("profile", "user"),
            managed: Vec::new(),
            pages: Some(vec![page("p1"), page("p2")]),
            expires_in: Some(5_184_000),
        };
        let c = connected(facebook, found).unwrap();
        let ids: Vec<_> = c
            .connections
            .iter()
            .map(|a| a.external_id.as_str())
            .collect();
        assert_eq!(ids, ["p1", "p2"]);
        assert_eq!(c.account_tokens["p2"].expose(), "page-token-p2");
        assert_eq!(
            c.expires_in, None,
            "the user token's days do not bound the Pages"
        );
    }

    #[test]
    fn facebook_without_a_page_connects_nothing() {
        let catalogue = Catalogue::builtin();
        let facebook = catalogue.get("facebook").unwrap();
        let found = Found {
            profile: account("profile", "user"),
            managed: Vec::new(),
            pages: Some(Vec::new()),
            expires_in: None,
        };
        assert_eq!(
            connected(facebook, found).err(),
            Some(FlowError::NoPostableAccounts)
        );
    }

    #[test]
    fn pinterest_connects_its_boards_not_the_profile_and_nothing_without_one() {
        let catalogue = Catalogue::builtin();
        let pinterest = catalogue.get("pinterest").unwrap();
        let found = |boards: Vec<AccountIdentity>| Found {
            profile: account("profile", "pinner"),
            managed: boards,
            pages: None,
            expires_in: Some(2_592_000),
        };
        let both = connected(
            pinterest,
            found(vec![account("board", "b1"), account("board", "b2")]),
        )
        .unwrap();
        let ids: Vec<&str> = both
            .connections
            .iter()
            .map(|c| c.external_id.as_str())
            .collect();
        assert_eq!(ids, ["b1", "b2"]);
        assert_eq!(both.expires_in, Some(2_592_000));
        assert_eq!(
            connected(pinterest, found(Vec::new())).err(),
            Some(FlowError::NoPostableAccounts)
        );
    }
}
