//! The GraphQL control plane at `/graphql`.
//!
//! Auth: `Authorization: Bearer KEY` with the emulator's API key, except for the two anonymous
//! operations of the login flow ([`login`]). A missing or wrong key gets
//! **HTTP 401** with the body `{"errors": [{"message": "Unauthorized"}]}`, so both an HTTP-status
//! check and a GraphQL-errors check see the failure. Errors of an operation come back as HTTP 200
//! `{"data": ..., "errors": [{"message": ...}]}` with a message naming the operation and the
//! offending id or field.

pub(crate) mod login;
mod mutation;
mod query;
mod types;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::core::Core;
use crate::http::bearer_ok;

/// The id reported as `userId` and `myself.id`.
pub(crate) const USER_ID: &str = "user_emulator";

/// The emulator's schema type.
pub(crate) type EmulatorSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// Builds the schema; `core` is available to resolvers as context data.
pub(crate) fn schema(core: Option<Arc<Core>>) -> EmulatorSchema {
    let builder = Schema::build(query::Query, mutation::Mutation, EmptySubscription);
    match core {
        Some(core) => builder.data(core).finish(),
        None => builder.finish(),
    }
}

/// The schema in SDL. It serves nothing `crates/flash/graphql/runpod.graphql` (what Runpod's
/// official clients use) lacks: `tests/schema_fidelity.rs` compares the two.
pub fn sdl() -> String {
    schema(None).sdl()
}

/// Whether a document starts with a mutation, and the name of its first operation, if named.
fn document_operation(query: &str) -> (bool, Option<String>) {
    let text = query.trim_start();
    let (mutation, rest) = match (text.strip_prefix("mutation"), text.strip_prefix("query")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return (false, None),
    };
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (mutation, (!name.is_empty()).then_some(name))
}

/// Whether `body` is a request of the login flow only, which needs no key.
fn anonymous_login(body: &[u8]) -> bool {
    serde_json::from_slice::<async_graphql::Request>(body)
        .is_ok_and(|r| login::is_anonymous(&r.query))
}

/// `POST /graphql`.
/// Most GraphQL calls [`crate::EmulatorHandle::graphql_log`] keeps (the older half is dropped
/// when it is reached).
pub(crate) const GRAPHQL_LOG_LIMIT: usize = 100_000;

pub(crate) async fn handler(
    State((core, schema)): State<(Arc<Core>, EmulatorSchema)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer_ok(&headers, &core.settings.api_key) && !anonymous_login(&body) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errors": [{"message": "Unauthorized"}]})),
        )
            .into_response();
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"errors": [{"message": format!("request body is not a GraphQL request: {e}")}]})),
            )
                .into_response();
        }
    };
    let (mutation, named) = document_operation(&request.query);
    {
        let mut log = crate::core::lock(&core.graphql_log);
        // Bounded: a long-lived emulator keeps the most recent calls only.
        if log.len() >= GRAPHQL_LOG_LIMIT {
            log.drain(..GRAPHQL_LOG_LIMIT / 2);
        }
        log.push(crate::GraphqlCall {
            operation_name: request.operation_name.clone().or(named),
            mutation,
        });
    }
    let response = schema.execute(request).await;
    axum::Json(response).into_response()
}
