//! `flash app list|get|create|delete`.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use flash_cli::manage;

use super::{confirm, endpoint_list, finish, json, platform_options, runtime};
use crate::cli::AppCommand;

/// `flash app ...`.
pub(crate) fn run(command: AppCommand, as_json: bool) -> ExitCode {
    finish(app(command, as_json))
}

fn app(command: AppCommand, as_json: bool) -> Result<String> {
    let rt = runtime()?;
    match command {
        AppCommand::List => {
            let options = platform_options(String::new(), String::new());
            let apps = rt.block_on(manage::app_list(&options))?;
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
            let app = rt.block_on(manage::app_get(&options))?;
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
            let app = rt.block_on(manage::app_create(&options))?;
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
            let deleted = rt.block_on(manage::app_delete(&options))?;
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
