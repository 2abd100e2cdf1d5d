//! Client-controlled text, cut to size before it reaches a log line, an
//! audit row or an `error` frame.
//!
//! A peer controls many strings the relay repeats: its peer id, message
//! type names, its own `error` text, values inside a refused document.
//! Repeated unbounded, one 16 MiB frame becomes 16 MiB per log line and
//! per audit row. [`clip`] is the one place they are cut.
//!
//! ```
//! use client_core::clip::{MAX_CLIENT_TEXT, clip};
//!
//! assert_eq!(clip("short"), "short");
//! let long = "网".repeat(1000);
//! let cut = clip(&long);
//! assert!(cut.len() <= MAX_CLIENT_TEXT + 32);
//! assert!(cut.ends_with("(3000 bytes)"));
//! ```

use std::borrow::Cow;

/// Bytes of client-controlled text kept in a log line, audit row or
/// `error` frame; the rest is replaced by a note of the full length.
pub const MAX_CLIENT_TEXT: usize = 256;

/// `text` if it fits [`MAX_CLIENT_TEXT`], else its start (cut at a
/// character boundary) followed by `… (N bytes)`.
pub fn clip(text: &str) -> Cow<'_, str> {
    clip_to(text, MAX_CLIENT_TEXT)
}

/// [`clip`] to `max` bytes of the original.
pub fn clip_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary_and_says_how_long_it_was() {
        let text = format!("a{}", "关".repeat(200)); // 601 bytes
        let cut = clip(&text);
        assert!(cut.starts_with('a'));
        assert!(cut.ends_with("… (601 bytes)"), "{cut}");
        assert!(cut.len() <= MAX_CLIENT_TEXT + "… (601 bytes)".len());
        assert!(matches!(clip("fits"), Cow::Borrowed("fits")));
    }
}
