//! `flash undeploy`.

use std::process::ExitCode;

use anyhow::Result;
use flash_cli::deploy::DeployOptions;
use flash_cli::undeploy::{self, UndeployTarget};

use super::{app_name, confirm, endpoint_list, finish, json, project, runtime};
use crate::cli::Target;

/// `flash undeploy`.
pub(crate) fn run(name: Option<String>, target: &Target, yes: bool, as_json: bool) -> ExitCode {
    finish(undeploy(name, target, yes, as_json))
}

fn undeploy(name: Option<String>, target: &Target, yes: bool, as_json: bool) -> Result<String> {
    let project = project();
    let app = app_name(target.app.clone(), project.as_ref())?;
    let options = DeployOptions::from_env(app, target.env.clone());
    let what = match name {
        Some(name) => UndeployTarget::Resource(name),
        None => UndeployTarget::All,
    };
    let rt = runtime()?;
    let found = rt.block_on(undeploy::targets(&options, &what))?;
    let endpoints = found.map(|(_, e)| e).unwrap_or_default();
    if endpoints.is_empty() {
        let message = format!(
            "Nothing to undeploy in environment {} of app {}.\n",
            options.env, options.app
        );
        return Ok(if as_json {
            json(&undeploy::UndeployReport {
                app: options.app,
                environment: options.env,
                deleted: Vec::new(),
            })
        } else {
            message
        });
    }
    confirm(
        &format!(
            "Delete {} endpoint(s) of environment {} of app {}: {}?",
            endpoints.len(),
            options.env,
            options.app,
            endpoint_list(&endpoints)
        ),
        yes,
    )?;
    let report = rt.block_on(undeploy::undeploy(project.as_ref(), &options, &what))?;
    Ok(if as_json {
        json(&report)
    } else {
        format!("Deleted: {}\n", endpoint_list(&report.deleted))
    })
}
