//! How much of a request body Evergreen reads: at most [`MAX_BODY_BYTES`]. Every body it takes
//! (API JSON, the connections page's forms) is small: the longest is a post's text (YouTube's
//! 5,000-character description) with its options. A larger body is refused with
//! `payload_too_large` before it is read, when it declares its length, or as soon as the bytes
//! read pass the cap, when it does not (chunked), so a huge body never sits in memory.

use crate::core::http::api_error::{ApiError, ErrorCode};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "The request body is larger than {} KiB; send less (media goes by URL, not inline).",
            MAX_BODY_BYTES / 1024
        ),
    )
}

/// Refuses a body whose declared `Content-Length` is over the cap. A missing or unreadable
/// header is left to the read's own count.
pub fn check_declared(content_length: Option<&str>) -> Result<(), ApiError> {
    match content_length.and_then(|n| n.trim().parse::<u64>().ok()) {
        Some(n) if n > MAX_BODY_BYTES as u64 => Err(too_large()),
        _ => Ok(()),
    }
}

/// Counts the bytes read so far and refuses once they pass the cap.
#[derive(Default)]
pub struct BodyCount(usize);

impl BodyCount {
    pub fn add(&mut self, chunk: usize) -> Result<(), ApiError> {
        self.0 = self.0.saturating_add(chunk);
        if self.0 > MAX_BODY_BYTES {
            Err(too_large())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_over_the_cap_is_refused_before_reading() {
        assert!(check_declared(Some("65536")).is_ok());
        let refused = check_declared(Some("65537")).unwrap_err();
        assert_eq!(refused.code, ErrorCode::PayloadTooLarge);
        assert_eq!(refused.status(), 413);
        assert!(refused.message.contains("64 KiB"), "{}", refused.message);
        assert!(check_declared(Some(" 10 ")).is_ok());
    }

    #[test]
    fn a_missing_or_unreadable_length_is_left_to_the_count() {
        assert!(check_declared(None).is_ok());
        assert!(check_declared(Some("lots")).is_ok());
        assert!(check_declared(Some("-1")).is_ok());
    }

    #[test]
    fn the_count_refuses_as_soon_as_the_bytes_pass_the_cap() {
        let mut count = BodyCount::default();
        assert!(count.add(MAX_BODY_BYTES - 1).is_ok());
        assert!(count.add(1).is_ok());
        assert_eq!(count.add(1).unwrap_err().code, ErrorCode::PayloadTooLarge);
        let mut huge = BodyCount::default();
        assert!(huge.add(usize::MAX).is_err());
    }
}
