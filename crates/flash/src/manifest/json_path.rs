//! JSON paths for problem reports.
//!
//! One rule for every key: `.key` when the key is an ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`),
//! otherwise bracket notation with the key as a JSON string, `["01_hello"]`, `["POST /x"]`. Array
//! elements are `[i]`, 0-based. So a path can always be read back without guessing where a key
//! with a dot or a space ends.

/// `$` plus the given segments.
#[derive(Debug, Clone)]
pub(crate) struct JsonPath(String);

impl JsonPath {
    /// The document root, `$`.
    pub(crate) fn root() -> Self {
        Self("$".to_owned())
    }

    /// This path followed by an object key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut path = self.0.clone();
        if is_identifier(key) {
            path.push('.');
            path.push_str(key);
        } else {
            path.push('[');
            // `Value`'s `Display` is JSON, so quotes, backslashes and control characters come out
            // escaped, and it cannot fail.
            path.push_str(&serde_json::Value::String(key.to_owned()).to_string());
            path.push(']');
        }
        Self(path)
    }

    /// This path followed by an array index.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as text.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_use_dots_and_others_use_brackets() {
        let root = JsonPath::root();
        assert_eq!(
            root.key("resources").key("gpu").into_string(),
            "$.resources.gpu"
        );
        assert_eq!(
            root.key("resources").key("01_hello").into_string(),
            r#"$.resources["01_hello"]"#
        );
        assert_eq!(
            root.key("routes").key("api").key("GET /x").into_string(),
            r#"$.routes.api["GET /x"]"#
        );
        assert_eq!(
            root.key("a\"b").index(3).key("c").into_string(),
            r#"$["a\"b"][3].c"#
        );
        assert_eq!(root.key("").into_string(), r#"$[""]"#);
        assert_eq!(
            root.key("gpu-inference").into_string(),
            r#"$["gpu-inference"]"#
        );
    }
}
