//! Disconnecting a connection: what happens to its grant, and whether to revoke at the
//! platform.
//!
//! Revoking acts on the user's whole authorization of the app at the platform, not on one
//! grant: every other grant of the same account through the same client (another tenant's,
//! another end user's) would die with it. So Evergreen revokes only when the last connection
//! of the grant goes **and** no other live grant shares the client credentials and the
//! provider account. The ciphertext is deleted when the last connection goes; history keeps
//! metadata only.

/// What disconnecting one connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect {
    /// The grant's last live connection goes: delete its tokens.
    pub delete_tokens: bool,
    pub revoke: Revoke,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoke {
    AtPlatform,
    /// Not revoked, and why (a stable code for the API answer).
    Skipped(&'static str),
}

/// `other_live_connections`: the grant's connections left after this one;
/// `other_live_grants`: live grants (tokens stored, not dead) of the same provider account
/// and client, in any tenant; `platform_can_revoke`: the catalogue has a revocation endpoint;
/// `holds_tokens`: the grant still has tokens to revoke.
pub fn decide(
    other_live_connections: u32,
    other_live_grants: u32,
    platform_can_revoke: bool,
    holds_tokens: bool,
) -> Disconnect {
    if other_live_connections > 0 {
        return Disconnect {
            delete_tokens: false,
            revoke: Revoke::Skipped("grant_still_used"),
        };
    }
    let revoke = if !holds_tokens {
        Revoke::Skipped("no_tokens")
    } else if other_live_grants > 0 {
        Revoke::Skipped("account_shared")
    } else if !platform_can_revoke {
        Revoke::Skipped("platform_cannot_revoke")
    } else {
        Revoke::AtPlatform
    };
    Disconnect {
        delete_tokens: true,
        revoke,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revokes_only_for_the_last_connection_of_an_account_nobody_else_holds() {
        assert_eq!(decide(0, 0, true, true).revoke, Revoke::AtPlatform);
        assert!(decide(0, 0, true, true).delete_tokens);
        let shared = decide(0, 1, true, true);
        assert_eq!(shared.revoke, Revoke::Skipped("account_shared"));
        assert!(shared.delete_tokens, "this grant's tokens go either way");
        let sibling = decide(2, 0, true, true);
        assert_eq!(
            sibling,
            Disconnect {
                delete_tokens: false,
                revoke: Revoke::Skipped("grant_still_used")
            }
        );
        assert_eq!(
            decide(0, 0, false, true).revoke,
            Revoke::Skipped("platform_cannot_revoke")
        );
        assert_eq!(
            decide(0, 0, true, false).revoke,
            Revoke::Skipped("no_tokens")
        );
    }
}
