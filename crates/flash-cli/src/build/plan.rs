//! From the compiled functions and the scanned sources to the manifest.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use runpod_flash::manifest::{FunctionEntry, Manifest, ResourceConfig};
use serde_json::{Map, Value};

use super::describe::DescribedFn;
use super::scan::RemoteSite;
use super::{BuildError, Located, Site};

/// Compares the binary's functions with the sources' and returns where each compiled function
/// is defined (the source site, else what the binary says).
///
/// A source function missing from the binary is an error, unless a `#[cfg]` applies to it (a
/// warning then); a compiled function missing from `src/` comes from a dependency (a warning).
pub(crate) fn cross_check(
    described: &[DescribedFn],
    remotes: &[RemoteSite],
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, Site>, BuildError> {
    let mut missing = Vec::new();
    for remote in remotes {
        if described.iter().any(|f| f.name == remote.name) {
            continue;
        }
        if remote.cfg_gated {
            warnings.push(format!(
                "{}:{}: #[remote] function `{}` is not in the binary (a #[cfg] leaves it out)",
                remote.file, remote.line, remote.name
            ));
        } else {
            missing.push(Located {
                file: remote.file.clone(),
                line: remote.line,
                message: format!(
                    "#[remote] function `{}` is not in the built binary",
                    remote.name
                ),
            });
        }
    }
    if !missing.is_empty() {
        return Err(BuildError::NotCompiled { functions: missing });
    }
    let mut sites = BTreeMap::new();
    for function in described {
        let candidates: Vec<&RemoteSite> =
            remotes.iter().filter(|r| r.name == function.name).collect();
        let site = candidates
            .iter()
            .find(|r| r.line == function.line && function.file.ends_with(&r.file))
            .or_else(|| candidates.first())
            .map(|r| Site {
                function: r.name.clone(),
                file: r.file.clone(),
                line: r.line,
            });
        let site = site.unwrap_or_else(|| {
            warnings.push(format!(
                "{}:{}: compiled #[remote] function `{}` is not in this package's src/ (it comes from a dependency)",
                function.file, function.line, function.name
            ));
            Site {
                function: function.name.clone(),
                file: function.file.clone(),
                line: function.line,
            }
        });
        sites.insert(function.name.clone(), site);
    }
    Ok(sites)
}

/// Everything [`assemble`] needs.
pub(crate) struct Inputs<'a> {
    pub(crate) described: &'a [DescribedFn],
    pub(crate) sites: &'a BTreeMap<String, Site>,
    pub(crate) remote_calls: &'a BTreeMap<String, bool>,
    pub(crate) project_name: &'a str,
    pub(crate) binary_name: &'a str,
    pub(crate) generated_at: String,
    pub(crate) source_fingerprint: String,
    /// The target triple of the executable.
    pub(crate) target: &'a str,
}

/// The manifest: resources sorted by name, functions in source order, validated.
pub(crate) fn assemble(inputs: &Inputs<'_>) -> Result<Manifest, BuildError> {
    let site = |f: &DescribedFn| {
        inputs.sites.get(&f.name).cloned().unwrap_or_else(|| Site {
            function: f.name.clone(),
            file: f.file.clone(),
            line: f.line,
        })
    };
    let mut by_resource: BTreeMap<&str, Vec<&DescribedFn>> = BTreeMap::new();
    for function in inputs.described {
        by_resource
            .entry(&function.resource)
            .or_default()
            .push(function);
    }
    let mut resources = IndexMap::new();
    let mut registry = IndexMap::new();
    let mut routes = IndexMap::new();
    let mut problems = Vec::new();
    for (resource, mut functions) in by_resource {
        functions.sort_by_key(|f| {
            let s = site(f);
            (s.file, s.line, f.name.clone())
        });
        let first = functions[0];
        for other in &functions[1..] {
            if other.resource_config != first.resource_config {
                return Err(BuildError::Conflict {
                    resource: resource.to_owned(),
                    first: site(first),
                    second: site(other),
                    field: first_difference(&first.resource_config, &other.resource_config),
                });
            }
        }
        let mut config: ResourceConfig = serde_json::from_value(first.resource_config.clone())
            .map_err(|e| BuildError::Invalid {
                problems: vec![format!(
                    "resource `{resource}` of {}: the binary's resource config does not parse: {e}",
                    site(first)
                )],
            })?;
        for problem in &first.resource_problems {
            let s = site(first);
            problems.push(format!("{}:{}: {problem}", s.file, s.line));
        }
        let lb = config.load_balanced();
        let mut resource_routes = IndexMap::new();
        config.functions = functions
            .iter()
            .map(|f| {
                let mut extra = Map::new();
                if let Some(state) = &f.state {
                    extra.insert("state".to_owned(), Value::String(state.clone()));
                }
                registry.insert(f.name.clone(), resource.to_owned());
                if lb && let (Some(method), Some(path)) = (&f.http_method, &f.http_path) {
                    resource_routes.insert(format!("{method} {path}"), f.name.clone());
                }
                FunctionEntry {
                    name: f.name.clone(),
                    module: Some(f.module.clone()),
                    is_async: Some(true),
                    is_class: Some(false),
                    class_methods: None,
                    http_method: if lb { f.http_method.clone() } else { None },
                    http_path: if lb { f.http_path.clone() } else { None },
                    extra,
                }
            })
            .collect();
        // Unknown counts as "makes calls", the safe side.
        config.makes_remote_calls =
            Some(inputs.remote_calls.get(resource).copied().unwrap_or(true));
        config.file_path = Some(site(first).file);
        config.module_path = Some(first.module.clone());
        if lb {
            routes.insert(resource.to_owned(), resource_routes);
        }
        resources.insert(resource.to_owned(), config);
    }
    let mut extra = Map::new();
    extra.insert(
        "entrypoint".to_owned(),
        Value::String(format!("bin/{}", inputs.binary_name)),
    );
    extra.insert("runtime".to_owned(), Value::String("rust".to_owned()));
    let manifest = Manifest {
        version: Some("1.0".to_owned()),
        python_version: None,
        generated_at: Some(inputs.generated_at.clone()),
        project_name: Some(inputs.project_name.to_owned()),
        resources,
        function_registry: registry,
        routes: (!routes.is_empty()).then_some(routes),
        source_fingerprint: Some(inputs.source_fingerprint.clone()),
        target: Some(inputs.target.to_owned()),
        resources_endpoints: None,
        extra,
    };
    if manifest.resources.is_empty() {
        problems.push("the binary has no #[remote] function: nothing to deploy".to_owned());
    }
    problems.extend(manifest.problems().iter().map(ToString::to_string));
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(BuildError::Invalid { problems })
    }
}

/// The first key whose value differs between two resource configs.
fn first_difference(a: &Value, b: &Value) -> String {
    if let (Value::Object(a), Value::Object(b)) = (a, b) {
        for key in a.keys().chain(b.keys()) {
            if a.get(key) != b.get(key) {
                return key.clone();
            }
        }
    }
    "(the whole config)".to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn described(name: &str, resource: &str, line: u32, config: &Value) -> DescribedFn {
        serde_json::from_value(json!({
            "name": name, "module": "app", "file": "src/main.rs", "line": line,
            "resource": resource, "resource_config": config,
        }))
        .expect("valid")
    }

    #[test]
    fn conflicting_configs_name_both_functions() {
        let fns = [
            described(
                "a",
                "gpu",
                5,
                &json!({"workersMax": 1, "is_load_balanced": false}),
            ),
            described(
                "b",
                "gpu",
                9,
                &json!({"workersMax": 3, "is_load_balanced": false}),
            ),
        ];
        let mut warnings = Vec::new();
        let sites = cross_check(&fns, &[], &mut warnings).expect("no sources to miss");
        let err = assemble(&Inputs {
            described: &fns,
            sites: &sites,
            remote_calls: &BTreeMap::new(),
            project_name: "p",
            binary_name: "p",
            generated_at: "1970-01-01T00:00:00Z".into(),
            source_fingerprint: "0".into(),
            target: "x86_64-unknown-linux-gnu",
        })
        .expect_err("conflict");
        let text = err.to_string();
        assert!(text.contains("conflicting options among functions of one resource `gpu`"));
        assert!(
            text.contains("`a` (src/main.rs:5)") && text.contains("`b` (src/main.rs:9)"),
            "{text}"
        );
        assert!(text.contains("workersMax"), "{text}");
        assert_eq!(
            warnings.len(),
            2,
            "both come from outside src/ here: {warnings:?}"
        );
    }
}
