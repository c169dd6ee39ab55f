//! Reading `#[remote(...)]` and the function it is on, with every rule checked and every problem
//! reported at the token that causes it.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, LitStr, Meta, Pat, PatIdent, Path, Token, Type};

use flash_contract::http;

/// A parsed and validated `#[remote]` function.
#[derive(Debug, Clone)]
pub struct RemoteFn {
    /// The function as written, with `#[state]` markers removed.
    pub item: ItemFn,
    /// The path of the `Resource` const the attribute names.
    pub resource: Path,
    /// The load-balanced route, if any.
    pub route: Option<RouteSpec>,
    /// The worker-state parameter, if any.
    pub state: Option<StateParam>,
    /// The other parameters: name and type, in order.
    pub params: Vec<(syn::Ident, Type)>,
    /// The declared return type.
    pub output: Type,
    /// For a streaming function (a plain `fn` returning `impl Stream<Item = ...>`), the item type.
    pub stream_item: Option<Type>,
    /// `crate = "path"`: where the generated code finds runpod-flash when the dependency is
    /// renamed or re-exported (default `::runpod_flash`).
    pub crate_path: Option<Path>,
}

/// A load-balanced route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// Upper-case method.
    pub method: String,
    /// Path, possibly with `{param}` segments.
    pub path: String,
}

/// The `#[state] name: &T` parameter of a stateful function.
#[derive(Debug, Clone)]
pub struct StateParam {
    /// The parameter's name.
    pub name: syn::Ident,
    /// `T`.
    pub ty: Type,
}

/// Collects errors so that every problem is reported in one compile.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let error = syn::Error::new(span, message);
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish<T>(self, value: T) -> Result<T, syn::Error> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// Parses the attribute's arguments and the function it is on.
///
/// # Errors
/// Every problem found, combined, each spanned on the offending token.
pub fn parse_remote(attr: TokenStream, item: TokenStream) -> Result<RemoteFn, syn::Error> {
    let mut item: ItemFn = syn::parse2(item)?;
    let mut errors = Errors::default();
    let attr_span = attr.span();
    let attr_empty = attr.is_empty();

    let options = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(attr)
        .map_err(|error| {
            syn::Error::new(
                error.span(),
                format!("{error}; expected #[remote(RESOURCE)] or #[remote(RESOURCE, method = \"POST\", path = \"/route\")]"),
            )
        })?;
    let mut resource = None;
    let mut method: Option<LitStr> = None;
    let mut path: Option<LitStr> = None;
    let mut crate_path: Option<Path> = None;
    // `method` or `path` given with an invalid value: already reported, so a route with only
    // the other one is not reported again as incomplete.
    let mut invalid_route_option = false;
    for (index, option) in options.iter().enumerate() {
        match option {
            Meta::Path(p) if index == 0 => resource = Some(p.clone()),
            Meta::NameValue(nv) if nv.path.is_ident("resource") => match &nv.value {
                Expr::Path(p) if resource.is_none() => resource = Some(p.path.clone()),
                Expr::Path(p) => errors.push(p.span(), "the resource is given twice"),
                other => errors.push(
                    other.span(),
                    "`resource` takes the path of a `Resource` const",
                ),
            },
            Meta::NameValue(nv) if nv.path.is_ident("method") || nv.path.is_ident("path") => {
                let slot = if nv.path.is_ident("method") {
                    &mut method
                } else {
                    &mut path
                };
                match &nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) if slot.is_none() => *slot = Some(s.clone()),
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => errors.push(s.span(), "given twice"),
                    other => {
                        invalid_route_option = true;
                        errors.push(other.span(), "expected a string literal");
                    }
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("crate") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) if crate_path.is_none() => match s.parse_with(Path::parse_mod_style) {
                    Ok(parsed) => crate_path = Some(parsed),
                    Err(_) => errors.push(
                        s.span(),
                        format!("`crate` takes a path such as \"my_flash\" or \"::deps::runpod_flash\", not \"{}\"", s.value()),
                    ),
                },
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => errors.push(s.span(), "given twice"),
                other => errors.push(
                    other.span(),
                    "`crate` takes a string literal: crate = \"my_flash\"",
                ),
            },
            Meta::NameValue(nv) => errors.push(
                nv.path.span(),
                format!(
                    "unknown option `{}`; #[remote] takes a resource, `method`, `path` and `crate`",
                    path_text(&nv.path)
                ),
            ),
            Meta::Path(p) => errors.push(
                p.span(),
                "unexpected option; the resource comes first: #[remote(RESOURCE, ...)]",
            ),
            Meta::List(list) => errors.push(
                list.path.span(),
                format!("unknown option `{}`", path_text(&list.path)),
            ),
        }
    }
    let resource = match resource {
        Some(resource) => resource,
        None => {
            errors.push(
                if attr_empty { Span::call_site() } else { attr_span },
                "#[remote] needs a resource: #[remote(GPU)] where `const GPU: Resource = Resource::queue(\"name\")...`",
            );
            syn::parse_quote!(__missing_resource)
        }
    };

    let route = if invalid_route_option {
        None
    } else {
        check_route(method.as_ref(), path.as_ref(), &mut errors)
    };

    let sig = &item.sig;
    let stream_item = match &sig.output {
        syn::ReturnType::Type(_, ty) => stream_item(ty, &mut errors),
        syn::ReturnType::Default => None,
    };
    match (&sig.asyncness, &stream_item) {
        (Some(_), None) | (None, Some(_)) => {}
        (None, None) => errors.push(
            sig.fn_token.span,
            "#[remote] functions must be `async fn` (or, to stream results, a plain `fn` returning `impl Stream<Item = Result<T, E>>`)",
        ),
        (Some(asyncness), Some(_)) => errors.push(
            asyncness.span,
            "a streaming #[remote] function is a plain `fn` returning `impl Stream<Item = Result<T, E>>`: remove `async` (the stream does the waiting)",
        ),
    }
    // On the first generic parameter, else on `where`.
    let generic_span = match (sig.generics.params.first(), &sig.generics.where_clause) {
        (Some(param), _) => Some(param.span()),
        (None, Some(where_clause)) => Some(where_clause.where_token.span),
        (None, None) => None,
    };
    if let Some(span) = generic_span {
        errors.push(
            span,
            "#[remote] functions cannot be generic: each one is a fixed wire contract",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic.span(), "#[remote] functions cannot be variadic");
    }
    if let Some(constness) = &sig.constness {
        errors.push(constness.span, "#[remote] functions cannot be `const`");
    }
    let output = match &sig.output {
        syn::ReturnType::Type(_, ty) => (**ty).clone(),
        syn::ReturnType::Default => {
            errors.push(
                sig.ident.span(),
                "#[remote] functions must return `Result<T, E>` (E: runpod_flash::Error<YourError> or runpod_flash::FlashError): a remote call can fail",
            );
            syn::parse_quote!(())
        }
    };

    let mut state = None;
    let mut params = Vec::new();
    // Every plainly named argument, accepted or not: a path parameter naming one that was
    // rejected (`id: &str`) is not reported a second time as matching nothing.
    let mut arg_names = Vec::new();
    for (index, input) in item.sig.inputs.iter_mut().enumerate() {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(receiver.span(), "#[remote] functions cannot take `self`; for per-worker state use a `#[state] name: &YourState` parameter");
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let marked_state = typed.attrs.iter().position(|a| a.path().is_ident("state"));
        if let Some(position) = marked_state {
            typed.attrs.remove(position);
        }
        let name = match &*typed.pat {
            Pat::Ident(PatIdent {
                ident,
                by_ref: None,
                subpat: None,
                ..
            }) => ident.clone(),
            other => {
                errors.push(other.span(), "#[remote] parameters must be plain names: they are the keys of the JSON arguments");
                continue;
            }
        };
        if name.to_string().starts_with("__") {
            errors.push(
                name.span(),
                "parameter names starting with `__` are reserved for the wire protocol",
            );
        }
        if marked_state.is_some() {
            if index != 0 {
                errors.push(name.span(), "the #[state] parameter must come first");
            }
            match &*typed.ty {
                Type::Reference(reference) if reference.mutability.is_none() => {
                    state = Some(StateParam {
                        name,
                        ty: (*reference.elem).clone(),
                    });
                }
                other => errors.push(
                    other.span(),
                    "a #[state] parameter is a shared reference: `name: &YourState`",
                ),
            }
            continue;
        }
        arg_names.push(name.clone());
        if let Type::Reference(reference) = &*typed.ty {
            errors.push(reference.span(), "#[remote] parameters must be owned values (they are decoded from JSON on the remote side); take `String`, not `&str`");
            continue;
        }
        if matches!(&*typed.ty, Type::ImplTrait(_)) {
            errors.push(typed.ty.span(), "#[remote] parameters need concrete types");
            continue;
        }
        params.push((name, (*typed.ty).clone()));
    }

    if let (Some(route), Some(path)) = (&route, &path) {
        for segment in route_params(&route.path) {
            if !arg_names.iter().any(|name| name == segment) {
                errors.push(
                    path.span(),
                    format!("path parameter `{{{segment}}}` matches no argument of the function"),
                );
            }
        }
    }
    errors.finish(RemoteFn {
        item,
        resource,
        route,
        state,
        params,
        output,
        stream_item,
        crate_path,
    })
}

/// The item type of `impl Stream<Item = T>` (any path ending in `Stream`), or `None` when `ty`
/// is not an `impl Trait`. Another `impl Trait` is reported.
fn stream_item(ty: &Type, errors: &mut Errors) -> Option<Type> {
    let Type::ImplTrait(bounds) = ty else {
        return None;
    };
    let item = bounds.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if last.ident != "Stream" {
            return None;
        }
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Item" => {
                Some(assoc.ty.clone())
            }
            _ => None,
        })
    });
    if item.is_none() {
        errors.push(
            ty.span(),
            "a #[remote] function returns `Result<T, E>` (an `async fn`), or `impl Stream<Item = Result<T, E>>` (a streaming `fn`)",
        );
    }
    item
}

fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn check_route(
    method: Option<&LitStr>,
    path: Option<&LitStr>,
    errors: &mut Errors,
) -> Option<RouteSpec> {
    match (method, path) {
        (None, None) => None,
        (Some(method), None) => {
            errors.push(
                method.span(),
                "a load-balanced route needs both `method` and `path`",
            );
            None
        }
        (None, Some(path)) => {
            errors.push(
                path.span(),
                "a load-balanced route needs both `method` and `path`",
            );
            None
        }
        (Some(method_lit), Some(path_lit)) => {
            let method = method_lit.value();
            if !http::is_method(&method) {
                let hint = if http::is_method(&method.to_uppercase()) {
                    format!("; write \"{}\"", method.to_uppercase())
                } else {
                    String::new()
                };
                errors.push(
                    method_lit.span(),
                    format!(
                        "invalid method \"{method}\": expected one of {}{hint}",
                        http::METHODS.join(", ")
                    ),
                );
            }
            let path = path_lit.value();
            if !path.starts_with('/') {
                errors.push(
                    path_lit.span(),
                    format!("invalid path \"{path}\": it must start with `/`"),
                );
            }
            if http::is_reserved(&path) {
                errors.push(path_lit.span(), format!("path \"{path}\" is reserved (`/ping` is the health check; `/execute` is never exposed)"));
            }
            if path
                .chars()
                .any(|c| c.is_whitespace() || c == '?' || c == '#')
            {
                errors.push(
                    path_lit.span(),
                    format!("invalid path \"{path}\": no spaces, `?` or `#`"),
                );
            }
            let mut seen = Vec::new();
            for segment in path.split('/') {
                let opens = segment.matches('{').count();
                let closes = segment.matches('}').count();
                let whole = segment.starts_with('{') && segment.ends_with('}');
                if (opens > 0 || closes > 0) && !(whole && opens == 1 && closes == 1) {
                    errors.push(path_lit.span(), format!("invalid path segment \"{segment}\": a parameter is a whole segment, `{{name}}`"));
                } else if whole {
                    let name = &segment[1..segment.len() - 1];
                    if name.is_empty() {
                        errors.push(path_lit.span(), "empty path parameter `{}`");
                    } else if seen.contains(&name) {
                        errors.push(
                            path_lit.span(),
                            format!("path parameter `{{{name}}}` appears twice"),
                        );
                    }
                    seen.push(name);
                }
            }
            Some(RouteSpec { method, path })
        }
    }
}

/// The names of a path's `{param}` segments.
pub(crate) fn route_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .filter(|name| !name.is_empty())
}
