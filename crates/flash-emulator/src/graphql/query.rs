//! GraphQL queries.

use std::sync::Arc;

use async_graphql::{Context, Object, Result};

use super::types::{
    self, Endpoint, FlashApp, FlashBuild, FlashEnvironment, FlashEnvironmentByNameInput,
    PodTemplate, User,
};
use crate::core::Core;

/// The query root.
pub(crate) struct Query;

fn core<'a>(ctx: &Context<'a>) -> &'a Arc<Core> {
    ctx.data_unchecked::<Arc<Core>>()
}

#[Object]
impl Query {
    /// A login request's state (anonymous; see [`super::login`]).
    async fn flash_auth_request_status(
        &self,
        ctx: &Context<'_>,
        flash_auth_request_id: String,
    ) -> Option<super::login::FlashAuthRequest> {
        super::login::status(core(ctx), &flash_auth_request_id)
    }

    /// A Flash environment by id; null when it does not exist or is not visible to the key.
    async fn flash_environment(
        &self,
        ctx: &Context<'_>,
        flash_environment_id: String,
    ) -> Option<FlashEnvironment> {
        let core = core(ctx);
        let store = core.store();
        store
            .environments
            .get(&flash_environment_id)
            .map(|e| types::environment(&store, &core.settings.base_url, e))
    }

    /// A Flash build by id; null when it does not exist or is not visible to the key.
    async fn flash_build(&self, ctx: &Context<'_>, flash_build_id: String) -> Option<FlashBuild> {
        core(ctx)
            .store()
            .builds
            .get(&flash_build_id)
            .map(types::build)
    }

    /// A Flash app by id; null when it does not exist.
    async fn flash_app(&self, ctx: &Context<'_>, flash_app_id: String) -> Option<FlashApp> {
        let core = core(ctx);
        let store = core.store();
        store
            .apps
            .get(&flash_app_id)
            .map(|a| types::app(&store, &core.settings.base_url, a))
    }

    /// A Flash app by name; an error saying "app not found" when there is none.
    async fn flash_app_by_name(
        &self,
        ctx: &Context<'_>,
        flash_app_name: String,
    ) -> Result<FlashApp> {
        let core = core(ctx);
        let store = core.store();
        store
            .apps
            .values()
            .find(|a| a.name == flash_app_name)
            .map(|a| types::app(&store, &core.settings.base_url, a))
            .ok_or_else(|| format!("app not found: {flash_app_name}").into())
    }

    /// A Flash environment by app and name; an error saying "environment not found" when there
    /// is none.
    async fn flash_environment_by_name(
        &self,
        ctx: &Context<'_>,
        input: FlashEnvironmentByNameInput,
    ) -> Result<FlashEnvironment> {
        let core = core(ctx);
        let store = core.store();
        store
            .environments
            .values()
            .find(|e| e.app_id == input.flash_app_id && e.name == input.name)
            .map(|e| types::environment(&store, &core.settings.base_url, e))
            .ok_or_else(|| {
                format!(
                    "environment not found: {} in app {}",
                    input.name, input.flash_app_id
                )
                .into()
            })
    }

    /// The owner of the API key.
    async fn myself(&self) -> User {
        User
    }

    /// A pod template by id; null when it does not exist.
    async fn pod_template(&self, ctx: &Context<'_>, id: String) -> Option<PodTemplate> {
        core(ctx).store().templates.get(&id).map(types::template)
    }
}

#[Object]
impl User {
    /// The user id.
    async fn id(&self) -> String {
        super::USER_ID.to_owned()
    }

    /// Every Flash app.
    async fn flash_apps(&self, ctx: &Context<'_>) -> Vec<FlashApp> {
        let core = core(ctx);
        let store = core.store();
        store
            .apps
            .values()
            .map(|a| types::app(&store, &core.settings.base_url, a))
            .collect()
    }

    /// An endpoint by id; null when it does not exist.
    async fn endpoint(&self, ctx: &Context<'_>, id: String) -> Option<Endpoint> {
        let store = core(ctx).store();
        store.endpoints.get(&id).map(|e| types::endpoint(&store, e))
    }

    /// Every endpoint.
    async fn endpoints(&self, ctx: &Context<'_>) -> Vec<Endpoint> {
        let store = core(ctx).store();
        store
            .endpoints
            .values()
            .map(|e| types::endpoint(&store, e))
            .collect()
    }
}
