//! What the registry decides for one call.

use std::fmt;
use std::sync::Arc;

/// Where a call runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// In this process: this process is the owning resource, or the function is not in the
    /// manifest, or there is no manifest.
    Local,
    /// On the peer endpoint that owns the function. Shared: the registry builds each route once
    /// per endpoint refresh and hands out references.
    Remote(Arc<RemoteRoute>),
}

/// A call to a peer endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRoute {
    /// The resource that owns the function.
    pub resource: Arc<str>,
    /// Its endpoint URL from the State Manager (`https://api.runpod.ai/v2/{id}` for queue
    /// endpoints, `https://{id}.api.runpod.ai` for load-balanced ones).
    pub endpoint_url: Arc<str>,
    /// How to call it.
    pub kind: RemoteKind,
    /// Set when the endpoint is called by name through Runpod's Flash dispatcher (then
    /// `endpoint_url` is the dispatcher's, not the endpoint's own): every request carries
    /// `X-Flash-App`, `X-Flash-Environment` and `X-Flash-Endpoint` (= `resource`).
    pub by_name: Option<Arc<ByName>>,
}

/// The names a call through the Flash dispatcher sends besides the resource's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByName {
    /// The Flash app.
    pub app: Arc<str>,
    /// Its environment.
    pub environment: Arc<str>,
}

impl RemoteRoute {
    /// The dispatcher's headers, when the endpoint is called by name.
    pub fn dispatch_headers(&self) -> Option<[(&'static str, &str); 3]> {
        use flash_contract::dispatch::{HEADER_APP, HEADER_ENDPOINT, HEADER_ENVIRONMENT};
        self.by_name.as_deref().map(|names| {
            [
                (HEADER_APP, &*names.app),
                (HEADER_ENVIRONMENT, &*names.environment),
                (HEADER_ENDPOINT, &*self.resource),
            ]
        })
    }
}

/// How a peer endpoint is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKind {
    /// Runpod's queue API: `POST {url}/runsync` with `{"input": {...}}`.
    Queue {
        /// The resource serves several functions, so the input names the one to run.
        discriminate: bool,
    },
    /// Plain HTTP: `{method} {url}{path}`.
    LoadBalanced {
        /// The route's method.
        method: HttpMethod,
        /// The route's path, possibly with `{param}` segments.
        path: Arc<str>,
    },
}

/// The HTTP methods a load-balanced function may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// GET: arguments travel in the query string.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl HttpMethod {
    /// Parses an upper-case method name as the manifest writes it.
    pub fn parse(method: &str) -> Option<Self> {
        Some(match method {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
