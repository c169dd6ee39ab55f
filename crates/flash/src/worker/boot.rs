//! The start-up check: the manifest and the compiled functions must agree for this resource.

use std::fmt;

use super::dispatch::FunctionTable;
use crate::manifest::Manifest;

/// The manifest and the compiled functions disagree, or a required program is missing; every
/// difference is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootError {
    /// The resource this worker serves.
    pub resource: String,
    /// One sentence per difference.
    pub differences: Vec<String>,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this worker cannot serve resource `{}` (rebuild and redeploy, or fix the worker image):",
            self.resource
        )?;
        for difference in &self.differences {
            write!(f, "\n  - {difference}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BootError {}

/// Compares the manifest's entry for `resource` with the compiled functions. Without a manifest
/// only the compiled side is checked (it must serve something).
///
/// # Errors
/// [`BootError`] listing every difference.
pub fn check_boot(
    resource: &str,
    manifest: Option<&Manifest>,
    table: &FunctionTable,
) -> Result<(), BootError> {
    let mut differences = Vec::new();
    if table.functions().is_empty() {
        differences.push(format!(
            "no #[remote] function of this binary belongs to resource `{resource}`"
        ));
    }
    if let Some(manifest) = manifest {
        match manifest.resources.get(resource) {
            None => differences.push(format!("the manifest has no resource `{resource}`")),
            Some(entry) => {
                for listed in &entry.functions {
                    match table.get(&listed.name) {
                        None => differences.push(format!(
                            "`{}` is in the manifest but not compiled into this binary",
                            listed.name
                        )),
                        Some(meta) => {
                            let compiled = meta
                                .route
                                .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()));
                            let declared = listed.http_method.clone().zip(listed.http_path.clone());
                            if entry.load_balanced() && compiled != declared {
                                differences.push(format!(
                                    "`{}` has route {} in the manifest but {} in this binary",
                                    listed.name,
                                    show_route(declared.as_ref()),
                                    show_route(compiled.as_ref())
                                ));
                            }
                        }
                    }
                }
                for meta in table.functions() {
                    if entry.function(meta.name).is_none() {
                        differences.push(format!(
                            "`{}` is compiled into this binary but not in the manifest",
                            meta.name
                        ));
                    }
                }
                let compiled_lb = table
                    .functions()
                    .first()
                    .map(|m| m.resource.is_load_balanced());
                if let Some(compiled_lb) = compiled_lb
                    && compiled_lb != entry.load_balanced()
                {
                    let kind = |lb: bool| if lb { "load-balanced" } else { "queue" };
                    differences.push(format!(
                        "the manifest says {}, this binary says {}",
                        kind(entry.load_balanced()),
                        kind(compiled_lb)
                    ));
                }
            }
        }
    }
    let programs = manifest
        .and_then(|m| m.resources.get(resource))
        .and_then(|r| r.system_dependencies.clone())
        .or_else(|| {
            table.functions().first().map(|meta| {
                meta.resource
                    .required_programs()
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect()
            })
        })
        .unwrap_or_default();
    for program in programs {
        if find_program(&program).is_none() {
            differences.push(format!(
                "system dependency `{program}` is not installed on this worker (not found on PATH)"
            ));
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(BootError {
            resource: resource.to_owned(),
            differences,
        })
    }
}

/// The first `program` on `PATH` (or `program` itself when it is a path), if any.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        let path = std::path::PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

fn show_route(route: Option<&(String, String)>) -> String {
    route.map_or_else(
        || "none".to_owned(),
        |(method, path)| format!("{method} {path}"),
    )
}
