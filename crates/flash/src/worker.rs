//! The worker runtime: the same binary that calls `#[remote]` functions serves them on Runpod.
//!
//! A user's `main` starts with [`serve_if_worker`]:
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
//!         return exit;
//!     }
//!     // Not a worker: run as a plain caller (a CLI, a script, a test driver).
//!     std::process::ExitCode::SUCCESS
//! }
//! ```
//!
//! With `FLASH_RESOURCE_NAME` set, the process serves that resource's functions and never
//! returns to the caller code:
//! - a queue resource with `RUNPOD_WEBHOOK_GET_JOB` set speaks Runpod's worker protocol (job-take
//!   long polls, job-done, heartbeat, job-stop) with as many jobs at once as the resource's
//!   `max_concurrency`;
//! - a queue resource without it serves a local test API (`POST /run`, `/runsync`,
//!   `/status/{id}`, `GET /health`) on `FLASH_WORKER_PORT` (default 8000), for trying one worker
//!   with curl;
//! - a load-balanced resource (manifest `is_load_balanced`, or `FLASH_ENDPOINT_TYPE=lb`) serves
//!   its functions as HTTP routes on `PORT` and `/ping` on `PORT_HEALTH`.
//!
//! Listeners bind `FLASH_BIND_ADDRESS` when it is set (the emulator sets `127.0.0.1`); otherwise
//! the load-balanced server binds all interfaces (Runpod's router reaches it from outside the
//! container) and the local test API binds `127.0.0.1`.
//!
//! Before serving, the worker checks that the manifest and the compiled functions agree for its
//! resource and exits non-zero listing every difference. SIGTERM or Ctrl-C stops taking work,
//! lets running jobs finish (failing, not dropping, those still running after a grace period)
//! and exits.
//!
//! With `FLASH_DESCRIBE=1` (what `flash build` uses) it prints the compiled functions as JSON
//! and exits.

mod boot;
mod describe;
mod dispatch;
mod lb;
mod local_api;
mod queue;
mod report;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tokio::sync::watch;

pub use boot::{BootError, check_boot, find_program};
pub use describe::{describe, describe_json};
pub(crate) use dispatch::stream_and_collect;
pub use dispatch::{FunctionTable, JobError};
pub use lb::{Readiness, health_router, router as lb_router};
pub use local_api::router as local_api_router;
pub use queue::{JobPlane, run as run_queue_worker};
pub use report::{progress, stream};

use crate::http_server;
use crate::manifest::{Manifest, discover};
use flash_contract::env;

/// Serves this process's resource when it is a worker; `None` when it is not (no
/// `FLASH_RESOURCE_NAME` and no `FLASH_DESCRIBE`), so the caller's own code runs.
pub async fn serve_if_worker() -> Option<ExitCode> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if var(env::FLASH_DESCRIBE).is_some_and(|v| v != "0") {
        // Piped to `flash build`; a closed pipe is the reader's problem, not ours.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), describe_json().as_bytes());
        return Some(ExitCode::SUCCESS);
    }
    let resource = var(env::FLASH_RESOURCE_NAME)?;
    init_logging();
    Some(match serve(&resource).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("worker for resource `{resource}` failed: {error}");
            eprintln_safe(&format!("flash worker `{resource}`: {error}"));
            ExitCode::from(2)
        }
    })
}

/// Logs to stderr (`RUST_LOG`, default `info`) unless the application installed a subscriber.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Writes to stderr without panicking when it is closed.
fn eprintln_safe(line: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{line}\n").as_bytes());
}

/// Why a worker could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The manifest could not be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] crate::error::ManifestError),
    /// The manifest and the compiled functions disagree.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// A worker state failed to initialize.
    #[error("warming up: {0}")]
    Warm(#[from] crate::FlashError),
    /// A listener could not be bound or failed.
    #[error("{what} on {addr}: {source}")]
    Listen {
        /// Which listener.
        what: &'static str,
        /// Its address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `FLASH_BIND_ADDRESS` is not an IP address.
    #[error("{}={value} is not an IP address", env::FLASH_BIND_ADDRESS)]
    BadBindAddress {
        /// Its value.
        value: String,
    },
    /// A port variable is not a port number.
    #[error("{name}={value} is not a port number")]
    BadPort {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

/// Serves `resource` as the environment says (see the [module docs](self)) until SIGTERM or
/// Ctrl-C.
///
/// # Errors
/// [`WorkerError`] when the worker cannot start.
pub async fn serve(resource: &str) -> Result<(), WorkerError> {
    let loaded = discover(None)?;
    let manifest = loaded.as_ref().map(|l| &l.manifest);
    let table = FunctionTable::for_resource(resource);
    check_boot(resource, manifest, &table)?;
    let load_balanced = is_load_balanced(resource, manifest, &table);
    let concurrency = manifest
        .and_then(|m| m.resources.get(resource))
        .and_then(|r| r.max_concurrency)
        .map(|n| n as usize)
        .or_else(|| {
            table
                .functions()
                .first()
                .map(|meta| meta.resource.concurrency() as usize)
        })
        .unwrap_or(1);
    let shutdown = shutdown_signal();

    if load_balanced {
        return serve_load_balanced(&table, shutdown).await;
    }
    table.warm().await?;
    match JobPlane::from_vars(|name| std::env::var(name).ok()) {
        Some(plane) => {
            run_queue_worker(plane, table, concurrency, shutdown).await;
            Ok(())
        }
        None => {
            let port = port_var(env::FLASH_WORKER_PORT, 8000)?;
            let addr = SocketAddr::new(bind_ip(Ipv4Addr::LOCALHOST)?, port);
            let listener = bind("local test API", addr).await?;
            tracing::info!(
                "queue worker `{resource}` (local mode): POST http://{addr}/runsync with {{\"input\": {{...}}}}"
            );
            http_server::serve(
                listener,
                local_api_router(table, concurrency),
                http_server::Limits::default(),
                wait(shutdown),
            )
            .await
            .map_err(|source| WorkerError::Listen {
                what: "local test API",
                addr,
                source,
            })
        }
    }
}

fn is_load_balanced(resource: &str, manifest: Option<&Manifest>, table: &FunctionTable) -> bool {
    if std::env::var(env::FLASH_ENDPOINT_TYPE).is_ok_and(|t| t.eq_ignore_ascii_case("lb")) {
        return true;
    }
    manifest
        .and_then(|m| m.resources.get(resource))
        .map(|r| r.load_balanced())
        .or_else(|| {
            table
                .functions()
                .first()
                .map(|meta| meta.resource.is_load_balanced())
        })
        .unwrap_or(false)
}

async fn serve_load_balanced(
    table: &FunctionTable,
    shutdown: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let port = port_var("PORT", 80)?;
    let health_port = port_var("PORT_HEALTH", port)?;
    let readiness = Readiness::default();
    let app = lb_router(table);
    // All interfaces by default: Runpod's router reaches the worker from outside its container.
    let ip = bind_ip(Ipv4Addr::UNSPECIFIED)?;
    let addr = SocketAddr::new(ip, port);
    let listener = bind("load-balanced server", addr).await?;
    let health = if health_port == port {
        None
    } else {
        let health_addr = SocketAddr::new(ip, health_port);
        let listener = bind("health server", health_addr).await?;
        Some(tokio::spawn(http_server::serve(
            listener,
            health_router(readiness.clone()),
            http_server::Limits::default(),
            wait(shutdown.clone()),
        )))
    };
    let app = if health.is_none() {
        app.merge(health_router(readiness.clone()))
    } else {
        app
    };
    let server = tokio::spawn(http_server::serve(
        listener,
        app,
        http_server::Limits::default(),
        wait(shutdown),
    ));
    // Listening already, so the load balancer sees 204 while the state warms up.
    table.warm().await?;
    readiness.set_ready();
    tracing::info!(
        resource = table.resource(),
        port,
        health_port,
        "load-balanced worker ready"
    );
    let served = server.await;
    if let Some(health) = health {
        let _ = health.await;
    }
    match served {
        Ok(result) => result.map_err(|source| WorkerError::Listen {
            what: "load-balanced server",
            addr,
            source,
        }),
        Err(join) => Err(WorkerError::Listen {
            what: "load-balanced server",
            addr,
            source: std::io::Error::other(join.to_string()),
        }),
    }
}

async fn bind(
    what: &'static str,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, WorkerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WorkerError::Listen { what, addr, source })
}

/// `FLASH_BIND_ADDRESS` when set (the emulator sets `127.0.0.1`), else `default`.
fn bind_ip(default: Ipv4Addr) -> Result<IpAddr, WorkerError> {
    match std::env::var(env::FLASH_BIND_ADDRESS) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| WorkerError::BadBindAddress { value }),
        _ => Ok(IpAddr::V4(default)),
    }
}

fn port_var(name: &'static str, default: u16) -> Result<u16, WorkerError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| WorkerError::BadPort { name, value }),
        _ => Ok(default),
    }
}

/// Turns true on SIGTERM or Ctrl-C.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(error) => {
                        tracing::warn!("cannot listen for SIGTERM: {error}");
                        let _ = ctrl_c.await;
                        let _ = sender.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("stop signal received");
        let _ = sender.send(true);
    });
    receiver
}

async fn wait(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
