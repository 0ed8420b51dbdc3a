//! A string that must never reach a log line or an error message.

use std::fmt;

/// A secret value (authtoken, admin token). `Debug`/`Display` print a mask; use
/// [`Secret::expose`] only where the value is actually needed.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn never_prints() {
        let s = super::Secret::new("wrn_supersecret");
        assert!(!format!("{s} {s:?}").contains("supersecret"));
        assert_eq!(s.expose(), "wrn_supersecret");
    }
}
