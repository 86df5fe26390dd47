//! The publish pre-check: what stops a claimed target before any token is taken or any call
//! is made. A target goes on only while its connection is connected and may post, its
//! provider publishes, and its text fits the platform.

#[cfg(test)]
use crate::core::oauth::catalogue::Catalogue;
use crate::core::oauth::catalogue::{ProviderSpec, PublishSpec};
use crate::core::oauth::managed_accounts::Access;
use crate::core::publish::posts::TargetState;
use crate::core::publish::publish_dialect;

/// What the pre-check reads of a claimed target.
pub struct TargetFacts<'a> {
    /// The connection was disconnected.
    pub disconnected: bool,
    pub access: Access,
    /// Why the access was lost, as the platform or the check said.
    pub access_reason: Option<&'a str>,
    pub provider: &'a str,
    pub text: &'a str,
}

/// Go on with the provider's specs, or settle the target now.
#[derive(Debug)]
pub enum PreCheck<'c> {
    Go {
        spec: &'c ProviderSpec,
        publish: &'c PublishSpec,
    },
    Stop {
        state: TargetState,
        reason: &'static str,
        message: String,
    },
}

/// The pre-check of `target` against its provider's entry (`None`: no such provider), in order: disconnected (failed), access lost
/// (parked, so a restored role sends it), not publishable (failed), too long (failed).
pub fn pre_check<'c>(spec: Option<&'c ProviderSpec>, target: &TargetFacts<'_>) -> PreCheck<'c> {
    let stop = |state, reason, message: String| PreCheck::Stop {
        state,
        reason,
        message,
    };
    if target.disconnected {
        return stop(
            TargetState::Failed,
            "connection_disconnected",
            "The connection was disconnected before the post went out.".into(),
        );
    }
    if target.access != Access::Ok {
        let why = target
            .access_reason
            .unwrap_or("The account lost its access to this page at the platform.");
        return stop(TargetState::Parked, "access_lost", why.to_owned());
    }
    let Some((spec, publish)) = spec.and_then(|s| s.publish.as_ref().map(|p| (s, p))) else {
        return stop(
            TargetState::Failed,
            "not_publishable",
            format!("Evergreen cannot publish to {:?}.", target.provider),
        );
    };
    if let Err(why) = publish_dialect::fits(publish, &spec.display_name, target.text) {
        return stop(TargetState::Failed, "text_too_long", why);
    }
    PreCheck::Go { spec, publish }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(provider: &'a str, text: &'a str) -> TargetFacts<'a> {
        TargetFacts {
            disconnected: false,
            access: Access::Ok,
            access_reason: None,
            provider,
            text,
        }
    }

    fn stopped(check: PreCheck<'_>) -> (TargetState, &'static str, String) {
        match check {
            PreCheck::Stop {
                state,
                reason,
                message,
            } => (state, reason, message),
            PreCheck::Go { spec, .. } => panic!("went on to {}", spec.name),
        }
    }

    #[test]
    fn a_connected_account_with_text_that_fits_goes_on() {
        let catalogue = Catalogue::builtin();
        match pre_check(catalogue.get("x"), &facts("x", "hello")) {
            PreCheck::Go { spec, .. } => assert_eq!(spec.name, "x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_stop_settles_as_before_in_its_order() {
        let catalogue = Catalogue::builtin();
        // Disconnected wins over everything else.
        let (huge, long) = ("x".repeat(10_000), "x".repeat(281));
        let mut gone = facts("nowhere", &huge);
        gone.disconnected = true;
        gone.access = Access::Lost;
        let (state, reason, _) = stopped(pre_check(catalogue.get(gone.provider), &gone));
        assert_eq!(
            (state, reason),
            (TargetState::Failed, "connection_disconnected")
        );
        // Lost access parks, with the recorded reason or a default one.
        let mut lost = facts("facebook", "hi");
        lost.access = Access::Lost;
        let (state, reason, message) = stopped(pre_check(catalogue.get(lost.provider), &lost));
        assert_eq!((state, reason), (TargetState::Parked, "access_lost"));
        assert!(message.contains("lost its access"), "{message}");
        lost.access_reason = Some("The page role was removed.");
        assert_eq!(
            stopped(pre_check(catalogue.get(lost.provider), &lost)).2,
            "The page role was removed."
        );
        let (state, reason, _) =
            stopped(pre_check(catalogue.get("nowhere"), &facts("nowhere", "hi")));
        assert_eq!((state, reason), (TargetState::Failed, "not_publishable"));
        let (state, reason, _) = stopped(pre_check(catalogue.get("x"), &facts("x", &long)));
        assert_eq!((state, reason), (TargetState::Failed, "text_too_long"));
    }
}
