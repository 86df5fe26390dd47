//! Cursors for the API's lists (issue 33): `?limit=` and `?cursor=` in, `next_cursor` out.
//!
//! A cursor is opaque to the caller: a [`signed_tokens`] token of its own purpose, under the
//! data keys' signing keys (so it rotates with `DATA_KEYS`, and a cursor signed with a retired
//! key is refused like a tampered one). It carries the position after which the next page
//! starts (the last row's sort key and id: ties are broken by id) and is bound to the list,
//! the tenant and the filter it was made for. A cursor used anywhere else, or changed, is
//! refused with `400 invalid_request`.
//!
//! A page holds rows strictly after the position, in the list's order, so rows added or
//! changed between pages are neither skipped nor repeated as long as the list's order is on
//! columns that do not change (an event's `seq`, for example).

use crate::core::crypto::signed_tokens::{self, Purpose};
use crate::core::crypto::Keyring;
use crate::core::http::api_error::ApiError;
use serde::{Deserialize, Serialize};

const PURPOSE: Purpose = Purpose {
    tag: b"evergreen/cursor/v1\n",
    max_len: 1_000,
};

/// What a cursor is bound to: which list, whose, and with which filter (the filter's
/// parameters in a fixed form; for a connection's events, the connection id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListScope<'a> {
    pub list: &'static str,
    pub tenant_id: &'a str,
    pub filter: String,
}

/// Where the next page starts: after the row with this sort key and id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub key: i64,
    pub id: String,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    list: String,
    tenant: String,
    filter: String,
    after: Position,
}

/// The cursor for the page after `after`, in `scope`.
pub fn next(scope: &ListScope<'_>, after: Position, keyring: &Keyring) -> String {
    signed_tokens::sign(
        &PURPOSE,
        &Claims {
            list: scope.list.to_owned(),
            tenant: scope.tenant_id.to_owned(),
            filter: scope.filter.clone(),
            after,
        },
        keyring,
    )
}

/// The position a cursor given to `scope` stands for; `400 invalid_request` for a cursor that
/// was changed, signed with a key no longer configured, or made for another list, tenant or
/// filter.
pub fn read(scope: &ListScope<'_>, cursor: &str, keyring: &Keyring) -> Result<Position, ApiError> {
    let refused = || {
        ApiError::invalid_request(
            "cursor is not a next_cursor this list gave with the same parameters; start again \
             without one.",
        )
    };
    let claims: Claims = signed_tokens::verify(&PURPOSE, cursor, keyring).ok_or_else(refused)?;
    let same = claims.list == scope.list
        && claims.tenant == scope.tenant_id
        && claims.filter == scope.filter;
    if same {
        Ok(claims.after)
    } else {
        Err(refused())
    }
}

/// A page as a list's query asks for it: how many rows, and after which.
#[derive(Debug, PartialEq, Eq)]
pub struct PageAsk {
    pub limit: u32,
    /// `None`: the first page.
    pub after: Option<Position>,
}

/// `?limit=` (1 to `cap`, `cap` when absent: what the list answered before it had pages) and
/// `?cursor=` of `url`, for `scope`; `400` as [`limit`] and [`read`] say.
pub fn ask(
    scope: &ListScope<'_>,
    url: &str,
    cap: u32,
    keyring: &Keyring,
) -> Result<PageAsk, ApiError> {
    let param = crate::core::http::query::param(url, "limit");
    Ok(PageAsk {
        limit: limit(param.as_deref(), cap, cap)?,
        after: from_query(scope, url, keyring)?,
    })
}

/// The position `?cursor=` in `url` stands for in `scope`, `None` without one (the first
/// page); `400` as [`read`] says.
pub fn from_query(
    scope: &ListScope<'_>,
    url: &str,
    keyring: &Keyring,
) -> Result<Option<Position>, ApiError> {
    crate::core::http::query::param(url, "cursor")
        .map(|given| read(scope, &given, keyring))
        .transpose()
}

/// A filter's parameters in the fixed form a cursor is bound to (`ListScope::filter`): each
/// value or its absence, in the list's order, so no two filters share a form.
pub fn filter_form(values: &[Option<&str>]) -> String {
    serde_json::to_string(values).unwrap_or_default()
}

/// Cuts `rows`, read one past the page (`limit + 1`), to the page, and answers where the next
/// page starts (the page's last row) when another follows, `None` on the last page.
pub fn cut<T>(
    rows: &mut Vec<T>,
    limit: u32,
    position: impl Fn(&T) -> Position,
) -> Option<Position> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    rows.last().filter(|_| more).map(position)
}

/// `?limit=`: a whole number from 1 to `max`, `default` when absent.
pub fn limit(param: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    let Some(text) = param else {
        return Ok(default);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid_request(format!(
            "limit is a whole number from 1 to {max}; {text:?} is not."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const K2: &str = "k2:HxwdHhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA";

    fn scope<'a>(tenant_id: &'a str, filter: &str) -> ListScope<'a> {
        ListScope {
            list: "events",
            tenant_id,
            filter: filter.to_owned(),
        }
    }

    fn at(key: i64) -> Position {
        Position {
            key,
            id: format!("evt_{key}"),
        }
    }

    #[test]
    fn a_cursor_reads_back_only_where_it_was_made() {
        let ring = Keyring::parse(K1).unwrap();
        let here = scope("ten_a", "conn_1");
        let cursor = next(&here, at(7), &ring);
        assert_eq!(read(&here, &cursor, &ring).unwrap(), at(7));
        for elsewhere in [
            scope("ten_b", "conn_1"),
            scope("ten_a", "conn_2"),
            ListScope {
                list: "deliveries",
                ..scope("ten_a", "conn_1")
            },
        ] {
            let e = read(&elsewhere, &cursor, &ring).unwrap_err();
            assert_eq!(e.code.as_str(), "invalid_request");
            assert!(e.message.contains("cursor"), "{}", e.message);
        }
    }

    #[test]
    fn a_changed_or_foreign_keyed_cursor_is_refused_and_keys_rotate() {
        let ring = Keyring::parse(K1).unwrap();
        let here = scope("ten_a", "conn_1");
        let cursor = next(&here, at(7), &ring);
        let (head, mac) = cursor.rsplit_once('.').unwrap();
        let flipped = if mac.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{head}.{flipped}{}", &mac[1..]);
        assert!(read(&here, &tampered, &ring).is_err());
        assert!(read(&here, "not-a-cursor", &ring).is_err());
        assert!(read(&here, &"a".repeat(1_001), &ring).is_err());
        // Signed under k1: read while k1 is in the ring, refused once it left.
        let rotated = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(read(&here, &cursor, &rotated).unwrap(), at(7));
        let retired = Keyring::parse(K2).unwrap();
        assert!(read(&here, &cursor, &retired).is_err());
    }

    #[test]
    fn a_page_is_cut_at_its_limit_and_names_its_last_row_only_when_more_follow() {
        let mut rows: Vec<i64> = (1..=4).collect();
        assert_eq!(cut(&mut rows, 3, |k| at(*k)), Some(at(3)));
        assert_eq!(rows, [1, 2, 3]);
        let mut last: Vec<i64> = (1..=3).collect();
        assert_eq!(cut(&mut last, 3, |k| at(*k)), None);
        assert_eq!(last, [1, 2, 3]);
        assert_eq!(cut(&mut Vec::<i64>::new(), 3, |k| at(*k)), None);
    }

    #[test]
    fn filters_have_one_form_each() {
        let forms = [
            filter_form(&[None, None]),
            filter_form(&[Some("a"), None]),
            filter_form(&[None, Some("a")]),
            filter_form(&[Some("a,b"), None]),
            filter_form(&[Some("a"), Some("b")]),
            filter_form(&[Some("\"a\",\"b"), None]),
        ];
        let distinct: std::collections::BTreeSet<_> = forms.iter().collect();
        assert_eq!(distinct.len(), forms.len(), "{forms:?}");
        let ring = Keyring::parse(K1).unwrap();
        let cursor = next(&scope("ten_a", &forms[1]), at(1), &ring);
        assert!(from_query(
            &scope("ten_a", &forms[3]),
            &format!("/x?cursor={cursor}"),
            &ring
        )
        .is_err());
        assert_eq!(
            from_query(
                &scope("ten_a", &forms[1]),
                &format!("/x?cursor={cursor}"),
                &ring
            )
            .unwrap(),
            Some(at(1))
        );
        assert_eq!(
            from_query(&scope("ten_a", &forms[1]), "/x?limit=2", &ring).unwrap(),
            None
        );
        let here = scope("ten_a", &forms[1]);
        assert_eq!(
            ask(&here, &format!("/x?cursor={cursor}&limit=2"), 5, &ring).unwrap(),
            PageAsk {
                limit: 2,
                after: Some(at(1))
            }
        );
        assert_eq!(
            ask(&here, "/x", 5, &ring).unwrap(),
            PageAsk {
                limit: 5,
                after: None
            }
        );
        assert!(ask(&here, "/x?limit=6", 5, &ring).is_err());
        assert!(ask(&here, "/x?cursor=nope", 5, &ring).is_err());
    }

    #[test]
    fn a_limit_is_a_whole_number_within_its_bounds() {
        assert_eq!(limit(None, 100, 1_000).unwrap(), 100);
        assert_eq!(limit(Some("1"), 100, 1_000).unwrap(), 1);
        assert_eq!(limit(Some("1000"), 100, 1_000).unwrap(), 1_000);
        for wrong in ["0", "1001", "-1", "ten", ""] {
            let e = limit(Some(wrong), 100, 1_000).unwrap_err();
            assert!(e.message.contains("limit"), "{wrong}: {}", e.message);
        }
    }
}
