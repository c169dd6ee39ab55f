//! Where the API key comes from: `RUNPOD_API_KEY`, else `~/.runpod/config.toml` (the Python
//! SDK's file: a `[default]` table with `api_key = "..."`), so existing users are logged in.

use std::path::{Path, PathBuf};

use runpod_flash::ApiKey;

/// `~/.runpod/config.toml`, when a home directory is known.
pub fn config_file() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| Path::new(&home).join(".runpod").join("config.toml"))
}

/// `RUNPOD_API_KEY` when set and not blank, else the `[default]` `api_key` of
/// `~/.runpod/config.toml`, else `None`. An unreadable or malformed file counts as no key.
pub fn api_key() -> Option<ApiKey> {
    std::env::var(flash_contract::env::RUNPOD_API_KEY)
        .ok()
        .and_then(ApiKey::new)
        .or_else(|| {
            config_file()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .and_then(|text| api_key_from_toml(&text))
        })
}

/// The `api_key` of the `[default]` table of a Python SDK config file. A minimal line parser:
/// `[table]` headers, `key = "value"` / `key = 'value'` pairs, `#` comments.
pub fn api_key_from_toml(text: &str) -> Option<ApiKey> {
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.trim().trim_matches('"').to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if table != "default" || key.trim().trim_matches('"') != "api_key" {
            continue;
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| {
                value
                    .strip_prefix(*q)
                    .and_then(|rest| rest.find(*q).map(|end| &rest[..end]))
            })
            .unwrap_or_else(|| value.split('#').next().unwrap_or_default().trim());
        return ApiKey::new(unquoted);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_default_table() {
        let text =
            "# runpod\n[other]\napi_key = \"no\"\n\n[default]\napi_key = \"rpa_ABC\" # mine\n";
        assert_eq!(api_key_from_toml(text).unwrap().expose(), "rpa_ABC");
        assert_eq!(
            api_key_from_toml("[default]\napi_key='x1'")
                .unwrap()
                .expose(),
            "x1"
        );
        assert!(api_key_from_toml("[default]\nother = 1\n").is_none());
        assert!(api_key_from_toml("api_key = \"top\"\n").is_none());
        assert!(api_key_from_toml("[default]\napi_key = \"\"\n").is_none());
    }
}
