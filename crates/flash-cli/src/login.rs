//! `flash login`: Python Flash's device flow (runpod-flash 1.21, `cli/commands/login.py`).
//!
//! 1. `createFlashAuthRequest` (anonymous: the user has no key yet) opens a request;
//! 2. a person approves it at `{RUNPOD_CONSOLE_URL}/flash/login?request={id}`;
//! 3. `flashAuthRequestStatus` is polled until it is `APPROVED` (or `CONSUMED`) with an
//!    `apiKey`; `DENIED`, `EXPIRED`, or the deadline, end it.
//!
//! The key is saved as `[default] api_key` in `~/.runpod/config.toml`, the runpod SDK's file
//! (what [`credentials`](crate::deploy::credentials) and Python Flash read), edited in place so
//! runpodctl's top-level `apikey`/`apiurl`, other profiles and comments survive, and written
//! with mode 0600. The key is never printed, logged or put in an error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runpod_flash::ApiKey;
use serde_json::{Value, json};

/// The documents Python Flash sends, verbatim but for indentation.
const CREATE: &str = "mutation createFlashAuthRequest {
    createFlashAuthRequest {
        id
        status
        expiresAt
    }
}";
const STATUS: &str = "query flashAuthRequestStatus($flashAuthRequestId: String!) {
    flashAuthRequestStatus(flashAuthRequestId: $flashAuthRequestId) {
        id
        status
        expiresAt
        apiKey
    }
}";

/// Python Flash's defaults.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long to wait for approval (Python Flash: 600 s), unless the request expires sooner.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Runpod's console.
pub const DEFAULT_CONSOLE_URL: &str = "https://console.runpod.io";

/// Where to log in.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// `RUNPOD_API_BASE_URL` (GraphQL at `{base}/graphql`).
    pub api_base_url: String,
    /// `RUNPOD_CONSOLE_URL`: the approval page's base.
    pub console_url: String,
    /// Between status polls.
    pub poll_interval: Duration,
    /// Give up after this long.
    pub timeout: Duration,
    /// The file to save the key in.
    pub config_file: PathBuf,
}

impl LoginOptions {
    /// From `RUNPOD_API_BASE_URL`, `RUNPOD_CONSOLE_URL` and `HOME`, with Python Flash's poll
    /// interval and timeout; `None` without a home directory.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().trim_end_matches('/').to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Some(Self {
            api_base_url: var(
                flash_contract::env::RUNPOD_API_BASE_URL,
                runpod_flash::config::DEFAULT_API_BASE_URL,
            ),
            console_url: var(flash_contract::env::RUNPOD_CONSOLE_URL, DEFAULT_CONSOLE_URL),
            poll_interval: POLL_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            config_file: crate::deploy::credentials::config_file()?,
        })
    }
}

/// Why login failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// No home directory to keep `~/.runpod/config.toml` in.
    #[error("cannot tell where ~/.runpod/config.toml is: HOME is not set")]
    NoHome,
    /// The request did not get an answer.
    #[error("{operation} at {url}: {message}")]
    Http {
        /// The GraphQL operation.
        operation: &'static str,
        /// The GraphQL URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with GraphQL errors or without the expected fields.
    #[error("{operation}: {message}")]
    Answer {
        /// The GraphQL operation.
        operation: &'static str,
        /// The errors, or what was missing.
        message: String,
    },
    /// The request was refused, expired or already used.
    #[error("login failed: the request was {status}; run `flash login` again")]
    Refused {
        /// `denied`, `expired`, `consumed`.
        status: String,
    },
    /// Nobody approved it in time.
    #[error("login timed out after {seconds} s without approval; run `flash login` again")]
    TimedOut {
        /// The wait.
        seconds: u64,
    },
    /// The config file could not be read or written.
    #[error("{action} {path}: {message}")]
    Config {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        message: String,
    },
}

/// Runs the flow: `show_url` is called once with the approval URL (for the person); returns
/// the file the key was saved in.
///
/// # Errors
/// [`LoginError`] naming the step that failed; nothing is written unless a key arrived.
pub async fn login(
    options: &LoginOptions,
    show_url: impl FnOnce(&str),
) -> Result<PathBuf, LoginError> {
    let url = format!("{}/graphql", options.api_base_url.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .user_agent(runpod_flash::config::USER_AGENT)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| LoginError::Http {
            operation: "client setup",
            url: url.clone(),
            message: e.to_string(),
        })?;
    let created = graphql(&http, &url, "createFlashAuthRequest", CREATE, json!({})).await?;
    let id = created["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| LoginError::Answer {
            operation: "createFlashAuthRequest",
            message: "no request id in the answer".to_owned(),
        })?
        .to_owned();
    show_url(&format!(
        "{}/flash/login?request={id}",
        options.console_url.trim_end_matches('/')
    ));
    let started = Instant::now();
    loop {
        let status = graphql(
            &http,
            &url,
            "flashAuthRequestStatus",
            STATUS,
            json!({"flashAuthRequestId": id}),
        )
        .await?;
        let state = status["status"].as_str().unwrap_or_default();
        if let Some(key) = status["apiKey"].as_str().and_then(ApiKey::new)
            && matches!(state, "APPROVED" | "CONSUMED")
        {
            save_api_key(&options.config_file, &key)?;
            return Ok(options.config_file.clone());
        }
        if matches!(state, "DENIED" | "EXPIRED" | "CONSUMED") {
            return Err(LoginError::Refused {
                status: state.to_ascii_lowercase(),
            });
        }
        if started.elapsed() >= options.timeout {
            return Err(LoginError::TimedOut {
                seconds: options.timeout.as_secs(),
            });
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// `data.{operation}` of one anonymous GraphQL request.
async fn graphql(
    http: &reqwest::Client,
    url: &str,
    operation: &'static str,
    query: &str,
    variables: Value,
) -> Result<Value, LoginError> {
    let http_error = |message: String| LoginError::Http {
        operation,
        url: url.to_owned(),
        message,
    };
    let response = http
        .post(url)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .map_err(|e| http_error(e.without_url().to_string()))?;
    let status = response.status();
    // The answer of the status query carries the key: never quoted in an error.
    let body: Value = response
        .json()
        .await
        .map_err(|_| http_error(format!("HTTP {status}, and the body is not JSON")))?;
    if let Some(errors) = body["errors"].as_array().filter(|e| !e.is_empty()) {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        return Err(LoginError::Answer {
            operation,
            message: messages.join("; "),
        });
    }
    if !status.is_success() {
        return Err(http_error(format!("HTTP {status}")));
    }
    match &body["data"][operation] {
        Value::Object(_) => Ok(body["data"][operation].clone()),
        _ => Err(LoginError::Answer {
            operation,
            message: "no result in the answer (unknown request?)".to_owned(),
        }),
    }
}

/// Sets `[default] api_key` in `path`, keeping everything else in the file, and leaves it
/// readable by its owner only. A file that is not TOML is refused, not overwritten.
///
/// # Errors
/// [`LoginError::Config`] naming the file.
pub fn save_api_key(path: &Path, key: &ApiKey) -> Result<(), LoginError> {
    let fail = |action: &'static str, message: String| LoginError::Config {
        action,
        path: path.to_owned(),
        message,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail("reading", e.to_string())),
    };
    let mut document: toml_edit::DocumentMut =
        existing.parse().map_err(|e: toml_edit::TomlError| {
            fail(
                "reading",
                format!("not valid TOML ({}); fix or remove it", e.message()),
            )
        })?;
    if !document.contains_table("default") {
        document["default"] = toml_edit::table();
    }
    document["default"]["api_key"] = toml_edit::value(key.expose());
    let dir = path
        .parent()
        .ok_or_else(|| fail("writing", "no parent directory".to_owned()))?;
    create_private_dir(dir).map_err(|e| fail("creating the directory of", e.to_string()))?;
    // Written beside it, private from the first byte, then renamed over: no moment where the
    // key sits in a file others can read, and no half-written file.
    let temp = dir.join(format!(".config.toml.{}.tmp", std::process::id()));
    write_private(&temp, document.to_string().as_bytes())
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            fail("writing", e.to_string())
        })
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // `mode` is filtered by the umask and ignored for an existing file.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::credentials::api_key_from_toml;

    #[test]
    fn saving_keeps_the_rest_of_the_file_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".runpod").join("config.toml");
        let key = ApiKey::new("rpa_FIRST").unwrap();
        save_api_key(&path, &key).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(api_key_from_toml(&text).unwrap().expose(), "rpa_FIRST");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // runpodctl's keys, another profile and a comment survive; the key is replaced.
        std::fs::write(
            &path,
            "# mine\napikey = \"ctl\"\napiurl = \"https://api.runpod.io/graphql\"\n\n\
             [other]\napi_key = \"x\"\n\n[default]\napi_key = \"rpa_FIRST\"\n",
        )
        .unwrap();
        save_api_key(&path, &ApiKey::new("rpa_SECOND").unwrap()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(api_key_from_toml(&text).unwrap().expose(), "rpa_SECOND");
        for kept in ["# mine", "apikey = \"ctl\"", "[other]", "api_key = \"x\""] {
            assert!(text.contains(kept), "{kept} kept: {text}");
        }
        assert!(!text.contains("rpa_FIRST"));
        std::fs::write(&path, "[default\n").unwrap();
        let error = save_api_key(&path, &key).unwrap_err().to_string();
        assert!(
            error.contains("not valid TOML") && error.contains("config.toml"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[default\n");
    }
}
