//! The accounts a consent manages besides the consenting profile (LinkedIn: the company pages
//! the member administers), each its own connection under the grant, and what a later check
//! of that list means for them: a page missing from it has lost its role, and only that
//! connection turns red.
//!
//! The URLs are catalogue data (`managed_accounts`); reading the answers is per platform, since
//! no two platforms shape them alike. LinkedIn's: `organizationAcls?q=roleAssignee` lists
//! `urn:li:organization:{id}` with the role and its state, and the batch get
//! `organizations?ids=List(…)` gives their names.

use crate::core::oauth::catalogue::{GraphDialect, ManagedAccounts, ProviderSpec};
use crate::core::oauth::identity::{AccountIdentity, IdentityError};
use serde_json::Value;

/// At most this many managed accounts are taken from one consent (one names lookup).
pub const MAX_ACCOUNTS: usize = 50;

const ORGANIZATION_URN: &str = "urn:li:organization:";

/// The connection kind of a Pinterest board.
pub const BOARD_KIND: &str = "board";

/// Whether Evergreen can read `provider`'s managed-account answers: LinkedIn's and Pinterest's
/// boards (`kind` `board`) here, and Facebook's Page list in `graph.rs`.
pub fn readable(provider: &str, dialect: Option<GraphDialect>, kind: &str) -> bool {
    provider == "linkedin" || dialect == Some(GraphDialect::Facebook) || kind == BOARD_KIND
}

/// Pinterest's boards (`GET /v5/boards`): `{"items": [{"id", "name", "privacy", "owner":
/// {"username"}}], "bookmark"}`, each a connection pins are made on. Boards another person
/// owns (a group board the account joined) are kept too: Pinterest lets collaborators pin.
pub fn parse_boards(body: &[u8]) -> Result<Vec<AccountIdentity>, IdentityError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| IdentityError("not JSON".into()))?;
    let items = value
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| IdentityError("the board list has no items".into()))?;
    let mut boards: Vec<AccountIdentity> = items
        .iter()
        .filter_map(|b| {
            let id = b.get("id")?.as_str().filter(|id| !id.is_empty())?;
            Some(AccountIdentity {
                kind: BOARD_KIND.to_owned(),
                external_id: id.to_owned(),
                display_name: b
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
                username: None,
            })
        })
        .collect();
    boards.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    boards.dedup_by(|a, b| a.external_id == b.external_id);
    boards.truncate(MAX_ACCOUNTS);
    Ok(boards)
}

/// The ids in the list answer: organizations the member administers, approved.
pub fn parse_list(body: &[u8]) -> Result<Vec<String>, IdentityError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| IdentityError("not JSON".into()))?;
    let elements = value
        .get("elements")
        .and_then(Value::as_array)
        .ok_or_else(|| IdentityError("the role list has no elements".into()))?;
    let mut ids: Vec<String> = elements
        .iter()
        .filter(|e| e["role"] == "ADMINISTRATOR" && e["state"] == "APPROVED")
        .filter_map(|e| e["organization"].as_str()?.strip_prefix(ORGANIZATION_URN))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    ids.truncate(MAX_ACCOUNTS);
    Ok(ids)
}

/// The names lookup for `ids`, if the platform has one and there is anything to look up.
pub fn names_url(spec: &ManagedAccounts, ids: &[String]) -> Option<String> {
    let base = spec.names_url.as_deref()?;
    (!ids.is_empty()).then(|| format!("{base}?ids=List({})", ids.join(",")))
}

/// The accounts, named where the lookup answered (an unnamed one keeps its id as its name).
pub fn accounts(
    spec: &ManagedAccounts,
    ids: &[String],
    names: Option<&[u8]>,
) -> Vec<AccountIdentity> {
    let names: Value = names
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    ids.iter()
        .map(|id| {
            let found = &names["results"][id.as_str()];
            let text = |field: &str| {
                found[field]
                    .as_str()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            AccountIdentity {
                kind: spec.kind.clone(),
                external_id: id.clone(),
                display_name: text("localizedName"),
                username: text("vanityName"),
            }
        })
        .collect()
}

/// Whether a connection's account still has its role at the platform (`connections.access`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Ok,
    /// Missing from the platform's list of managed accounts: the connection is red on its own.
    Lost,
}

impl Access {
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Ok => "ok",
            Access::Lost => "lost",
        }
    }
}

/// A connection as stored, for the access check.
#[derive(Clone, Debug)]
pub struct StoredConnection {
    pub id: String,
    pub kind: String,
    pub external_id: String,
    /// `ok` or `lost`.
    pub access: String,
}

/// What the latest list means for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessChange {
    /// Missing from the list: the role is gone.
    Lost { connection_id: String },
    /// Back in the list after being lost.
    Restored { connection_id: String },
}

/// The changes the list `managed` (ids) makes to `connections` of the managed kind. The
/// profile and other kinds are never touched: the identity call speaks for those.
pub fn access_changes(
    spec: &ProviderSpec,
    connections: &[StoredConnection],
    managed: &[String],
) -> Vec<AccessChange> {
    let Some(kind) = spec.managed_accounts.as_ref().map(|m| m.kind.as_str()) else {
        return Vec::new();
    };
    connections
        .iter()
        .filter(|c| c.kind == kind)
        .filter_map(|c| {
            let listed = managed.contains(&c.external_id);
            let connection_id = c.id.clone();
            match (listed, c.access.as_str()) {
                (false, ok) if ok == Access::Ok.as_str() => {
                    Some(AccessChange::Lost { connection_id })
                }
                (true, lost) if lost == Access::Lost.as_str() => {
                    Some(AccessChange::Restored { connection_id })
                }
                _ => None,
            }
        })
        .collect()
}

/// The reason a lost connection shows, in the platform's words.
pub fn lost_message(spec: &ProviderSpec) -> String {
    match spec.managed_accounts.as_ref().map(|m| m.kind.as_str()) {
        Some(BOARD_KIND) => format!(
            "This {} board is gone, or the account may no longer pin to it. Pin to another \
             board, or reconnect once the board is back.",
            spec.display_name
        ),
        Some("page") => format!(
            "The account no longer has a role on this {} Page that lets it post. Restore the \
             role, then reconnect.",
            spec.display_name.trim_end_matches(" Pages")
        ),
        _ => format!(
            "The account is no longer an administrator of this {} page. Restore the role, \
             then reconnect.",
            spec.display_name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::catalogue::Catalogue;

    fn linkedin() -> ProviderSpec {
        Catalogue::builtin().get("linkedin").unwrap().clone()
    }

    #[test]
    fn reads_pinterest_boards_with_their_names() {
        let body = br#"{"items":[
            {"id":"549755885175","name":"Summer recipes","privacy":"PUBLIC","owner":{"username":"cook"}},
            {"id":"549755885001","name":"  ","privacy":"SECRET","owner":{"username":"cook"}},
            {"name":"no id"}],"bookmark":null}"#;
        let boards = parse_boards(body).unwrap();
        assert_eq!(boards.len(), 2);
        assert_eq!(boards[0].external_id, "549755885001");
        assert_eq!(boards[0].display_name, None, "a blank name is no name");
        assert_eq!(boards[1].display_name.as_deref(), Some("Summer recipes"));
        assert!(boards.iter().all(|b| b.kind == BOARD_KIND));
        assert!(parse_boards(b"{}").is_err());
        let pinterest = Catalogue::builtin().get("pinterest").unwrap().clone();
        assert!(!pinterest.profile_is_connection());
        assert!(lost_message(&pinterest).contains("board"));
    }

    #[test]
    fn reads_the_organizations_a_member_administers() {
        let body = br#"{"paging":{"start":0,"count":10},"elements":[
            {"roleAssignee":"urn:li:person:a1","state":"APPROVED","role":"ADMINISTRATOR","organization":"urn:li:organization:2414183"},
            {"roleAssignee":"urn:li:person:a1","state":"REQUESTED","role":"ADMINISTRATOR","organization":"urn:li:organization:111"},
            {"roleAssignee":"urn:li:person:a1","state":"APPROVED","role":"ANALYST","organization":"urn:li:organization:222"},
            {"roleAssignee":"urn:li:person:a1","state":"APPROVED","role":"ADMINISTRATOR","organization":"urn:li:organizationBrand:333"},
            {"roleAssignee":"urn:li:person:a1","state":"APPROVED","role":"ADMINISTRATOR","organization":"urn:li:organization:1000"}]}"#;
        assert_eq!(parse_list(body).unwrap(), vec!["1000", "2414183"]);
        assert!(parse_list(b"{}").is_err());
        assert!(parse_list(b"<html>").is_err());
    }

    #[test]
    fn names_come_from_the_batch_lookup_and_missing_ones_stay_unnamed() {
        let li = linkedin();
        let managed = li.managed_accounts.as_ref().unwrap();
        let ids = vec!["1000".to_owned(), "2414183".to_owned()];
        assert_eq!(
            names_url(managed, &ids).as_deref(),
            Some("https://api.linkedin.com/rest/organizations?ids=List(1000,2414183)")
        );
        assert_eq!(names_url(managed, &[]), None);
        let body = br#"{"results":{"1000":{"id":1000,"localizedName":"Acme Corp","vanityName":"acme"}},"statuses":{"1000":200},"errors":{}}"#;
        let found = accounts(managed, &ids, Some(body));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, "organization");
        assert_eq!(found[0].display_name.as_deref(), Some("Acme Corp"));
        assert_eq!(found[0].username.as_deref(), Some("acme"));
        assert_eq!(found[1].external_id, "2414183");
        assert_eq!(found[1].display_name, None);
    }

    #[test]
    fn only_a_page_missing_from_the_list_loses_access_and_a_returning_one_gets_it_back() {
        let li = linkedin();
        let conn = |id: &str, kind: &str, ext: &str, access: &str| StoredConnection {
            id: id.into(),
            kind: kind.into(),
            external_id: ext.into(),
            access: access.into(),
        };
        let stored = [
            conn("c_member", "profile", "m1", "ok"),
            conn("c_kept", "organization", "1", "ok"),
            conn("c_gone", "organization", "2", "ok"),
            conn("c_back", "organization", "3", "lost"),
            conn("c_still_gone", "organization", "4", "lost"),
        ];
        let changes = access_changes(&li, &stored, &["1".into(), "3".into()]);
        assert_eq!(
            changes,
            vec![
                AccessChange::Lost {
                    connection_id: "c_gone".into()
                },
                AccessChange::Restored {
                    connection_id: "c_back".into()
                },
            ]
        );
        let x = Catalogue::builtin().get("x").unwrap().clone();
        assert!(access_changes(&x, &stored, &[]).is_empty());
    }
}
