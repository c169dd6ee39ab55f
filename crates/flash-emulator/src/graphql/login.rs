//! `flash login`'s device flow, as Runpod serves it to Python Flash 1.21 (`flash login`):
//! `createFlashAuthRequest` opens a request, a person approves it in the console, and
//! `flashAuthRequestStatus` then hands its API key out once. Both operations are anonymous
//! (the caller has no key yet). The emulator has no person to ask: a request is approved as
//! soon as it is made, with the emulator's key, so the flow runs end to end on 127.0.0.1.

use std::time::{Duration, SystemTime};

use async_graphql::SimpleObject;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection};
use indexmap::IndexMap;

use crate::core::{Core, lock};
use crate::ids;

/// How long a request stays valid (Runpod's console link expires too).
const TTL: Duration = Duration::from_secs(600);
/// Requests kept; the oldest is forgotten first.
const MAX_REQUESTS: usize = 1000;

/// The root fields a caller without a key may select.
const ANONYMOUS_FIELDS: [&str; 3] = [
    "createFlashAuthRequest",
    "flashAuthRequestStatus",
    "__typename",
];

/// A login request, as Runpod's `FlashAuthRequest`.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashAuthRequest {
    pub(crate) id: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) expires_at: Option<String>,
    /// Only on `flashAuthRequestStatus`, once approved.
    pub(crate) api_key: Option<String>,
}

#[derive(Debug)]
struct Request {
    expires: SystemTime,
    /// The key was handed out (the request is `CONSUMED`).
    consumed: bool,
}

/// Open login requests.
#[derive(Debug, Default)]
pub(crate) struct AuthRequests(std::sync::Mutex<IndexMap<String, Request>>);

/// `createFlashAuthRequest`.
pub(crate) fn create(core: &Core) -> FlashAuthRequest {
    let id = format!("far_{}", ids::short(24));
    let expires = SystemTime::now() + TTL;
    let mut requests = lock(&core.auth_requests.0);
    if requests.len() >= MAX_REQUESTS {
        requests.shift_remove_index(0);
    }
    requests.insert(
        id.clone(),
        Request {
            expires,
            consumed: false,
        },
    );
    FlashAuthRequest {
        id: Some(id),
        status: Some("PENDING".to_owned()),
        expires_at: Some(flash_contract::time::rfc3339(expires)),
        api_key: None,
    }
}

/// `flashAuthRequestStatus`: `APPROVED` with the key the first time, `CONSUMED` without it
/// after that, `EXPIRED` once past its time; `None` (null) for an unknown id.
pub(crate) fn status(core: &Core, id: &str) -> Option<FlashAuthRequest> {
    let mut requests = lock(&core.auth_requests.0);
    let request = requests.get_mut(id)?;
    let (status, api_key) = if SystemTime::now() > request.expires {
        ("EXPIRED", None)
    } else if request.consumed {
        ("CONSUMED", None)
    } else {
        request.consumed = true;
        ("APPROVED", Some(core.settings.api_key.expose().to_owned()))
    };
    Some(FlashAuthRequest {
        id: Some(id.to_owned()),
        status: Some(status.to_owned()),
        expires_at: Some(flash_contract::time::rfc3339(request.expires)),
        api_key,
    })
}

/// Whether `query` selects nothing but the anonymous login fields (at the root, without
/// fragments), so it may run without a key. Anything unparsable is not.
pub(crate) fn is_anonymous(query: &str) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    let ExecutableDocument { operations, .. } = document;
    let operations: Vec<_> = match &operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    operations.iter().all(|op| {
        op.node
            .selection_set
            .node
            .items
            .iter()
            .all(|item| match &item.node {
                Selection::Field(field) => {
                    ANONYMOUS_FIELDS.contains(&field.node.name.node.as_str())
                }
                Selection::FragmentSpread(_) | Selection::InlineFragment(_) => false,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_login_fields_are_anonymous() {
        assert!(is_anonymous(
            "mutation createFlashAuthRequest { createFlashAuthRequest { id status expiresAt } }"
        ));
        assert!(is_anonymous(
            "query flashAuthRequestStatus($flashAuthRequestId: String!) { \
             flashAuthRequestStatus(flashAuthRequestId: $flashAuthRequestId) { id status apiKey } }"
        ));
        assert!(!is_anonymous("query { myself { id } }"));
        assert!(!is_anonymous(
            "query { flashAuthRequestStatus(flashAuthRequestId: \"x\") { id } myself { id } }"
        ));
        assert!(!is_anonymous(
            "query { ...F } fragment F on Query { myself { id } }"
        ));
        assert!(!is_anonymous("query { ... on Query { myself { id } } }"));
        assert!(!is_anonymous("not graphql"));
    }
}
