//! `parse_remote`: options, routes, parameters, and every problem reported at once.

use flash_codegen::parse_remote;
use flash_contract::http::{METHODS as HTTP_METHODS, RESERVED_PATHS};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

fn parse_ok(attr: TokenStream, item: TokenStream) -> flash_codegen::RemoteFn {
    match parse_remote(attr, item) {
        Ok(remote) => remote,
        Err(error) => panic!("unexpected error: {error}"),
    }
}

/// Every message, in order.
fn errors(attr: TokenStream, item: TokenStream) -> Vec<String> {
    match parse_remote(attr, item) {
        Ok(_) => panic!("expected errors"),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    }
}

fn text(tokens: impl ToTokens) -> String {
    tokens.to_token_stream().to_string()
}

fn simple_fn() -> TokenStream {
    quote!(
        async fn f(id: u64, name: String) -> Result<(), FlashError> {
            Ok(())
        }
    )
}

#[test]
fn queue_function_parts() {
    let remote = parse_ok(
        quote!(crate::GPU),
        quote!(
            pub async fn infer(prompt: String, mut n: u32) -> Result<Vec<String>, FlashError> {
                todo!()
            }
        ),
    );
    assert_eq!(text(&remote.resource), "crate :: GPU");
    assert!(remote.route.is_none());
    assert!(remote.state.is_none());
    let params: Vec<_> = remote
        .params
        .iter()
        .map(|(name, ty)| (name.to_string(), text(ty)))
        .collect();
    assert_eq!(
        params,
        [
            ("prompt".into(), "String".into()),
            ("n".into(), "u32".into())
        ]
    );
    assert_eq!(
        text(&remote.output),
        "Result < Vec < String > , FlashError >"
    );
}

#[test]
fn resource_may_be_named() {
    let remote = parse_ok(
        quote!(resource = API, method = "GET", path = "/x/{id}"),
        simple_fn(),
    );
    assert_eq!(text(&remote.resource), "API");
}

#[test]
fn routes_are_parsed() {
    for method in HTTP_METHODS {
        let remote = parse_ok(
            quote!(API, method = #method, path = "/items/{id}"),
            simple_fn(),
        );
        let route = remote.route.expect("a route");
        assert_eq!(route.method, method);
        assert_eq!(route.path, "/items/{id}");
    }
    let remote = parse_ok(
        quote!(API, path = "/users/{name}/items/{id}/", method = "PATCH"),
        simple_fn(),
    );
    let route = remote.route.expect("a route");
    assert_eq!(
        (route.method.as_str(), route.path.as_str()),
        ("PATCH", "/users/{name}/items/{id}/")
    );
}

#[test]
fn route_problems() {
    let cases: &[(TokenStream, &str)] = &[
        (
            quote!(API, method = "FETCH", path = "/x"),
            "invalid method \"FETCH\": expected one of GET, POST, PUT, PATCH, DELETE",
        ),
        (
            quote!(API, method = "get", path = "/x"),
            "invalid method \"get\": expected one of GET, POST, PUT, PATCH, DELETE; write \"GET\"",
        ),
        (
            quote!(API, method = "GET"),
            "a load-balanced route needs both `method` and `path`",
        ),
        (
            quote!(API, path = "/x"),
            "a load-balanced route needs both `method` and `path`",
        ),
        (
            quote!(API, method = "GET", path = "x"),
            "invalid path \"x\": it must start with `/`",
        ),
        (
            quote!(API, method = "GET", path = "/a b"),
            "invalid path \"/a b\": no spaces, `?` or `#`",
        ),
        (
            quote!(API, method = "GET", path = "/x?y=1"),
            "invalid path \"/x?y=1\": no spaces, `?` or `#`",
        ),
        (
            quote!(API, method = "GET", path = "/item-{id}"),
            "invalid path segment \"item-{id}\": a parameter is a whole segment, `{name}`",
        ),
        (
            quote!(API, method = "GET", path = "/x/{}"),
            "empty path parameter `{}`",
        ),
        (
            quote!(API, method = "GET", path = "/{id}/{id}"),
            "path parameter `{id}` appears twice",
        ),
        (
            quote!(API, method = "GET", path = "/items/{other}"),
            "path parameter `{other}` matches no argument of the function",
        ),
        (
            quote!(API, method = 1, path = "/x"),
            "expected a string literal",
        ),
        (
            quote!(API, method = "GET", method = "POST", path = "/x"),
            "given twice",
        ),
    ];
    for (attr, expected) in cases {
        assert_eq!(errors(attr.clone(), simple_fn()), [*expected], "for {attr}");
    }
    for reserved in RESERVED_PATHS {
        let messages = errors(quote!(API, method = "POST", path = #reserved), simple_fn());
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].starts_with(&format!("path \"{reserved}\" is reserved")),
            "{messages:?}"
        );
    }
}

#[test]
fn problems_are_not_reported_twice() {
    // An invalid `method` is not also reported as a route without a method.
    assert_eq!(
        errors(quote!(API, path = "/x", method = GET), simple_fn()),
        ["expected a string literal"]
    );
    // A path parameter naming a rejected argument is not also reported as matching nothing.
    assert_eq!(
        errors(
            quote!(API, method = "GET", path = "/items/{name}"),
            quote!(
                async fn f(name: &str) -> Result<(), E> {
                    Ok(())
                }
            ),
        ),
        [
            "#[remote] parameters must be owned values (they are decoded from JSON on the remote side); take `String`, not `&str`"
        ]
    );
    // The state parameter is not an argument.
    assert_eq!(
        errors(
            quote!(API, method = "GET", path = "/items/{model}"),
            quote!(
                async fn f(#[state] model: &M) -> Result<(), E> {
                    Ok(())
                }
            ),
        ),
        ["path parameter `{model}` matches no argument of the function"]
    );
}

#[test]
fn option_problems() {
    assert_eq!(
        errors(quote!(GPU, timeout = 3), simple_fn()),
        ["unknown option `timeout`; #[remote] takes a resource, `method`, `path` and `crate`"]
    );
    assert_eq!(
        errors(quote!(GPU, retries(3)), simple_fn()),
        ["unknown option `retries`"]
    );
    assert_eq!(
        errors(quote!(GPU, CPU), simple_fn()),
        ["unexpected option; the resource comes first: #[remote(RESOURCE, ...)]"]
    );
    assert_eq!(
        errors(quote!(GPU, resource = CPU), simple_fn()),
        ["the resource is given twice"]
    );
    assert!(errors(quote!(), simple_fn())[0].starts_with("#[remote] needs a resource"));
    assert!(
        errors(quote!(method = "GET", path = "/x"), simple_fn())[0]
            .starts_with("#[remote] needs a resource")
    );
    // Not a list of options at all: one syntax error, with the expected form.
    let messages = errors(quote!(GPU; oops), simple_fn());
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("expected #[remote(RESOURCE)]"),
        "{messages:?}"
    );
}

#[test]
fn streaming_functions_are_plain_fns_returning_a_stream() {
    let remote = parse_ok(
        quote!(GPU),
        quote! {
            fn generate(prompt: String) -> impl futures::Stream<Item = Result<String, E>> + Send {
                futures::stream::empty()
            }
        },
    );
    assert_eq!(
        text(remote.stream_item.as_ref().unwrap()),
        "Result < String , E >"
    );
    let unary = parse_ok(quote!(GPU), simple_fn());
    assert!(unary.stream_item.is_none());
}

#[test]
fn streaming_problems() {
    let cases: &[(TokenStream, &str)] = &[
        (
            quote!(
                async fn f() -> impl Stream<Item = Result<u8, E>> {
                    s()
                }
            ),
            "a streaming #[remote] function is a plain `fn` returning `impl Stream<Item = Result<T, E>>`: remove `async` (the stream does the waiting)",
        ),
        (
            quote!(
                async fn f() -> impl Future<Output = Result<u8, E>> {
                    s()
                }
            ),
            "a #[remote] function returns `Result<T, E>` (an `async fn`), or `impl Stream<Item = Result<T, E>>` (a streaming `fn`)",
        ),
        (
            quote!(
                async fn f() -> impl Stream {
                    s()
                }
            ),
            "a #[remote] function returns `Result<T, E>` (an `async fn`), or `impl Stream<Item = Result<T, E>>` (a streaming `fn`)",
        ),
    ];
    for (item, expected) in cases {
        assert_eq!(errors(quote!(GPU), item.clone()), [*expected], "{item}");
    }
}

#[test]
fn function_problems() {
    let cases: &[(TokenStream, &str)] = &[
        (
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
            "#[remote] functions must be `async fn` (or, to stream results, a plain `fn` returning `impl Stream<Item = Result<T, E>>`)",
        ),
        (
            quote!(
                async fn f<T>(x: T) -> Result<(), E> {
                    Ok(())
                }
            ),
            "#[remote] functions cannot be generic: each one is a fixed wire contract",
        ),
        (
            quote!(
                async fn f() -> Result<(), E>
                where
                    u8: Copy,
                {
                    Ok(())
                }
            ),
            "#[remote] functions cannot be generic: each one is a fixed wire contract",
        ),
        (
            quote!(
                async fn f(x: u8) {}
            ),
            "#[remote] functions must return `Result<T, E>` (E: runpod_flash::Error<YourError> or runpod_flash::FlashError): a remote call can fail",
        ),
        (
            quote!(
                async fn f((a, b): (u8, u8)) -> Result<(), E> {
                    Ok(())
                }
            ),
            "#[remote] parameters must be plain names: they are the keys of the JSON arguments",
        ),
        (
            quote!(
                async fn f(ref a: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
            "#[remote] parameters must be plain names: they are the keys of the JSON arguments",
        ),
        (
            quote!(
                async fn f(s: &str) -> Result<(), E> {
                    Ok(())
                }
            ),
            "#[remote] parameters must be owned values (they are decoded from JSON on the remote side); take `String`, not `&str`",
        ),
        (
            quote!(
                async fn f(s: impl Serialize) -> Result<(), E> {
                    Ok(())
                }
            ),
            "#[remote] parameters need concrete types",
        ),
        (
            quote!(
                async fn f(__flash_fn: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
            "parameter names starting with `__` are reserved for the wire protocol",
        ),
        (
            quote!(
                async fn f(&self) -> Result<(), E> {
                    Ok(())
                }
            ),
            "#[remote] functions cannot take `self`; for per-worker state use a `#[state] name: &YourState` parameter",
        ),
        (
            quote!(
                async fn f(i: u8, #[state] m: &M) -> Result<(), E> {
                    Ok(())
                }
            ),
            "the #[state] parameter must come first",
        ),
        (
            quote!(
                async fn f(#[state] m: M) -> Result<(), E> {
                    Ok(())
                }
            ),
            "a #[state] parameter is a shared reference: `name: &YourState`",
        ),
        (
            quote!(
                async fn f(#[state] m: &mut M) -> Result<(), E> {
                    Ok(())
                }
            ),
            "a #[state] parameter is a shared reference: `name: &YourState`",
        ),
    ];
    for (item, expected) in cases {
        assert_eq!(errors(quote!(GPU), item.clone()), [*expected], "for {item}");
    }
}

#[test]
fn state_parameter_is_split_off() {
    let remote = parse_ok(
        quote!(GPU),
        quote!(
            async fn word(#[state] model: &Model, i: usize) -> Result<String, E> {
                todo!()
            }
        ),
    );
    let state = remote.state.expect("a state parameter");
    assert_eq!(
        (state.name.to_string(), text(&state.ty)),
        ("model".into(), "Model".into())
    );
    assert_eq!(remote.params.len(), 1);
    assert_eq!(remote.params[0].0, "i");
    // The marker is gone from the function kept for the body.
    let item = text(&remote.item);
    assert!(!item.contains("state"), "{item}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let messages = errors(
        quote!(API, method = "FETCH", path = "/execute/{id}", retries = 3),
        quote!(
            fn item<T>(self, (a, b): (u8, u8), name: &str, __x: u8) {}
        ),
    );
    assert_eq!(
        messages,
        [
            "unknown option `retries`; #[remote] takes a resource, `method`, `path` and `crate`",
            "invalid method \"FETCH\": expected one of GET, POST, PUT, PATCH, DELETE",
            "#[remote] functions must be `async fn` (or, to stream results, a plain `fn` returning `impl Stream<Item = Result<T, E>>`)",
            "#[remote] functions cannot be generic: each one is a fixed wire contract",
            "#[remote] functions must return `Result<T, E>` (E: runpod_flash::Error<YourError> or runpod_flash::FlashError): a remote call can fail",
            "#[remote] functions cannot take `self`; for per-worker state use a `#[state] name: &YourState` parameter",
            "#[remote] parameters must be plain names: they are the keys of the JSON arguments",
            "#[remote] parameters must be owned values (they are decoded from JSON on the remote side); take `String`, not `&str`",
            "parameter names starting with `__` are reserved for the wire protocol",
            "path parameter `{id}` matches no argument of the function",
        ]
    );
}
