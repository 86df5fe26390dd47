//! The providers Evergreen knows. A placeholder for the catalogue: issue 4 turns this into data
//! (URLs, scopes, client authentication, lifetimes, refresh policy per provider).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    X,
}

impl Provider {
    pub const ALL: [Provider; 1] = [Provider::X];

    /// The name used in routes, rows and events.
    pub const fn name(self) -> &'static str {
        match self {
            Provider::X => "x",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.name()), Some(p));
        }
        assert_eq!(Provider::parse("myspace"), None);
    }
}
