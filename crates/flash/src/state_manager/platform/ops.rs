//! graphql_client codegen for the platform operations (apps, environments, builds, endpoints).
//!
//! Generated and private to [`crate::state_manager::platform`], like [`super::super::ops`].

// Generated code carries no docs, uses `pub` inside private modules and Runpod's scalar names.
#![allow(missing_docs, unreachable_pub, unused_qualifications, clippy::all)]

use graphql_client::GraphQLQuery;

/// Runpod's `JSON` scalar (named `Json` after graphql_client's Rust normalization).
type Json = serde_json::Value;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/get_flash_apps.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct GetFlashApps;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/get_flash_app_by_name.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct GetFlashAppByName;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/get_flash_environment_by_name.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct GetFlashEnvironmentByName;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/create_flash_app.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct CreateFlashApp;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/create_flash_environment.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct CreateFlashEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/prepare_artifact_upload.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct PrepareArtifactUpload;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/finalize_artifact_upload.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct FinalizeArtifactUpload;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/deploy_build_to_environment.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct DeployBuildToEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/delete_flash_app.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct DeleteFlashApp;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/delete_flash_environment.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct DeleteFlashEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/save_endpoint.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct SaveEndpoint;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/save_template.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct SaveTemplate;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/delete_endpoint.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct DeleteEndpoint;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/platform/get_endpoint.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug"
)]
pub(in crate::state_manager) struct GetEndpoint;
