//! Snapshots of `#[remote]`'s expansion for representative inputs (`tests/snapshots/`).
//!
//! Update with `INSTA_UPDATE=always cargo test -p flash-codegen --test expand` and review the diff.

use flash_codegen::expand_remote;
use proc_macro2::TokenStream;
use quote::quote;

fn expand(attr: TokenStream, item: TokenStream) -> String {
    let file: syn::File =
        syn::parse2(expand_remote(attr, item)).expect("the expansion is a valid file");
    prettyplease::unparse(&file)
}

#[test]
fn queue_function() {
    insta::assert_snapshot!(expand(
        quote!(GPU),
        quote! {
            /// Runs the model.
            pub async fn infer(prompt: String, n: u32) -> Result<Vec<String>, FlashError> {
                Ok(vec![prompt; n as usize])
            }
        },
    ));
}

#[test]
fn load_balanced_route() {
    insta::assert_snapshot!(expand(
        quote!(API, method = "GET", path = "/items/{id}"),
        quote! {
            async fn item(id: u64, verbose: bool) -> Result<String, Error<MyErr>> {
                Ok(format!("{id} {verbose}"))
            }
        },
    ));
}

#[test]
fn stateful_function() {
    insta::assert_snapshot!(expand(
        quote!(crate::resources::GPU),
        quote! {
            #[allow(clippy::cast_possible_truncation)]
            pub(crate) async fn word(#[state] model: &Model, mut i: usize) -> Result<String, FlashError> {
                i %= model.words.len();
                Ok(model.words[i].clone())
            }
        },
    ));
}

#[test]
fn streaming_function() {
    insta::assert_snapshot!(expand(
        quote!(GPU),
        quote! {
            /// Streams tokens.
            pub fn generate(prompt: String, mut n: u32) -> impl Stream<Item = Result<String, Error<GenError>>> {
                futures::stream::iter((0..n).map(move |i| Ok(format!("{prompt}{i}"))))
            }
        },
    ));
}

#[test]
fn stateful_streaming_function() {
    insta::assert_snapshot!(expand(
        quote!(GPU),
        quote! {
            fn words(#[state] model: &Model, n: usize) -> impl Stream<Item = Result<String, FlashError>> {
                futures::stream::iter(model.words.iter().take(n).cloned().map(Ok))
            }
        },
    ));
}

#[test]
fn zero_arguments() {
    insta::assert_snapshot!(expand(
        quote!(CPU),
        quote! {
            async fn health() -> Result<(), FlashError> {
                Ok(())
            }
        },
    ));
}

#[test]
fn invalid_input_keeps_the_function() {
    insta::assert_snapshot!(expand(
        quote!(GPU, colour = "blue"),
        quote! {
            fn infer(#[state] model: &Model, prompt: &str) -> String {
                prompt.to_owned()
            }
        },
    ));
}
