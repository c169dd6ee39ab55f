//! The manifest's consistency rules.
//!
//! Every problem is reported, not just the first, in document order: resources (each function in
//! turn), then `function_registry`, `routes` and `resources_endpoints`, the order Python Flash
//! writes them in. JSON paths follow the rule in [`json_path`](super::json_path): `.key` for
//! identifiers, `["key"]` otherwise.
//!
//! One mistake should give one problem, so a check stays quiet when an earlier one already
//! covers the cause: a repeated function is reported as a duplicate and not also against the
//! registry, and a function without a route is not also reported against `routes`.

use rustc_hash::{FxHashMap, FxHashSet};

use super::json_path::JsonPath;
use super::{FunctionEntry, Manifest, ResourceConfig};
use crate::error::{ManifestError, ManifestOrigin, ManifestProblem, ManifestRule};
use flash_contract::http::{self, METHODS as HTTP_METHODS, RESERVED_PATHS};

impl Manifest {
    /// Every rule this manifest breaks, in document order; empty when it is valid.
    pub fn problems(&self) -> Vec<ManifestProblem> {
        let mut checker = Checker {
            manifest: self,
            root: JsonPath::root(),
            problems: Vec::new(),
            listed: FxHashMap::default(),
        };
        checker.resources();
        checker.registry();
        checker.routes();
        checker.endpoints();
        checker.problems
    }

    /// Checks every rule.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Invalid`] with all of [`Manifest::problems`] when there are any.
    pub fn validate(&self, origin: &ManifestOrigin) -> Result<(), ManifestError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::Invalid {
                origin: origin.clone(),
                problems,
            })
        }
    }
}

struct Checker<'a> {
    manifest: &'a Manifest,
    root: JsonPath,
    problems: Vec<ManifestProblem>,
    /// Function name to the first resource listing it.
    listed: FxHashMap<&'a str, &'a str>,
}

impl<'a> Checker<'a> {
    fn push(&mut self, rule: ManifestRule, path: JsonPath, message: String) {
        self.problems.push(ManifestProblem {
            json_path: path.into_string(),
            rule,
            message,
        });
    }

    fn resources(&mut self) {
        let resources_path = self.root.key("resources");
        for (resource_name, resource) in &self.manifest.resources {
            let functions_path = resources_path.key(resource_name).key("functions");
            // `METHOD path` to the first function claiming it, within this resource.
            let mut routes: FxHashMap<(&str, &str), &str> = FxHashMap::default();
            for (i, function) in resource.functions.iter().enumerate() {
                let path = functions_path.index(i);
                self.listing(resource_name, function, &path);
                if resource.load_balanced() {
                    self.route(resource_name, function, &path, &mut routes);
                }
            }
        }
    }

    /// Uniqueness of the name, and agreement with `function_registry`.
    fn listing(&mut self, resource: &'a str, function: &'a FunctionEntry, path: &JsonPath) {
        let name = function.name.as_str();
        if let Some(&first) = self.listed.get(name) {
            let message = if first == resource {
                format!("function `{name}` is listed twice under resource `{resource}`")
            } else {
                format!(
                    "function `{name}` is listed under resource `{resource}` and already under \
                     `{first}`; function names are global across the app"
                )
            };
            self.push(ManifestRule::DuplicateFunction, path.key("name"), message);
            return;
        }
        self.listed.insert(name, resource);
        match self.manifest.function_registry.get(name) {
            None => self.push(
                ManifestRule::FunctionNotInRegistry,
                path.key("name"),
                format!(
                    "function `{name}` of resource `{resource}` is missing from function_registry"
                ),
            ),
            Some(owner) if owner != resource => self.push(
                ManifestRule::FunctionNotInRegistry,
                path.key("name"),
                format!(
                    "function `{name}` is listed under resource `{resource}`, but \
                     function_registry assigns it to `{owner}`"
                ),
            ),
            Some(_) => {}
        }
    }

    /// The HTTP route of a function of a load-balanced resource.
    fn route(
        &mut self,
        resource: &str,
        function: &'a FunctionEntry,
        path: &JsonPath,
        routes: &mut FxHashMap<(&'a str, &'a str), &'a str>,
    ) {
        let name = function.name.as_str();
        let method = function.http_method.as_deref();
        let http_path = function.http_path.as_deref();
        let missing = match (method, http_path) {
            (None, None) => Some("http_method and http_path"),
            (None, Some(_)) => Some("http_method"),
            (Some(_), None) => Some("http_path"),
            (Some(_), Some(_)) => None,
        };
        if let Some(missing) = missing {
            self.push(
                ManifestRule::MissingRoute,
                path.clone(),
                format!(
                    "function `{name}` of load-balanced resource `{resource}` has no {missing}"
                ),
            );
        }
        if let Some(method) = method
            && !http::is_method(method)
        {
            let upper = method.to_ascii_uppercase();
            let hint = if http::is_method(&upper) {
                format!(" (methods are written in upper case: `{upper}`)")
            } else {
                String::new()
            };
            self.push(
                ManifestRule::InvalidMethod,
                path.key("http_method"),
                format!(
                    "function `{name}` of resource `{resource}` has http_method `{method}`, \
                     expected one of {}{hint}",
                    HTTP_METHODS.join(", ")
                ),
            );
        }
        if let Some(http_path) = http_path {
            let route = format!("{} {http_path}", method.unwrap_or("<no method>"));
            if let Some(reason) = path_problem(http_path) {
                self.push(
                    ManifestRule::InvalidPath,
                    path.key("http_path"),
                    format!(
                        "function `{name}` of resource `{resource}` has http_path `{http_path}`, \
                         which {reason}"
                    ),
                );
            } else if http::is_reserved(http_path) {
                self.push(
                    ManifestRule::ReservedPath,
                    path.key("http_path"),
                    format!(
                        "function `{name}` of resource `{resource}` claims `{route}`, but {} are \
                         reserved for the worker runtime",
                        RESERVED_PATHS.join(" and ")
                    ),
                );
            }
        }
        if let (Some(method), Some(http_path)) = (method, http_path) {
            if let Some(first) = routes.get(&(method, http_path)) {
                self.push(
                    ManifestRule::DuplicateRoute,
                    path.key("http_path"),
                    format!(
                        "functions `{first}` and `{name}` of resource `{resource}` both claim \
                         `{method} {http_path}`"
                    ),
                );
            } else {
                routes.insert((method, http_path), name);
            }
        }
    }

    /// Every `function_registry` entry points at a resource that lists the function.
    fn registry(&mut self) {
        let registry_path = self.root.key("function_registry");
        for (name, owner) in &self.manifest.function_registry {
            let path = registry_path.key(name);
            match self.manifest.resources.get(owner) {
                None => self.push(
                    ManifestRule::RegistryUnknownResource,
                    path,
                    format!(
                        "function_registry assigns `{name}` to resource `{owner}`, which is \
                         not defined in `resources`"
                    ),
                ),
                // Listed elsewhere: already reported at that listing.
                Some(resource)
                    if resource.function(name).is_none()
                        && !self.listed.contains_key(name.as_str()) =>
                {
                    self.push(
                        ManifestRule::RegistryFunctionNotInResource,
                        path,
                        format!(
                            "function_registry assigns `{name}` to resource `{owner}`, which \
                             does not list it"
                        ),
                    );
                }
                Some(_) => {}
            }
        }
    }

    /// `routes`, when present, says exactly what the load-balanced functions declare.
    fn routes(&mut self) {
        let Some(routes) = &self.manifest.routes else {
            return;
        };
        let routes_path = self.root.key("routes");
        for (resource_name, resource) in &self.manifest.resources {
            if resource.load_balanced() && !routes.contains_key(resource_name) {
                for (route, function) in declared_routes(resource) {
                    self.push(
                        ManifestRule::RoutesMismatch,
                        routes_path.clone(),
                        format!(
                            "routes has no table for load-balanced resource `{resource_name}`, \
                             which declares `{route}` -> `{function}`"
                        ),
                    );
                }
            }
        }
        for (resource_name, table) in routes {
            let table_path = routes_path.key(resource_name);
            let Some(resource) = self.manifest.resources.get(resource_name) else {
                self.push(
                    ManifestRule::RoutesMismatch,
                    table_path,
                    format!(
                        "routes has a table for resource `{resource_name}`, which is not \
                         defined in `resources`"
                    ),
                );
                continue;
            };
            if !resource.load_balanced() {
                self.push(
                    ManifestRule::RoutesMismatch,
                    table_path,
                    format!(
                        "routes has a table for resource `{resource_name}`, which is not \
                         load-balanced"
                    ),
                );
                continue;
            }
            for (route, name) in table {
                if let Some(message) = route_entry_problem(resource_name, resource, route, name) {
                    self.push(ManifestRule::RoutesMismatch, table_path.key(route), message);
                }
            }
            for (route, function) in declared_routes(resource) {
                if table.get(&route).map(String::as_str) != Some(function) {
                    self.push(
                        ManifestRule::RoutesMismatch,
                        table_path.clone(),
                        format!(
                            "routes of resource `{resource_name}` lacks `{route}` -> \
                             `{function}`, which function `{function}` declares"
                        ),
                    );
                }
            }
        }
    }

    /// `resources_endpoints`, when present, maps defined resources to http(s) URLs.
    fn endpoints(&mut self) {
        let Some(endpoints) = &self.manifest.resources_endpoints else {
            return;
        };
        let endpoints_path = self.root.key("resources_endpoints");
        for (resource, url) in endpoints {
            let path = endpoints_path.key(resource);
            if !self.manifest.resources.contains_key(resource) {
                self.push(
                    ManifestRule::InvalidEndpoint,
                    path.clone(),
                    format!(
                        "resources_endpoints has a URL for resource `{resource}`, which is \
                         not defined in `resources`"
                    ),
                );
            }
            if let Some(reason) = url_problem(url) {
                self.push(
                    ManifestRule::InvalidEndpoint,
                    path,
                    format!("endpoint URL `{url}` of resource `{resource}` {reason}"),
                );
            }
        }
    }
}

/// `"METHOD /path"` and function name of each routed function of a resource, first claimant of
/// each route only (later ones are duplicates, reported as such).
fn declared_routes(resource: &ResourceConfig) -> Vec<(String, &str)> {
    let mut seen = FxHashSet::default();
    resource
        .functions
        .iter()
        .filter_map(|f| {
            let route = format!("{} {}", f.http_method.as_deref()?, f.http_path.as_deref()?);
            seen.insert(route.clone())
                .then_some((route, f.name.as_str()))
        })
        .collect()
}

fn route_entry_problem(
    resource_name: &str,
    resource: &ResourceConfig,
    route: &str,
    name: &str,
) -> Option<String> {
    if route.split_once(' ').is_none() {
        return Some(format!(
            "route `{route}` -> `{name}` of resource `{resource_name}` is not of the form \
             `METHOD /path`"
        ));
    }
    let Some(function) = resource.function(name) else {
        return Some(format!(
            "route `{route}` of resource `{resource_name}` points at function `{name}`, which \
             the resource does not list"
        ));
    };
    // A function without a method or path is reported as a missing route.
    let declared = format!(
        "{} {}",
        function.http_method.as_deref()?,
        function.http_path.as_deref()?
    );
    (declared != route).then(|| {
        format!(
            "route `{route}` of resource `{resource_name}` points at function `{name}`, which \
             declares `{declared}`"
        )
    })
}

/// Why `path` cannot be an HTTP route path, if it cannot.
fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some("does not start with `/`".to_owned());
    }
    path.chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        .map(|c| format!("contains {c:?}, which cannot appear in a route path"))
}

/// Why `url` cannot be an endpoint URL, if it cannot.
fn url_problem(url: &str) -> Option<&'static str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Some("is not an http:// or https:// URL");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains whitespace or control characters");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    host.is_empty().then_some("has no host")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path_problem("/a/{id}"), None);
        assert!(path_problem("a").unwrap().contains("`/`"));
        assert!(path_problem("").is_some());
        assert!(path_problem("/a b").is_some());
        assert!(path_problem("/a?x=1").is_some());
        assert!(
            http::is_reserved("/ping")
                && http::is_reserved("/execute/")
                && !http::is_reserved("/pings")
        );
    }

    #[test]
    fn urls() {
        assert_eq!(url_problem("https://abc.api.runpod.ai"), None);
        assert_eq!(url_problem("http://localhost:8080/v2/x"), None);
        assert_eq!(url_problem("HTTPS://abc.api.runpod.ai"), None);
        assert!(url_problem("ftp://x").is_some());
        assert!(url_problem("abc.api.runpod.ai").is_some());
        assert!(url_problem("https://").is_some());
        assert!(url_problem("https:///x").is_some());
        assert!(url_problem("https://a b").is_some());
        assert!(url_problem("héllo").is_some());
        assert!(url_problem("").is_some());
    }

    #[test]
    fn empty_manifest_is_valid() {
        assert!(Manifest::default().problems().is_empty());
        assert!(
            Manifest::default()
                .validate(&ManifestOrigin::Inline)
                .is_ok()
        );
    }

    #[test]
    fn function_registered_to_another_resource_is_reported_once() {
        let text = r#"{
            "resources": {
                "a": {"functions": [{"name": "f"}]},
                "b": {"functions": []}
            },
            "function_registry": {"f": "b"}
        }"#;
        let problems = Manifest::from_json_str(text, ManifestOrigin::Inline)
            .unwrap()
            .problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].rule, ManifestRule::FunctionNotInRegistry);
        assert_eq!(problems[0].json_path, "$.resources.a.functions[0].name");
        assert!(problems[0].message.contains("`b`"));
    }

    #[test]
    fn lb_resource_without_a_routes_table() {
        let text = r#"{
            "resources": {"api": {"is_load_balanced": true, "functions": [
                {"name": "f", "http_method": "GET", "http_path": "/f"}]}},
            "function_registry": {"f": "api"},
            "routes": {}
        }"#;
        let problems = Manifest::from_json_str(text, ManifestOrigin::Inline)
            .unwrap()
            .problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].rule, ManifestRule::RoutesMismatch);
        assert_eq!(problems[0].json_path, "$.routes");
    }
}
