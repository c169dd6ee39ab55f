//! `flash env list|get|create|delete`.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use flash_cli::manage;

use super::{app_name, confirm, endpoint_list, finish, json, platform_options, project, runtime};
use crate::cli::EnvCommand;

/// `flash env ...`.
pub(crate) fn run(command: EnvCommand, app: Option<String>, as_json: bool) -> ExitCode {
    finish(env(command, app, as_json))
}

fn env(command: EnvCommand, app: Option<String>, as_json: bool) -> Result<String> {
    let app = app_name(app, project().as_ref())?;
    let rt = runtime()?;
    match command {
        EnvCommand::List => {
            let options = platform_options(app, String::new());
            let envs = rt.block_on(manage::env_list(&options))?;
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
            let env = rt.block_on(manage::env_get(&options))?;
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
            let env = rt.block_on(manage::env_create(&options))?;
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
            let deleted = rt.block_on(manage::env_delete(&options))?;
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
