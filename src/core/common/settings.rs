//! Settings given as `key=value` lists of whole numbers in variables (`REFRESH_BACKOFF`,
//! `CIRCUIT_BREAKER`, `SWEEP`): one reader, so each setting only says what its keys mean.

/// The `key=value` pairs of `text` (comma-separated, blanks ignored), or what is wrong,
/// naming `var`.
pub fn whole_numbers<'a>(var: &str, text: &'a str) -> Result<Vec<(&'a str, u32)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{var}: {part:?} is not key=value"))?;
            let n = value
                .trim()
                .parse()
                .map_err(|_| format!("{var}: {} must be a whole number", key.trim()))?;
            Ok((key.trim(), n))
        })
        .collect()
}

/// The error for a key `var` does not have.
pub fn unknown_key(var: &str, key: &str) -> String {
    format!("{var}: unknown key {key:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_read_and_mistakes_named() {
        assert_eq!(
            whole_numbers("X", " a=1, b = 2 ,").unwrap(),
            [("a", 1), ("b", 2)]
        );
        assert_eq!(whole_numbers("X", "").unwrap(), []);
        assert_eq!(
            whole_numbers("X", "a").unwrap_err(),
            "X: \"a\" is not key=value"
        );
        assert_eq!(
            whole_numbers("X", "a=-1").unwrap_err(),
            "X: a must be a whole number"
        );
    }
}
