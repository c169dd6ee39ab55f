//! Which resources call other resources: a call graph over the crate's sources, by name.
//!
//! Every function body (free functions, methods, trait default methods, nested functions) is
//! recorded under its name with the names it uses: callees of calls (last path segment), method
//! names, paths used as values (`.map(helper)`), and `name(` inside macro invocations. Names are
//! not resolved: two functions with one name share their callees, and a method called like a
//! `#[remote]` function counts as a call to it. That errs towards `makes_remote_calls = true`,
//! the safe side (a resource wrongly marked false would lose its API key and fail its calls).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// Function name to the names each of its bodies uses.
#[derive(Debug, Default)]
pub(crate) struct CallGraph {
    uses: BTreeMap<String, BTreeSet<String>>,
}

impl CallGraph {
    /// The graph of every function in `files`.
    pub(crate) fn from_files<'a>(files: impl IntoIterator<Item = &'a syn::File>) -> Self {
        let mut collector = Functions::default();
        for file in files {
            collector.visit_file(file);
        }
        Self {
            uses: collector.uses,
        }
    }

    /// Names used by the bodies of the functions called `name`.
    pub(crate) fn uses(&self, name: &str) -> impl Iterator<Item = &str> {
        self.uses
            .get(name)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// Per resource: whether any of its functions calls, directly or through local functions, a
/// `#[remote]` function of another resource. `resource_of` maps each `#[remote]` function to its
/// resource.
pub(crate) fn makes_remote_calls(
    graph: &CallGraph,
    resource_of: &BTreeMap<String, String>,
) -> BTreeMap<String, bool> {
    let mut result: BTreeMap<String, bool> =
        resource_of.values().map(|r| (r.clone(), false)).collect();
    for (function, resource) in resource_of {
        if result.get(resource) == Some(&true) {
            continue;
        }
        if calls_other_resource(graph, function, resource, resource_of) {
            result.insert(resource.clone(), true);
        }
    }
    result
}

/// Breadth-first from `start`'s bodies: another resource's `#[remote]` function ends the search
/// (its body runs elsewhere); anything else (a helper, or a function of the same resource, which
/// runs locally) is followed.
fn calls_other_resource(
    graph: &CallGraph,
    start: &str,
    resource: &str,
    resource_of: &BTreeMap<String, String>,
) -> bool {
    let mut seen = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(function) = queue.pop_front() {
        for used in graph.uses(function) {
            if resource_of.get(used).is_some_and(|r| r != resource) {
                return true;
            }
            if seen.insert(used) {
                queue.push_back(used);
            }
        }
    }
    false
}

/// Records every function body under its name.
#[derive(Default)]
struct Functions {
    uses: BTreeMap<String, BTreeSet<String>>,
}

impl Functions {
    fn record(&mut self, name: &syn::Ident, block: &syn::Block) {
        let mut names = Names::default();
        names.visit_block(block);
        self.uses
            .entry(name.to_string())
            .or_default()
            .extend(names.0);
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, node: &'ast syn::ItemFn) {
        self.record(&node.sig.ident, &node.block);
        visit::visit_item_fn(self, node);
    }

    fn visit_impl_item_fn(&mut self, node: &'ast syn::ImplItemFn) {
        self.record(&node.sig.ident, &node.block);
        visit::visit_impl_item_fn(self, node);
    }

    fn visit_trait_item_fn(&mut self, node: &'ast syn::TraitItemFn) {
        if let Some(block) = &node.default {
            self.record(&node.sig.ident, block);
        }
        visit::visit_trait_item_fn(self, node);
    }
}

/// The names one body uses.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl<'ast> Visit<'ast> for Names {
    fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
        // Callees (`f(x)`, `module::f(x)`, `Type::f(x)`) and functions used as values.
        if let Some(last) = node.path.segments.last() {
            self.0.insert(last.ident.to_string());
        }
        visit::visit_expr_path(self, node);
    }

    fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
        self.0.insert(node.method.to_string());
        visit::visit_expr_method_call(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        calls_in_tokens(node.tokens.clone(), &mut self.0);
        visit::visit_macro(self, node);
    }
}

/// `name(` anywhere in a macro's tokens, at any depth.
fn calls_in_tokens(tokens: TokenStream, names: &mut BTreeSet<String>) {
    let mut previous: Option<String> = None;
    for tree in tokens {
        match tree {
            TokenTree::Group(group) => {
                if group.delimiter() == Delimiter::Parenthesis
                    && let Some(name) = previous.take()
                {
                    names.insert(name);
                }
                calls_in_tokens(group.stream(), names);
            }
            TokenTree::Ident(ident) => previous = Some(ident.to_string()),
            TokenTree::Punct(_) | TokenTree::Literal(_) => previous = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(source: &str) -> CallGraph {
        let file = syn::parse_file(source).expect("test source parses");
        CallGraph::from_files([&file])
    }

    fn resources(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(f, r)| ((*f).to_owned(), (*r).to_owned()))
            .collect()
    }

    const APP: &str = r#"
        #[remote(GPU)] async fn embed(t: String) -> R { Ok(model().infer(t)) }
        #[remote(GPU)] async fn embed_many(ts: Vec<String>) -> R {
            let mut out = vec![];
            for t in ts { out.push(embed(t).await?); } // same resource: a local call
            Ok(out)
        }
        #[remote(CPU)] async fn tokenize(t: String) -> R { Ok(split(&t)) }
        #[remote(CPU)] async fn preprocess(t: String) -> R { Ok(helpers::clean(t)) }
        #[remote(API, method = "POST", path = "/go")] async fn go(t: String) -> R {
            pipeline(t).await
        }
        #[remote(API, method = "GET", path = "/health")] async fn health() -> R { Ok(()) }
        #[remote(LOG)] async fn log_it(t: String) -> R {
            tracing::info!("{}", format!("{:?}", tokenize(t.clone())));
            Ok(())
        }
        #[remote(MAP)] async fn mapped(ts: Vec<String>) -> R {
            Ok(ts.into_iter().map(preprocess).collect())
        }
        async fn pipeline(t: String) -> R { let s = Stage; s.execute(t).await }
        struct Stage;
        impl Stage {
            async fn execute(&self, t: String) -> R { let toks = tokenize(t).await?; Ok(toks) }
        }
        fn split(t: &str) -> Vec<String> { t.split(' ').map(str::to_owned).collect() }
        fn model() -> Model { Model }
        mod helpers { pub fn clean(t: String) -> String { t } }
    "#;

    fn app_resources() -> BTreeMap<String, String> {
        resources(&[
            ("embed", "gpu"),
            ("embed_many", "gpu"),
            ("tokenize", "cpu"),
            ("preprocess", "cpu"),
            ("go", "api"),
            ("health", "api"),
            ("log_it", "log"),
            ("mapped", "map"),
        ])
    }

    #[test]
    fn transitive_calls_through_helpers_and_methods() {
        let result = makes_remote_calls(&graph(APP), &app_resources());
        assert!(
            result["api"],
            "go -> pipeline -> Stage::execute -> tokenize"
        );
        assert!(!result["gpu"], "embed_many calls embed of its own resource");
        assert!(!result["cpu"]);
        assert!(result["log"], "a call inside nested macros");
        assert!(result["map"], "a remote function passed as a value");
    }

    #[test]
    fn name_collisions_count_as_calls() {
        let source = r#"
            #[remote(GPU)] async fn embed(t: String) -> R { Ok(t) }
            #[remote(CPU)] async fn work(c: Client) -> R { c.embed() }
        "#;
        let result = makes_remote_calls(
            &graph(source),
            &resources(&[("embed", "gpu"), ("work", "cpu")]),
        );
        assert!(result["cpu"]);
        assert!(!result["gpu"]);
    }

    #[test]
    fn recursion_terminates() {
        let source = r#"
            #[remote(A)] async fn a() -> R { ping() }
            fn ping() { pong() }
            fn pong() { ping() }
        "#;
        let result = makes_remote_calls(&graph(source), &resources(&[("a", "a")]));
        assert!(!result["a"]);
    }

    #[test]
    fn records_uses_per_function() {
        let g = graph("fn f() { g(); x.h(); m!(k(1)); let v = std::mem::take; }");
        let uses: Vec<_> = g.uses("f").collect();
        for name in ["g", "h", "k", "take"] {
            assert!(uses.contains(&name), "{name} in {uses:?}");
        }
    }
}
