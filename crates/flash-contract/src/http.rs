//! What a load-balanced function's route may be. The `#[remote]` macro rejects anything else at
//! compile time and the manifest validator at deploy and boot time, from these same lists.

/// HTTP methods a load-balanced function may use.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Paths no function may claim: `/ping` is the platform's health check and `/execute` is Python
/// Flash's arbitrary-code route, which this port never exposes.
pub const RESERVED_PATHS: [&str; 2] = ["/execute", "/ping"];

/// Whether `method` (upper case) is one a function may use.
pub fn is_method(method: &str) -> bool {
    METHODS.contains(&method)
}

/// Whether `path` is reserved. Trailing slashes are ignored: `/ping/` reaches the same handler as
/// `/ping` on most routers.
pub fn is_reserved(path: &str) -> bool {
    RESERVED_PATHS.contains(&path.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_paths_ignore_trailing_slashes() {
        assert!(is_reserved("/ping"));
        assert!(is_reserved("/ping/"));
        assert!(is_reserved("/execute//"));
        assert!(is_reserved("/execute"));
        assert!(!is_reserved("/pingx"));
        assert!(!is_reserved("/"));
        assert!(is_method("PATCH"));
        assert!(!is_method("patch"));
    }
}
