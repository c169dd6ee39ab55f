//! A load-balanced endpoint: plain HTTP to `https://{id}.api.runpod.ai{path}` (or by name,
//! `https://flash.api.runpod.ai{path}` with the Flash dispatcher's headers), typed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{EndpointError, EndpointErrorKind};
use super::transport::{Connection, Repeat, Settings, dispatch_headers};
use crate::ApiKey;
use crate::call::WireError;
use crate::config;

/// The dispatcher of load-balanced endpoints for the data-plane base URL `base`, as runpod 2.0
/// derives it (`targets.py` `QueueClient.http`, `_lb_domain`): `https://flash.` and the base
/// URL's host and port. Two departures, both only where runpod 2.0's URL could reach nothing:
/// a plain-HTTP base (a local Runpod) keeps `http`, and a loopback base host (`127.0.0.1`,
/// `::1`, `localhost`: the emulator's) becomes `flash.localhost`, since an IP has no subdomains
/// ([`LOOPBACK_LB_HOST`](flash_contract::dispatch::LOOPBACK_LB_HOST)).
pub(crate) fn dispatcher_url(base: &str) -> String {
    use flash_contract::dispatch::{LOOPBACK_LB_HOST, SENTINEL_ID};
    let base = base.trim();
    let Ok(url) = url::Url::parse(base) else {
        let host = base
            .split_once("://")
            .map_or(base, |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default();
        return format!("https://{SENTINEL_ID}.{host}");
    };
    let scheme = if url.scheme() == "http" {
        "http"
    } else {
        "https"
    };
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => LOOPBACK_LB_HOST.to_owned(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => LOOPBACK_LB_HOST.to_owned(),
        Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
            LOOPBACK_LB_HOST.to_owned()
        }
        Some(host) => format!("{SENTINEL_ID}.{host}"),
        None => SENTINEL_ID.to_owned(),
    };
    match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

/// Largest load-balanced request body (Runpod: 30 MB).
const MAX_LB_BODY_BYTES: usize = 30 * 1024 * 1024;

/// A client of one load-balanced endpoint.
///
/// A 2xx body decodes as the type asked for (an empty body as `null`); 401, 404, 429 and 5xx are
/// the same [`EndpointErrorKind`]s as on queue endpoints, and a Flash worker's JSON error body
/// (`error_type`, `error_message`) is [`EndpointErrorKind::Failed`]. Only GET is retried.
///
/// ```no_run
/// # async fn demo() -> Result<(), runpod_flash::client::EndpointError> {
/// use runpod_flash::client::LoadBalancedEndpoint;
///
/// let api = LoadBalancedEndpoint::new("abc123xyz")?;
/// let label: String = api.post("/classify", &serde_json::json!({"text": "hi"})).await?;
/// let health: serde_json::Value = api.get("/health").await?;
/// # let _ = (label, health); Ok(()) }
/// ```
#[derive(Clone)]
pub struct LoadBalancedEndpoint {
    connection: Arc<Connection>,
}

impl fmt::Debug for LoadBalancedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadBalancedEndpoint")
            .field("url", &self.connection.base)
            .finish_non_exhaustive()
    }
}

impl LoadBalancedEndpoint {
    /// The endpoint `id`, at `https://{id}.api.runpod.ai` (`FLASH_LB_URL_TEMPLATE` overrides
    /// the template), key from `RUNPOD_API_KEY`.
    pub fn new(id: &str) -> Result<Self, EndpointError> {
        let template = std::env::var(flash_contract::env::FLASH_LB_URL_TEMPLATE)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| config::DEFAULT_LB_URL_TEMPLATE.to_owned());
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(EndpointError::new(
                id,
                None,
                EndpointErrorKind::InvalidRequest(format!(
                    "endpoint id {id:?} must be letters, digits or '-'"
                )),
            ));
        }
        Self::at_url(template.replace("{endpoint_id}", id), None)
    }

    /// The endpoint served at `url` (a test server, a proxy, the emulator's load balancer),
    /// with `key` or else `RUNPOD_API_KEY`.
    pub fn at_url(url: impl Into<String>, key: Option<ApiKey>) -> Result<Self, EndpointError> {
        let url = url.into().trim().trim_end_matches('/').to_owned();
        Self::connect(url.clone(), url, key, Vec::new())
    }

    /// The load-balanced endpoint of resource `resource` in environment `environment` of
    /// Flash app `app`, through Runpod's Flash dispatcher: `https://flash.{host}{path}`, where
    /// `host` is that of `RUNPOD_ENDPOINT_BASE_URL` (default `api.runpod.ai`; the emulator's
    /// base gives `http://flash.localhost:{port}`, which it serves), with the
    /// `X-Flash-App`, `X-Flash-Environment` and `X-Flash-Endpoint` headers on every request
    /// (what runpod 2.0's `runpod.Api(app=..., name=...)` sends). Key from `RUNPOD_API_KEY`.
    pub fn by_name(app: &str, environment: &str, resource: &str) -> Result<Self, EndpointError> {
        let base = std::env::var(flash_contract::env::RUNPOD_ENDPOINT_BASE_URL)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| config::DEFAULT_ENDPOINT_BASE_URL.to_owned());
        Self::by_name_at(dispatcher_url(&base), app, environment, resource, None)
    }

    /// [`by_name`](Self::by_name) with the dispatcher at `url` instead (the emulator's
    /// `flash_lb_host_url()` or `flash_lb_url()`, a proxy), with `key` or else `RUNPOD_API_KEY`.
    pub fn by_name_at(
        url: impl Into<String>,
        app: &str,
        environment: &str,
        resource: &str,
        key: Option<ApiKey>,
    ) -> Result<Self, EndpointError> {
        let url = url.into().trim().trim_end_matches('/').to_owned();
        let name = format!("{app}/{environment}/{resource}");
        let headers = dispatch_headers(app, environment, resource).map_err(|message| {
            EndpointError::new(&name, None, EndpointErrorKind::InvalidRequest(message))
        })?;
        Self::connect(name, url, key, headers)
    }

    fn connect(
        name: String,
        url: String,
        key: Option<ApiKey>,
        headers: Vec<(&'static str, String)>,
    ) -> Result<Self, EndpointError> {
        let invalid = |message: String| {
            EndpointError::new(&name, None, EndpointErrorKind::InvalidRequest(message))
        };
        match url::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            _ => return Err(invalid(format!("{url:?} is not an http(s) URL"))),
        }
        let peer = crate::call::http::peer();
        let key = key
            .or_else(ApiKey::from_env)
            .or_else(|| peer.config.api_key.clone())
            .ok_or_else(|| {
                invalid(format!(
                    "no API key: set {} or pass one",
                    flash_contract::env::RUNPOD_API_KEY
                ))
            })?;
        Ok(Self {
            connection: Arc::new(Connection {
                name,
                base: url,
                key,
                headers,
                http: peer.http.clone(),
                settings: Settings::default(),
            }),
        })
    }

    /// Timeout of one request (default 120 s; Runpod's load balancer allows 5.5 min).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.connection).settings.request_timeout = timeout;
        self
    }

    /// `GET {path}`.
    pub async fn get<O: DeserializeOwned>(&self, path: &str) -> Result<O, EndpointError> {
        self.request(Method::GET, path, None::<&Value>).await
    }

    /// `POST {path}` with `body` as JSON.
    pub async fn post<B: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<O, EndpointError> {
        self.request(Method::POST, path, Some(body)).await
    }

    /// `PUT {path}` with `body` as JSON.
    pub async fn put<B: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<O, EndpointError> {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// `PATCH {path}` with `body` as JSON.
    pub async fn patch<B: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<O, EndpointError> {
        self.request(Method::PATCH, path, Some(body)).await
    }

    /// `DELETE {path}`.
    pub async fn delete<O: DeserializeOwned>(&self, path: &str) -> Result<O, EndpointError> {
        self.request(Method::DELETE, path, None::<&Value>).await
    }

    /// `{method} {path}` with an optional JSON body.
    pub async fn request<B: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<O, EndpointError> {
        if !path.starts_with('/') {
            return Err(self.connection.error(
                None,
                EndpointErrorKind::InvalidRequest(format!("path {path:?} must start with '/'")),
            ));
        }
        let body = body
            .map(|body| {
                self.connection
                    .encode(body, "request body", MAX_LB_BODY_BYTES)
            })
            .transpose()?;
        let repeat = if method == Method::GET {
            Repeat::Safe
        } else {
            Repeat::Never
        };
        let answer = self
            .connection
            .send(
                method,
                path,
                body,
                None,
                self.connection.settings.request_timeout,
                repeat,
            )
            .await?;
        if !answer.status.is_success() {
            let status = answer.status.as_u16();
            // A Flash worker's failure carries its typed error; the platform's own refusals
            // (auth, missing endpoint, rate limit) keep their kinds.
            if !matches!(status, 401 | 403 | 404 | 429)
                && let Ok(wire) = serde_json::from_str::<WireError>(&answer.text)
            {
                return Err(self.connection.error(None, EndpointErrorKind::Failed(wire)));
            }
            return Err(self.connection.refusal(None, &answer));
        }
        if answer.text.trim().is_empty() {
            return serde_json::from_value(Value::Null).map_err(|error| {
                self.connection.error(
                    None,
                    EndpointErrorKind::Decode(format!("an empty body: {error}")),
                )
            });
        }
        serde_json::from_str(&answer.text).map_err(|error| {
            self.connection.error(
                None,
                EndpointErrorKind::Decode(format!("the response body: {error}")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispatcher_is_the_flash_subdomain_of_the_endpoint_base_host() {
        assert_eq!(
            dispatcher_url(config::DEFAULT_ENDPOINT_BASE_URL),
            "https://flash.api.runpod.ai"
        );
        assert_eq!(
            dispatcher_url("https://api.example.com:8443/v2/"),
            "https://flash.api.example.com:8443"
        );
        // A local Runpod: the emulator's base URL, and a base named `localhost`.
        for base in [
            "http://127.0.0.1:8080/v2/",
            "http://[::1]:8080/v2",
            "http://localhost:8080/v2",
        ] {
            assert_eq!(
                dispatcher_url(base),
                "http://flash.localhost:8080",
                "{base}"
            );
        }
    }
}
