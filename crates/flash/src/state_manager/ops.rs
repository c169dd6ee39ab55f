//! graphql_client codegen for the State Manager operations.
//!
//! Everything here is generated and private to [`crate::state_manager`]; the public types are the
//! hand-written ones in `types.rs`, so a schema change never leaks a generated name into the API.

// Generated code carries no docs, uses `pub` inside private modules and Runpod's scalar names.
#![allow(missing_docs, unreachable_pub, unused_qualifications, clippy::all)]

use graphql_client::GraphQLQuery;

/// Runpod's `JSON` scalar (named `Json` after graphql_client's Rust normalization).
type Json = serde_json::Value;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/get_flash_environment.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(super) struct GetFlashEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/get_flash_build.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(super) struct GetFlashBuild;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/update_flash_build_manifest.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(super) struct UpdateFlashBuildManifest;
