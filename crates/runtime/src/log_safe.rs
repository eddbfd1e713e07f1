//! The one path by which outside input reaches a log.
//!
//! Webhook scopes and ids, request paths, bodies and the error text of BigCommerce or
//! Bloomreach are written through [`LogSafe`] (`tracing::warn!(scope = %log_safe(&scope), …)`),
//! so nobody outside can forge a log line or drive the terminal of whoever reads the log:
//!
//! - control characters (C0, DEL, C1) are shown as escapes: `\n`, `\r`, `\t`, `\0`, otherwise
//!   `\u{1b}`; so are Unicode format characters (bidi overrides and isolates such as U+202E,
//!   zero-width characters, the BOM) and the line and paragraph separators;
//! - a backslash is doubled, so an escape in the log was always written by this module;
//! - the text is capped at [`LogSafe::DEFAULT_MAX_CHARS`] characters (or a chosen cap), with
//!   how much was left out, so an over-long value costs one bounded line.

use std::fmt::{self, Write as _};

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Outside text made safe to log; its [`Display`](fmt::Display) escapes and caps it.
#[derive(Debug, Clone, Copy)]
pub struct LogSafe<'a> {
    text: &'a str,
    max_chars: usize,
}

/// `text` made safe to log with the default cap.
pub fn log_safe(text: &str) -> LogSafe<'_> {
    LogSafe::new(text)
}

impl<'a> LogSafe<'a> {
    /// The default cap, in characters.
    pub const DEFAULT_MAX_CHARS: usize = 200;

    /// `text` with the default cap.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            max_chars: Self::DEFAULT_MAX_CHARS,
        }
    }

    /// The same text capped at `max_chars` characters.
    pub fn max_chars(self, max_chars: usize) -> Self {
        Self { max_chars, ..self }
    }
}

/// Whether `c` is shown as an escape rather than as itself.
fn escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
                | GeneralCategory::Surrogate
                | GeneralCategory::Unassigned
        )
}

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shown, (at, c)) in self.text.char_indices().enumerate() {
            if shown == self.max_chars {
                return write!(f, "…(+{} bytes)", self.text.len() - at);
            }
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                c if escaped(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_format_and_bidi_characters_become_visible_escapes() {
        let forged = "store/order/created\n2026-12-01T00:00:00Z  INFO forged\r\t\0\u{1b}[31m\u{7f}\u{85}\u{202e}\u{2066}\u{200b}\u{feff}\u{2028}";
        assert_eq!(
            log_safe(forged).to_string(),
            "store/order/created\\n2026-12-01T00:00:00Z  INFO forged\\r\\t\\0\\u{1b}[31m\\u{7f}\\u{85}\\u{202e}\\u{2066}\\u{200b}\\u{feff}\\u{2028}"
        );
    }

    #[test]
    fn backslashes_are_doubled_so_escapes_cannot_be_forged() {
        assert_eq!(log_safe(r"a\nb").to_string(), r"a\\nb");
    }

    #[test]
    fn ordinary_text_is_unchanged_including_letters_of_any_script() {
        let text = "store/customer/updated Jürgen 山田 ✓";
        assert_eq!(log_safe(text).to_string(), text);
    }

    #[test]
    fn long_text_is_capped_with_what_was_left_out() {
        let long = "é".repeat(1000);
        let shown = log_safe(&long).max_chars(10).to_string();
        assert_eq!(shown, format!("{}…(+1980 bytes)", "é".repeat(10)));
        assert_eq!(log_safe(&long).to_string().chars().count(), 200 + 14);
        assert_eq!(log_safe("short").max_chars(5).to_string(), "short");
    }
}
