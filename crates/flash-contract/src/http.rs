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

/// How a load-balanced streaming function answers: `text/event-stream`, one event per item.
///
/// An item is a default (`message`) event whose `data` is the item's JSON. The stream ends with
/// one [`END_EVENT`](sse::END_EVENT), or with one [`ERROR_EVENT`](sse::ERROR_EVENT) whose `data`
/// is the error as a worker reports it (`{"error_type", "error_message", ...}`). A body that
/// stops before either was cut off: a caller must not take it as complete.
pub mod sse {
    /// The media type of a streaming answer.
    pub const CONTENT_TYPE: &str = "text/event-stream";
    /// The event that ends a stream that finished.
    pub const END_EVENT: &str = "end";
    /// The event that ends a stream that failed.
    pub const ERROR_EVENT: &str = "error";
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
