//! The Runpod API key, wrapped so that it cannot leak through `Debug`, `Display` or logs.

use std::fmt;

/// A Runpod API key.
///
/// Its `Debug` output is `ApiKey(<redacted>)` and it has no `Display`: the only way to the raw value
/// is [`ApiKey::expose`], which is meant for building an `Authorization` header and nothing else.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Box<str>);

impl ApiKey {
    /// Wraps a key. Surrounding whitespace (a trailing newline from a file, say) is trimmed.
    /// Returns `None` for an empty key.
    pub fn new(key: impl AsRef<str>) -> Option<Self> {
        let key = key.as_ref().trim();
        (!key.is_empty()).then(|| Self(key.into()))
    }

    /// Reads [`RUNPOD_API_KEY`](flash_contract::env::RUNPOD_API_KEY) from the environment.
    pub fn from_env() -> Option<Self> {
        std::env::var(flash_contract::env::RUNPOD_API_KEY)
            .ok()
            .and_then(Self::new)
    }

    /// The raw key, for an `Authorization` header. Never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of this key in `text` with `<redacted>`.
    ///
    /// Used on text that comes from elsewhere (a server's error body, say) before it is put into
    /// an error or a log line, in case the other side echoed the key back.
    pub fn redact(&self, text: &str) -> String {
        text.replace(self.expose(), "<redacted>")
    }
}

/// Serialized verbatim: manifests written by the State Manager carry endpoint keys (`aiKey`),
/// and a round trip must not change them.
impl serde::Serialize for ApiKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ApiKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|key| Self(key.into()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new("rpa_SECRET123").unwrap();
        let debug = format!("{key:?} {:?}", Some(&key));
        assert!(!debug.contains("SECRET"), "{debug}");
        assert_eq!(key.expose(), "rpa_SECRET123");
    }

    #[test]
    fn empty_and_blank_keys_are_none() {
        assert!(ApiKey::new("").is_none());
        assert!(ApiKey::new("  \n").is_none());
        assert_eq!(ApiKey::new(" k \n").unwrap().expose(), "k");
    }

    #[test]
    fn redact_removes_echoed_keys() {
        let key = ApiKey::new("abc123").unwrap();
        assert_eq!(key.redact("bad key abc123!"), "bad key <redacted>!");
    }
}
