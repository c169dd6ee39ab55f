//! The source scanner: every `#[remote(...)]` function in the package's `src/**/*.rs`, parsed
//! with the macro's own parser ([`flash_codegen::parse_remote`]).

use std::path::{Path, PathBuf};

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Attribute, Item, Meta};

use super::{BuildError, Located};

/// A file under `src/`, as read.
#[derive(Debug, Clone)]
pub(crate) struct RawFile {
    /// Path relative to the package root, with `/` separators.
    pub(crate) rel: String,
    /// Its bytes.
    pub(crate) bytes: Vec<u8>,
}

/// A parsed Rust file.
pub(crate) struct ScannedFile {
    /// Path relative to the package root.
    #[allow(dead_code)] // Kept for diagnostics and future checks.
    pub(crate) rel: String,
    /// Its syntax tree.
    pub(crate) ast: syn::File,
}

/// A `#[remote]` function found in the sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteSite {
    /// The function's name.
    pub(crate) name: String,
    /// Its file, relative to the package root.
    pub(crate) file: String,
    /// The line of its `#[remote]` attribute.
    pub(crate) line: u32,
    /// The resource path as written (`GPU`, `crate::res::GPU`).
    pub(crate) resource: String,
    /// Whether a `#[cfg(...)]` (other than `cfg(test)`) applies to it, so the binary may rightly
    /// lack it.
    pub(crate) cfg_gated: bool,
}

/// What the scan found.
#[derive(Default)]
pub(crate) struct Scan {
    /// Every parsed `.rs` file.
    pub(crate) files: Vec<ScannedFile>,
    /// Every `#[remote]` function outside `#[cfg(test)]` code.
    pub(crate) remotes: Vec<RemoteSite>,
    /// Parse and attribute errors at their file and line.
    pub(crate) problems: Vec<Located>,
}

/// Every file under `root/src`, sorted by relative path.
pub(crate) fn read_sources(root: &Path) -> Result<Vec<RawFile>, BuildError> {
    let mut files = Vec::new();
    let src = root.join("src");
    if src.is_dir() {
        walk(&src, "src", &mut files)?;
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(files)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<RawFile>) -> Result<(), BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BuildError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| BuildError::io("list", dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = format!("{rel}/{name}");
        let kind = entry
            .file_type()
            .map_err(|e| BuildError::io("inspect", &path, e))?;
        // Symlinks are followed: `metadata` (not `file_type`) tells what they point at.
        let is_dir = kind.is_dir() || (kind.is_symlink() && path.is_dir());
        if is_dir {
            walk(&path, &child, out)?;
        } else {
            let bytes = std::fs::read(&path).map_err(|e| BuildError::io("read", &path, e))?;
            out.push(RawFile { rel: child, bytes });
        }
    }
    Ok(())
}

/// Relative paths (files or directories) under `root` for `paths`, for [`scan`]'s exclusions.
pub(crate) fn relative_to(root: &Path, paths: &[PathBuf]) -> Vec<String> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    paths
        .iter()
        .filter_map(|p| {
            let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            let rel = p.strip_prefix(&root).ok()?;
            Some(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            )
        })
        .collect()
}

/// Parses every `.rs` file not under `excluded` (relative paths of files or directories) and
/// finds its `#[remote]` functions.
pub(crate) fn scan(files: &[RawFile], excluded: &[String]) -> Scan {
    let mut scan = Scan::default();
    for file in files {
        let skip = excluded
            .iter()
            .any(|e| file.rel == *e || file.rel.starts_with(&format!("{e}/")));
        if skip || !file.rel.ends_with(".rs") {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&file.bytes) else {
            scan.problems.push(Located {
                file: file.rel.clone(),
                line: 1,
                message: "not UTF-8".to_owned(),
            });
            continue;
        };
        scan_text(&file.rel, text, &mut scan);
    }
    scan
}

/// Scans one file's text (`rel` names it in problems).
pub(crate) fn scan_text(rel: &str, text: &str, scan: &mut Scan) {
    match syn::parse_file(text) {
        Ok(ast) => {
            items(&ast.items, rel, false, scan);
            scan.files.push(ScannedFile {
                rel: rel.to_owned(),
                ast,
            });
        }
        Err(error) => scan.problems.push(Located {
            file: rel.to_owned(),
            line: line_of(error.span()),
            message: error.to_string(),
        }),
    }
}

fn line_of(span: proc_macro2::Span) -> u32 {
    u32::try_from(span.start().line).unwrap_or(0)
}

/// `#[cfg(test)]`: code the app binary never contains.
fn is_cfg_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && matches!(&a.meta, Meta::List(l) if l.tokens.to_string().trim() == "test")
    })
}

fn has_cfg(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("cfg"))
}

fn items(list: &[Item], rel: &str, gated: bool, scan: &mut Scan) {
    for item in list {
        match item {
            Item::Fn(function) => {
                if is_cfg_test(&function.attrs) {
                    continue;
                }
                remote_fn(function, rel, gated || has_cfg(&function.attrs), scan);
            }
            Item::Mod(module) => {
                if is_cfg_test(&module.attrs) {
                    continue;
                }
                if let Some((_, content)) = &module.content {
                    items(content, rel, gated || has_cfg(&module.attrs), scan);
                }
            }
            _ => {}
        }
    }
}

/// Whether `attr` is `#[remote]` or `#[path::to::remote]`.
fn is_remote(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "remote")
}

fn remote_fn(function: &syn::ItemFn, rel: &str, cfg_gated: bool, scan: &mut Scan) {
    let Some(position) = function.attrs.iter().position(is_remote) else {
        return;
    };
    let attr = &function.attrs[position];
    let line = line_of(attr.span());
    let args = match &attr.meta {
        Meta::List(list) => list.tokens.clone(),
        _ => proc_macro2::TokenStream::new(),
    };
    let mut item = function.clone();
    item.attrs.remove(position);
    match flash_codegen::parse_remote(args, item.to_token_stream()) {
        Ok(parsed) => scan.remotes.push(RemoteSite {
            name: function.sig.ident.to_string(),
            file: rel.to_owned(),
            line,
            resource: parsed
                .resource
                .to_token_stream()
                .to_string()
                .replace(' ', ""),
            cfg_gated,
        }),
        Err(errors) => {
            for error in errors {
                let at = line_of(error.span());
                scan.problems.push(Located {
                    file: rel.to_owned(),
                    line: if at == 0 { line } else { at },
                    message: format!("#[remote] on `{}`: {error}", function.sig.ident),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_one(text: &str) -> Scan {
        let mut scan = Scan::default();
        scan_text("src/main.rs", text, &mut scan);
        scan
    }

    #[test]
    fn finds_remote_functions_with_lines_and_resources() {
        let scan = scan_one(
            r#"use runpod_flash::{remote, Resource, FlashError};
const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn embed(text: String) -> Result<Vec<f32>, FlashError> { Ok(vec![]) }

mod api {
    #[runpod_flash::remote(crate::API, method = "POST", path = "/x")]
    pub async fn route() -> Result<(), FlashError> { Ok(()) }

    #[cfg(feature = "extra")]
    #[remote(GPU)]
    async fn gated() -> Result<(), FlashError> { Ok(()) }
}

#[cfg(test)]
mod tests {
    #[remote(GPU)]
    async fn only_in_tests() -> Result<(), FlashError> { Ok(()) }
}

fn helper() {}
"#,
        );
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        let found: Vec<_> = scan
            .remotes
            .iter()
            .map(|r| (r.name.as_str(), r.line, r.resource.as_str(), r.cfg_gated))
            .collect();
        assert_eq!(
            found,
            [
                ("embed", 4, "GPU", false),
                ("route", 8, "crate::API", false),
                ("gated", 12, "GPU", true),
            ]
        );
        assert_eq!(scan.files.len(), 1);
    }

    #[test]
    fn reports_attribute_errors_at_their_line() {
        let scan = scan_one(
            "use runpod_flash::remote;\n\n#[remote(GPU)]\nfn not_async() -> Result<(), E> { Ok(()) }\n\n#[remote(API, method = \"GET\")]\nasync fn half_route() -> Result<(), E> { Ok(()) }\n",
        );
        let lines: Vec<_> = scan.problems.iter().map(|p| p.line).collect();
        assert_eq!(scan.problems.len(), 2, "{:?}", scan.problems);
        assert_eq!(lines[0], 4, "{:?}", scan.problems);
        assert!(lines[1] >= 6, "{:?}", scan.problems);
        assert!(
            scan.problems[0].message.contains("async"),
            "{:?}",
            scan.problems
        );
        assert!(scan.problems[1].message.contains("half_route"));
        assert!(scan.remotes.is_empty());
    }

    #[test]
    fn reports_syntax_errors_at_their_line() {
        let scan = scan_one("fn ok() {}\n\nfn broken( {\n");
        assert_eq!(scan.problems.len(), 1);
        assert_eq!(scan.problems[0].file, "src/main.rs");
        assert!(scan.problems[0].line >= 3, "{:?}", scan.problems);
    }

    #[test]
    fn skips_excluded_and_non_rust_files() {
        let file = |rel: &str, text: &str| RawFile {
            rel: rel.to_owned(),
            bytes: text.as_bytes().to_vec(),
        };
        let files = [
            file("src/main.rs", "#[remote(A)] async fn a() -> R { x }"),
            file(
                "src/bin/other/main.rs",
                "#[remote(A)] async fn b() -> R { x }",
            ),
            file("src/bin/tool.rs", "#[remote(A)] async fn c() -> R { x }"),
            file("src/data.txt", "not rust {"),
        ];
        let scan = scan(
            &files,
            &["src/bin/other".to_owned(), "src/bin/tool.rs".to_owned()],
        );
        let names: Vec<_> = scan.remotes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a"]);
        assert!(scan.problems.is_empty());
    }
}
