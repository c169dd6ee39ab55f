//! `flash deploy`.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use flash_cli::deploy::{self, DeployOptions, DeployReport, EndpointAction};

use super::{app_name, current_project, finish, json, runtime};
use crate::cli::Target;

/// `flash deploy`.
pub(crate) fn run(target: &Target, as_json: bool) -> ExitCode {
    finish(deploy(target, as_json))
}

fn deploy(target: &Target, as_json: bool) -> Result<String> {
    let project = current_project()?;
    let app = app_name(target.app.clone(), Some(&project))?;
    let options = DeployOptions::from_env(app, target.env.clone());
    let progress = super::progress::reporter();
    let report =
        runtime()?.block_on(deploy::deploy_with_progress(&project, &options, &*progress))?;
    Ok(if as_json {
        json(&report)
    } else {
        render_deploy(&report)
    })
}

/// The human report of a deploy: each endpoint, its URL, and a curl example.
pub(crate) fn render_deploy(report: &DeployReport) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Deployed build {} of app {} to environment {} ({}).\n",
        report.build_id, report.app, report.environment, report.environment_id
    );
    for e in &report.endpoints {
        let kind = if e.load_balanced { "LB" } else { "QB" };
        if e.action == EndpointAction::Deleted {
            let _ = writeln!(
                text,
                "  {:<20} {kind}  deleted    {}",
                e.resource, e.endpoint_id
            );
            continue;
        }
        let _ = writeln!(
            text,
            "  {:<20} {kind}  {:<9}  {}",
            e.resource,
            deploy::action_word(e.action),
            e.url
        );
        if let Some(routes) = report.routes.get(&e.resource) {
            for route in routes {
                let _ = writeln!(text, "      {route}");
            }
        }
    }
    let example = report
        .endpoints
        .iter()
        .find(|e| e.action != EndpointAction::Deleted);
    if let Some(e) = example {
        let _ = writeln!(text, "\nTry it:");
        if e.load_balanced {
            let (method, path) = report
                .routes
                .get(&e.resource)
                .and_then(|r| r.first())
                .and_then(|r| r.split_once(' '))
                .unwrap_or(("GET", "/ping"));
            let _ = writeln!(
                text,
                "  curl -X {method} {}{path} -H \"Authorization: Bearer $RUNPOD_API_KEY\" \
                 -H 'Content-Type: application/json' -d '{{}}'",
                e.url
            );
        } else {
            let _ = writeln!(
                text,
                "  curl -X POST {}/runsync -H \"Authorization: Bearer $RUNPOD_API_KEY\" \
                 -H 'Content-Type: application/json' -d '{{\"input\": {{}}}}'",
                e.url
            );
        }
    }
    text
}
