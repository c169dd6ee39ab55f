//! graphql_client codegen for the platform operations (apps, environments, builds, endpoints).
//!
//! Generated and private to this crate; compiled against the same schema as runpod-flash's
//! (`graphql/runpod.graphql` is a symlink to it, so that a packaged crate carries a copy).

// Generated code carries no docs, uses `pub` inside private modules and Runpod's scalar names.
#![allow(missing_docs, unreachable_pub, unused_qualifications, clippy::all)]

use graphql_client::GraphQLQuery;

/// Runpod's `JSON` scalar (named `Json` after graphql_client's Rust normalization).
type Json = serde_json::Value;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/get_flash_apps.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct GetFlashApps;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/get_flash_app_by_name.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct GetFlashAppByName;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/get_flash_environment_by_name.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct GetFlashEnvironmentByName;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/create_flash_app.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct CreateFlashApp;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/create_flash_environment.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct CreateFlashEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/prepare_artifact_upload.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct PrepareArtifactUpload;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/finalize_artifact_upload.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct FinalizeArtifactUpload;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/deploy_build_to_environment.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct DeployBuildToEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/delete_flash_app.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct DeleteFlashApp;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/delete_flash_environment.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct DeleteFlashEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/save_endpoint.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct SaveEndpoint;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/save_template.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct SaveTemplate;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/delete_endpoint.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct DeleteEndpoint;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/runpod.graphql",
    query_path = "graphql/get_endpoint.graphql",
    normalization = "rust",
    response_derives = "Debug",
    variables_derives = "Debug",
    skip_serializing_none
)]
pub(crate) struct GetEndpoint;
