//! The code `#[remote]` generates.
//!
//! For `async fn infer(prompt: String) -> R { body }` it emits:
//! - the stub `infer`, with the parameters as written (less any `#[state]` parameter), a plain
//!   `fn` returning `impl Future` (called and awaited exactly like the `async fn` written): its
//!   future decides at its first poll, from a cached "local" decision, whether to poll the body
//!   in place or the dispatcher (see `runpod_flash::call::stub` for why it is not an `async fn`);
//! - a handle struct of the same name (structs live in the type namespace, functions in the
//!   value namespace, so one `use` imports both) carrying the body as `infer::__flash_local` and
//!   implementing `RemoteFunction`: metadata, argument coding by parameter name, invoker;
//!   and `UnaryFunction` (the body as a boxed future);
//! - the registration of the metadata in the binary's function table;
//! - compile-time checks spanned on the user's tokens: every argument `Serialize +
//!   DeserializeOwned`, the return type a `Result` whose error is a `RemoteError`, the state a
//!   `WorkerState` (each where the type is used), and the resource's kind matching the presence
//!   of a route (a const assertion).
//!
//! For a streaming `fn generate(prompt: String) -> impl Stream<Item = R> { body }` the stub
//! returns `RemoteStream<R>` (routed at its first poll, by `call_stream`), the handle implements
//! `StreamingFunction` (the body as a boxed stream), `R` is the `RemoteFunction::Return`, and
//! the invokers stream the items (a worker's job-stream posts or server-sent events) or collect
//! them (a plain result). A `#[state]` parameter is got when the stream is first polled; the
//! body is then called with it as `&'static`.
//!
//! Generated code names only `::runpod_flash::__private::v1` (or `{crate}::__private::v1` with
//! `crate = "..."`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::parse::{RemoteFn, parse_remote};

/// The whole macro: parse, validate, generate. On error, the compile errors plus the function
/// as written, so the rest of the crate (and the IDE) still sees it.
pub fn expand_remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    match parse_remote(attr, item.clone()) {
        Ok(remote) => generate(&remote),
        Err(error) => {
            let errors = error.to_compile_error();
            let original = strip_state_markers(item);
            quote! { #errors #original }
        }
    }
}

/// The function as written, minus `#[state]` markers that would otherwise be unknown attributes.
fn strip_state_markers(item: TokenStream) -> TokenStream {
    match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(mut function) => {
            for input in &mut function.sig.inputs {
                if let syn::FnArg::Typed(typed) = input {
                    typed.attrs.retain(|a| !a.path().is_ident("state"));
                }
            }
            quote!(#function)
        }
        Err(_) => item,
    }
}

fn generate(remote: &RemoteFn) -> TokenStream {
    let private = match &remote.crate_path {
        Some(path) => quote!(#path::__private::v1),
        None => quote!(::runpod_flash::__private::v1),
    };
    let item = &remote.item;
    let vis = &item.vis;
    let name = &item.sig.ident;
    let name_text = name.to_string();
    let resource = &remote.resource;
    let output = &remote.output;
    let body = &item.block;

    let (docs, other_attrs): (Vec<_>, Vec<_>) = item
        .attrs
        .iter()
        .partition(|attr| attr.path().is_ident("doc"));

    let arg_names: Vec<_> = remote.params.iter().map(|(n, _)| n).collect();
    let arg_types: Vec<_> = remote.params.iter().map(|(_, t)| t).collect();
    let arg_texts: Vec<_> = arg_names.iter().map(|n| n.to_string()).collect();
    let indices: Vec<_> = (0..arg_names.len()).map(syn::Index::from).collect();

    // The body keeps the parameters' patterns as written (`mut x`), minus the state parameter.
    let local_params: Vec<_> = item
        .sig
        .inputs
        .iter()
        .filter(|input| match (input, &remote.state) {
            (syn::FnArg::Typed(typed), Some(state)) => {
                !matches!(&*typed.pat, syn::Pat::Ident(p) if p.ident == state.name)
            }
            _ => true,
        })
        .collect();

    let state_binding = remote.state.as_ref().map(|state| {
        let state_name = &state.name;
        let state_ty = &state.ty;
        // Spanned on the state type, so a type that is not a `WorkerState` is reported there, once.
        quote_spanned! {state_ty.span()=>
            let #state_name: &'static #state_ty = match #private::worker_state::<#state_ty>().await {
                ::core::result::Result::Ok(state) => state,
                ::core::result::Result::Err(error) => return #private::fail::<#output>(error),
            };
        }
    });

    let route = match &remote.route {
        Some(route) => {
            let method = format_ident!("{}", capitalized(&route.method));
            let path = &route.path;
            quote!(::core::option::Option::Some(#private::HttpRoute { method: #private::HttpMethod::#method, path: #path }))
        }
        None => quote!(::core::option::Option::None),
    };
    let (state_name, warm) = match &remote.state {
        Some(state) => {
            let ty = &state.ty;
            let text = quote!(#ty).to_string().replace(' ', "");
            (
                quote!(::core::option::Option::Some(#text)),
                quote_spanned!(ty.span()=> ::core::option::Option::Some(#private::warm::<#ty>)),
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };

    // The argument and return type requirements are checked where the types are used (each use
    // spanned on the user's type, each requirement checked once): `encode_arg::<T>` needs
    // `Serialize`, `decode_arg::<T>` `DeserializeOwned`, and `RemoteFunction::Return` a
    // `RemoteResult`; the state binding checks `WorkerState`. A separate assertion would repeat
    // every error.
    let encoders = remote.params.iter().zip(&indices).map(|((name, ty), index)| {
        let text = name.to_string();
        quote_spanned!(ty.span()=> #private::encode_arg::<#ty>(&mut encoded, #name_text, #text, &args.#index)?;)
    });
    let kind_check = if remote.route.is_some() {
        let message = format!(
            "#[remote] function `{name_text}` has an HTTP route, so its resource must be Resource::load_balanced(...)"
        );
        quote_spanned!(resource.span()=> ::core::assert!(#resource.is_load_balanced(), #message);)
    } else {
        let message = format!(
            "#[remote] function `{name_text}` is on a load-balanced resource and needs `method = \"...\"` and `path = \"/...\"`"
        );
        quote_spanned!(resource.span()=> ::core::assert!(!#resource.is_load_balanced(), #message);)
    };
    // Spanned on the path, so a const of another type is reported there.
    let resource_ref = quote_spanned!(resource.span()=> &#resource);
    let handle_doc = format!(
        "Type-level handle of the `#[remote]` function [`{name_text}`](fn@{name_text}): its metadata, and the key for mocking it in tests."
    );

    // What differs between an `async fn` and a streaming `fn`: the stub, the body, the
    // invokers and the call trait.
    let (stub, local, item_type, invokers, call_impl) = match &remote.stream_item {
        None => (
            quote! {
                #vis fn #name(#(#arg_names: #arg_types),*) -> impl ::core::future::Future<Output = #output> {
                    #private::Stub::<#name, _, _>::new(
                        (#(#arg_names,)*),
                        |(#(#arg_names,)*): (#(#arg_types,)*)| #name::__flash_local(#(#arg_names),*),
                    )
                }
            },
            quote! {
                #(#other_attrs)*
                async fn __flash_local(#(#local_params),*) -> #output {
                    #state_binding
                    #body
                }
            },
            output.clone(),
            quote!(#private::invoke::<#name>, ::core::option::Option::None),
            quote! {
                impl #private::UnaryFunction for #name {
                    fn call_local(args: Self::Args) -> #private::BoxFuture<'static, Self::Return> {
                        let (#(#arg_names,)*) = args;
                        ::std::boxed::Box::pin(#name::__flash_local(#(#arg_names),*))
                    }
                }
            },
        ),
        Some(item) => {
            // Spanned on the declared return type, so a stream that is not `Send + 'static` is
            // reported there.
            let stream_type = quote_spanned! {output.span()=>
                impl #private::Stream<Item = #item> + ::core::marker::Send + 'static
            };
            // The body keeps the return type as written (so the user's `Stream` import is
            // used); `__flash_local` adds what the runtime needs of it.
            let local = match &remote.state {
                None => quote! {
                    #(#other_attrs)*
                    fn __flash_body(#(#local_params),*) -> #output {
                        #body
                    }

                    fn __flash_local(#(#arg_names: #arg_types),*) -> #stream_type {
                        #name::__flash_body(#(#arg_names),*)
                    }
                },
                Some(state) => {
                    let state_name = &state.name;
                    let state_ty = &state.ty;
                    let make = quote_spanned! {state_ty.span()=>
                        #private::stateful_stream::<#state_ty, #item, _>
                    };
                    quote! {
                        #(#other_attrs)*
                        fn __flash_body(#state_name: &'static #state_ty, #(#local_params),*) -> #output {
                            #body
                        }

                        fn __flash_local(#(#arg_names: #arg_types),*) -> #stream_type {
                            #make(move |#state_name| #name::__flash_body(#state_name, #(#arg_names),*))
                        }
                    }
                }
            };
            (
                quote! {
                    #vis fn #name(#(#arg_names: #arg_types),*) -> #private::RemoteStream<#item> {
                        #private::call_stream::<#name>((#(#arg_names,)*))
                    }
                },
                local,
                item.clone(),
                quote!(#private::invoke_collected::<#name>, ::core::option::Option::Some(#private::invoke_stream::<#name>)),
                quote! {
                    impl #private::StreamingFunction for #name {
                        fn stream_local(args: Self::Args) -> #private::BoxStream<'static, Self::Return> {
                            let (#(#arg_names,)*) = args;
                            ::std::boxed::Box::pin(#name::__flash_local(#(#arg_names),*))
                        }
                    }
                },
            )
        }
    };

    quote! {
        #(#docs)*
        #[allow(dead_code)]
        #[inline]
        #stub

        #[doc = #handle_doc]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #[allow(unsafe_code, non_upper_case_globals, clippy::needless_question_mark)]
        const _: () = {
            impl #name {
                #local
            }

            impl #private::RemoteFunction for #name {
                type Args = (#(#arg_types,)*);
                type Return = #item_type;
                const META: &'static #private::FunctionMeta = &#private::meta(
                    #name_text,
                    {
                        // A typed binding, so a const of another type is reported on its path.
                        const RESOURCE: &'static #private::Resource = #resource_ref;
                        RESOURCE
                    },
                    ::core::module_path!(),
                    #private::SourceLocation { file: ::core::file!(), line: ::core::line!() },
                    &[#(#arg_texts),*],
                    #route,
                    #state_name,
                    #invokers,
                    #warm,
                );

                fn slot() -> &'static #private::Slot {
                    static SLOT: #private::Slot = #private::Slot::new();
                    &SLOT
                }

                fn encode_args(
                    args: &Self::Args,
                ) -> ::core::result::Result<#private::Map<::std::string::String, #private::Value>, #private::ArgumentError> {
                    let _ = args;
                    let mut encoded = #private::Map::new();
                    #(#encoders)*
                    ::core::result::Result::Ok(encoded)
                }

                fn decode_args(
                    mut args: #private::Map<::std::string::String, #private::Value>,
                ) -> ::core::result::Result<Self::Args, #private::ArgumentError> {
                    let decoded = (#( #private::decode_arg::<#arg_types>(&mut args, #name_text, #arg_texts)?, )*);
                    #private::reject_unknown(&args, #name_text)?;
                    ::core::result::Result::Ok(decoded)
                }
            }

            #call_impl

            #[#private::linkme::distributed_slice(#private::FUNCTIONS)]
            #[linkme(crate = #private::linkme)]
            static __FLASH_REGISTRATION: &'static #private::FunctionMeta =
                <#name as #private::RemoteFunction>::META;

            const _: () = {
                #kind_check
            };
        };
    }
}

fn capitalized(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
