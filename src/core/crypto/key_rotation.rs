//! Retiring a data key. `DATA_KEYS` lists the keys, the first one active: new secrets are sealed
//! under it, and the others only open what they sealed. The re-encryption sweep
//! (`edge/tenancy/rekey.rs`, part of the minute dispatch) seals every stored secret again under the
//! active key, a page at a time; this module says what the sweep and `/admin/metrics` decide:
//! how much one run takes on, and which keys the stored secrets still need.
//!
//! What is resealed: grants' tokens (through each grant's Durable Object, their only writer),
//! tenants' own OAuth client secrets, webhook endpoints' signing secrets. PKCE verifiers are
//! not: they live ten minutes and are consumed once. Signed links (reconnect links, page
//! links) are not stored; one signed with a removed key is refused as invalid, so an operator
//! who wants every outstanding reconnect link to keep working keeps the old key for
//! `RECONNECT_LINK_DAYS` after the rotation (the scheduler can always ask for a new link).

/// Grants resealed per run, each a call to its Durable Object. At one run a minute that is
/// 6,000 an hour.
pub const GRANTS_PER_RUN: u32 = 100;
/// Tenant-client and webhook-endpoint rows resealed per run, per table.
pub const ROWS_PER_RUN: u32 = 200;

/// Where the stored secrets stand against the configured keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStanding {
    /// Configured keys other than the active one that still open stored secrets: not yet
    /// removable.
    pub still_needed: Vec<String>,
    /// Keys that sealed stored secrets but are not configured: those secrets cannot be opened.
    pub missing: Vec<String>,
}

/// `configured`: the key ids in `DATA_KEYS` order (the first active); `sealed`: how many
/// stored secrets each key id sealed.
pub fn standing(configured: &[&str], sealed: &[(&str, u64)]) -> KeyStanding {
    let used = |id: &str| sealed.iter().any(|(k, n)| *k == id && *n > 0);
    let still_needed = configured
        .iter()
        .skip(1)
        .filter(|id| used(id))
        .map(|id| (*id).to_owned())
        .collect();
    let mut missing: Vec<String> = sealed
        .iter()
        .filter(|(k, n)| *n > 0 && !configured.contains(k))
        .map(|(k, _)| (*k).to_owned())
        .collect();
    missing.sort();
    missing.dedup();
    KeyStanding {
        still_needed,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_key_is_needed_while_it_sealed_something_and_a_removed_one_is_missing() {
        let s = standing(&["k2", "k1"], &[("k1", 3), ("k2", 5)]);
        assert_eq!(s.still_needed, vec!["k1".to_owned()]);
        assert!(s.missing.is_empty());

        let done = standing(&["k2", "k1"], &[("k1", 0), ("k2", 8)]);
        assert!(done.still_needed.is_empty(), "k1 can go");

        // The active key is never "still needed": it is the one in use.
        assert!(standing(&["k2"], &[("k2", 8)]).still_needed.is_empty());

        let early = standing(&["k2"], &[("k1", 3), ("k1", 1), ("k2", 5)]);
        assert_eq!(early.missing, vec!["k1".to_owned()]);
        assert!(early.still_needed.is_empty());
    }
}
