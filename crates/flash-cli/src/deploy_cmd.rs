//! `flash deploy`, `flash undeploy`, `flash env ...` and `flash app ...`: argument handling,
//! confirmation prompts and output over the library modules.
//!
//! Results go to stdout (human text, or JSON with `--json`); progress lines and errors go to
//! stderr, progress only when stderr is a terminal and `CI` is not `true`. The API key is never
//! printed.

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use flash_cli::deploy::{self, DeployError, DeployOptions, DeployReport, EndpointAction};
use flash_cli::manage;
use flash_cli::project::Project;
use flash_cli::undeploy::{self, UndeployTarget};
use runpod_flash::manifest::Manifest;
use runpod_flash::state::platform::PlatformEndpoint;
use serde::Serialize;

use crate::cli::{AppCommand, EnvCommand, Target};

fn out(text: &str) {
    // A closed stdout (`flash app list | head`) is not worth a second error.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn err(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn json<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned());
    text.push('\n');
    text
}

fn progress_enabled() -> bool {
    std::io::stderr().is_terminal()
        && !std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn finish(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            out(&text);
            ExitCode::SUCCESS
        }
        Err(message) => {
            err(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// The project in the current directory, if any.
fn project() -> Option<Project> {
    let cwd = std::env::current_dir().ok()?;
    Project::find(&cwd).ok()
}

/// `--app`, else the manifest's `project_name`, else the project directory name.
fn app_name(explicit: Option<String>, project: Option<&Project>) -> Result<String, String> {
    if let Some(app) = explicit.filter(|a| !a.trim().is_empty()) {
        return Ok(app);
    }
    let project = project.ok_or(
        "no --app given and no Flash project here to take the app name from; pass --app NAME",
    )?;
    let from_manifest = Manifest::from_path_unvalidated(&project.manifest_path())
        .ok()
        .and_then(|m| m.project_name);
    from_manifest
        .or_else(|| {
            project
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .ok_or_else(|| "cannot tell the app name; pass --app NAME".to_owned())
}

/// Asks `question` on stderr; `--yes` answers yes, a non-terminal stdin answers no.
fn confirm(question: &str, yes: bool) -> Result<(), String> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{question} Refusing without a terminal; pass --yes"
        ));
    }
    let _ = write!(std::io::stderr().lock(), "{question} [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err("cancelled".to_owned())
    }
}

fn endpoint_list(endpoints: &[PlatformEndpoint]) -> String {
    endpoints
        .iter()
        .map(|e| format!("{} ({})", e.name.as_deref().unwrap_or("unnamed"), e.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `flash deploy`.
pub(crate) fn deploy(target: &Target, as_json: bool) -> ExitCode {
    finish(run_deploy(target, as_json))
}

fn run_deploy(target: &Target, as_json: bool) -> Result<String, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let project = Project::find(&cwd).map_err(|e| e.to_string())?;
    let app = app_name(target.app.clone(), Some(&project))?;
    let options = DeployOptions::from_env(app, target.env.clone());
    let show = progress_enabled();
    let progress = move |line: &str| {
        if show {
            err(&format!("  {line}"));
        }
    };
    let report = runtime()?
        .block_on(deploy::deploy_with_progress(&project, &options, &progress))
        .map_err(|e| e.to_string())?;
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

/// `flash undeploy`.
pub(crate) fn undeploy(
    name: Option<String>,
    target: &Target,
    yes: bool,
    as_json: bool,
) -> ExitCode {
    finish(run_undeploy(name, target, yes, as_json))
}

fn run_undeploy(
    name: Option<String>,
    target: &Target,
    yes: bool,
    as_json: bool,
) -> Result<String, String> {
    let project = project();
    let app = app_name(target.app.clone(), project.as_ref())?;
    let options = DeployOptions::from_env(app, target.env.clone());
    let what = match name {
        Some(name) => UndeployTarget::Resource(name),
        None => UndeployTarget::All,
    };
    let rt = runtime()?;
    let found = rt
        .block_on(undeploy::targets(&options, &what))
        .map_err(|e| e.to_string())?;
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
    let report = rt
        .block_on(undeploy::undeploy(project.as_ref(), &options, &what))
        .map_err(|e| e.to_string())?;
    Ok(if as_json {
        json(&report)
    } else {
        format!("Deleted: {}\n", endpoint_list(&report.deleted))
    })
}

fn platform_options(app: String, env: String) -> DeployOptions {
    DeployOptions::from_env(app, env)
}

/// `flash env ...`.
pub(crate) fn env(command: EnvCommand, app: Option<String>, as_json: bool) -> ExitCode {
    finish(run_env(command, app, as_json))
}

fn run_env(command: EnvCommand, app: Option<String>, as_json: bool) -> Result<String, String> {
    let app = app_name(app, project().as_ref())?;
    let rt = runtime()?;
    let show = |e: DeployError| e.to_string();
    match command {
        EnvCommand::List => {
            let options = platform_options(app, String::new());
            let envs = rt.block_on(manage::env_list(&options)).map_err(show)?;
            if as_json {
                return Ok(json(&envs));
            }
            let mut text = format!("Environments of app {}:\n", options.app);
            for e in &envs {
                let _ = writeln!(
                    text,
                    "  {:<16} {}  state={}  active build={}",
                    e.name.as_deref().unwrap_or("-"),
                    e.id,
                    e.state.as_deref().unwrap_or("-"),
                    e.active_build_id.as_deref().unwrap_or("-")
                );
            }
            Ok(text)
        }
        EnvCommand::Get { name } => {
            let options = platform_options(app, name);
            let env = rt.block_on(manage::env_get(&options)).map_err(show)?;
            if as_json {
                return Ok(json(&env));
            }
            let mut text = format!(
                "Environment {} ({}) of app {}\n  state: {}\n  active build: {}\n  endpoints:\n",
                options.env,
                env.id,
                options.app,
                env.state.as_deref().unwrap_or("-"),
                env.active_build_id.as_deref().unwrap_or("-")
            );
            for e in &env.endpoints {
                let _ = writeln!(
                    text,
                    "    {:<20} {}  {}",
                    e.name.as_deref().unwrap_or("-"),
                    e.kind.as_deref().unwrap_or("-"),
                    e.id
                );
            }
            Ok(text)
        }
        EnvCommand::Create { name } => {
            let options = platform_options(app, name);
            let env = rt.block_on(manage::env_create(&options)).map_err(show)?;
            Ok(if as_json {
                json(&env)
            } else {
                format!(
                    "Created environment {} ({}) of app {}.\n",
                    options.env, env.id, options.app
                )
            })
        }
        EnvCommand::Delete { name, yes } => {
            let options = platform_options(app, name);
            confirm(
                &format!(
                    "Delete environment {} of app {} and all its endpoints?",
                    options.env, options.app
                ),
                yes,
            )?;
            let deleted = rt.block_on(manage::env_delete(&options)).map_err(show)?;
            Ok(if as_json {
                json(&deleted)
            } else {
                format!(
                    "Deleted environment {} of app {} (endpoints: {}).\n",
                    options.env,
                    options.app,
                    if deleted.is_empty() {
                        "none".to_owned()
                    } else {
                        endpoint_list(&deleted)
                    }
                )
            })
        }
    }
}

/// `flash app ...`.
pub(crate) fn app(command: AppCommand, as_json: bool) -> ExitCode {
    finish(run_app(command, as_json))
}

fn run_app(command: AppCommand, as_json: bool) -> Result<String, String> {
    let rt = runtime()?;
    let show = |e: DeployError| e.to_string();
    match command {
        AppCommand::List => {
            let options = platform_options(String::new(), String::new());
            let apps = rt.block_on(manage::app_list(&options)).map_err(show)?;
            if as_json {
                return Ok(json(&apps));
            }
            let mut text = String::from("Flash apps:\n");
            for a in &apps {
                let envs: Vec<&str> = a
                    .environments
                    .iter()
                    .filter_map(|e| e.name.as_deref())
                    .collect();
                let _ = writeln!(
                    text,
                    "  {:<20} {}  environments: {}",
                    a.name.as_deref().unwrap_or("-"),
                    a.id,
                    if envs.is_empty() {
                        "none".to_owned()
                    } else {
                        envs.join(", ")
                    }
                );
            }
            Ok(text)
        }
        AppCommand::Get { name } => {
            let options = platform_options(name, String::new());
            let app = rt.block_on(manage::app_get(&options)).map_err(show)?;
            if as_json {
                return Ok(json(&app));
            }
            let mut text = format!("App {} ({})\n  environments:\n", options.app, app.id);
            for e in &app.environments {
                let _ = writeln!(
                    text,
                    "    {:<16} {}  active build={}",
                    e.name.as_deref().unwrap_or("-"),
                    e.id,
                    e.active_build_id.as_deref().unwrap_or("-")
                );
            }
            let _ = writeln!(text, "  builds: {}", app.builds.len());
            Ok(text)
        }
        AppCommand::Create { name } => {
            let options = platform_options(name, String::new());
            let app = rt.block_on(manage::app_create(&options)).map_err(show)?;
            Ok(if as_json {
                json(&app)
            } else {
                format!("Created app {} ({}).\n", options.app, app.id)
            })
        }
        AppCommand::Delete { name, yes } => {
            let options = platform_options(name, String::new());
            confirm(
                &format!(
                    "Delete app {} with all its environments, builds and endpoints?",
                    options.app
                ),
                yes,
            )?;
            let deleted = rt.block_on(manage::app_delete(&options)).map_err(show)?;
            Ok(if as_json {
                json(&deleted)
            } else {
                format!(
                    "Deleted app {} (endpoints: {}).\n",
                    options.app,
                    if deleted.is_empty() {
                        "none".to_owned()
                    } else {
                        endpoint_list(&deleted)
                    }
                )
            })
        }
    }
}
