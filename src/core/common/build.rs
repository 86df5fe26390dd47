//! Which build this is. The release build is the only one `wrangler deploy` produces; the test
//! build adds the test-only powers (see the `test-powers` feature in `Cargo.toml`).

/// `"test"` in builds with the `test-powers` feature, `"release"` otherwise.
pub const FLAVOUR: &str = if cfg!(feature = "test-powers") {
    "test"
} else {
    "release"
};

/// The crate version, as deployed.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `User-Agent` of every call Evergreen makes, unless the call names its own. Reddit
/// refuses generic agents and asks for `<platform>:<app ID>:<version string> (by …)`
/// (github.com/reddit-archive/reddit/wiki/API); the other platforms take any.
pub const USER_AGENT: &str = concat!(
    "web:evergreen:v",
    env!("CARGO_PKG_VERSION"),
    " (by Evergreen, an OAuth connection keeper)"
);

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn flavour_follows_the_feature() {
        let expected = if cfg!(feature = "test-powers") {
            "test"
        } else {
            "release"
        };
        assert_eq!(super::FLAVOUR, expected);
    }
}
