//! `flash run`: the app on a local Runpod, through the production code path.
//!
//! Build the app, start an embedded emulator, `flash deploy` to it (the same code that deploys
//! to Runpod, pointed at loopback URLs), print the endpoints, stream the workers' logs. With a
//! command after `--`, run the app's own binary as a caller with those arguments (its calls go
//! to the deployed endpoints), then stop everything and exit with its status; without one,
//! serve until Ctrl-C.

use std::io::Write;
use std::process::ExitCode;

use flash_contract::env;
use flash_emulator::{Emulator, EmulatorHandle};

use std::sync::Arc;

use crate::build::{BuildOptions, BuildOutput, build_with_progress};
use crate::deploy::{DeployOptions, DeployReport, deploy_with_progress};
use crate::progress::Progress;
use crate::project::Project;

/// Settings of `flash run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How to build (`flash run` defaults to the dev profile: fast to compile). Its `target`
    /// is not used: the emulator's workers run on this machine, so the app is built for the
    /// host ([`HOST_TARGET`](crate::build::HOST_TARGET)).
    pub build: BuildOptions,
    /// App name (default: the package name).
    pub app: Option<String>,
    /// Environment name.
    pub env: String,
    /// Emulator port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// What runs the Flash-for-Rust images' boot step; `None` lets the emulator find
    /// `flash-boot` ([`flash_emulator::EmulatorBuilder::boot_command`]). The `flash` command
    /// passes itself (`flash boot`).
    pub boot: Option<flash_emulator::BootCommand>,
}

/// Why `flash run` stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Building failed.
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    /// The emulator could not start.
    #[error("cannot start the local Runpod emulator: {0}")]
    Emulator(#[from] flash_emulator::EmulatorError),
    /// Deploying to the emulator failed.
    #[error(transparent)]
    Deploy(#[from] crate::deploy::DeployError),
    /// The caller command could not be started.
    #[error("cannot run {binary}: {source}")]
    Caller {
        /// The app binary.
        binary: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The build step was cancelled or panicked.
    #[error("the build step did not finish: {0}")]
    Join(String),
}

/// An app built and deployed to an embedded emulator.
#[derive(Debug)]
pub struct LocalApp {
    /// The local Runpod.
    pub emulator: EmulatorHandle,
    /// What the deploy did.
    pub report: DeployReport,
    /// What the build made.
    pub built: BuildOutput,
    project: Project,
    build_options: BuildOptions,
    deploy_options: DeployOptions,
}

/// Builds for this machine (the emulator's workers run here), off the async runtime.
async fn build_here(
    project: &Project,
    build_options: &BuildOptions,
    progress: &Arc<dyn Progress + Send>,
) -> Result<BuildOutput, RunError> {
    let (project, build_options, progress) =
        (project.clone(), build_options.clone(), Arc::clone(progress));
    tokio::task::spawn_blocking(move || build_with_progress(&project, &build_options, &*progress))
        .await
        .map_err(|error| RunError::Join(error.to_string()))?
        .map_err(RunError::from)
}

impl LocalApp {
    /// Builds the app at `project`, starts an emulator and deploys the app to it.
    ///
    /// # Errors
    /// [`RunError`] naming the step that failed; the emulator is stopped on failure.
    pub async fn start(project: &Project, options: &RunOptions) -> Result<Self, RunError> {
        Self::start_with_progress(project, options, Arc::new(crate::progress::Silent)).await
    }

    /// [`start`](Self::start), reporting the build's and the deploy's steps to `progress`.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn start_with_progress(
        project: &Project,
        options: &RunOptions,
        progress: Arc<dyn Progress + Send>,
    ) -> Result<Self, RunError> {
        let build_options = BuildOptions {
            target: crate::build::HOST_TARGET.to_owned(),
            zigbuild: false,
            ..options.build.clone()
        };
        let built = build_here(project, &build_options, &progress).await?;
        let mut emulator = Emulator::builder().bind(format!("127.0.0.1:{}", options.port));
        if let Some(boot) = &options.boot {
            emulator = emulator.boot_command(boot.clone());
        }
        let emulator = emulator.start().await?;
        let deploy_options = DeployOptions {
            app: options
                .app
                .clone()
                .or_else(|| built.manifest.project_name.clone())
                .unwrap_or_else(|| "app".into()),
            env: options.env.clone(),
            api_base_url: emulator.api_base_url().to_owned(),
            endpoint_base_url: emulator.endpoint_base_url(),
            lb_url_template: emulator.lb_url_template(),
            rest_api_url: emulator.rest_api_url(),
            api_key: Some(emulator.api_key().clone()),
        };
        match deploy_with_progress(project, &deploy_options, &*progress).await {
            Ok(report) => Ok(Self {
                emulator,
                report,
                built,
                project: project.clone(),
                build_options,
                deploy_options,
            }),
            Err(error) => {
                emulator.shutdown().await;
                Err(error.into())
            }
        }
    }

    /// Builds the app again and deploys it to the same emulator with the same deploy code: the
    /// endpoints keep their ids, URLs and key, and only resources whose build or configuration
    /// changed roll to new workers. On failure nothing is deployed and the last good build
    /// keeps serving.
    ///
    /// # Errors
    /// [`RunError::Build`] (the compiler's errors) or [`RunError::Deploy`].
    pub async fn rebuild(
        &mut self,
        progress: Arc<dyn Progress + Send>,
    ) -> Result<&DeployReport, RunError> {
        let built = build_here(&self.project, &self.build_options, &progress).await?;
        let report = deploy_with_progress(&self.project, &self.deploy_options, &*progress).await?;
        self.built = built;
        self.report = report;
        Ok(&self.report)
    }

    /// The app's project.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The cargo target directory the build was given, if any.
    pub fn target_dir(&self) -> Option<std::path::PathBuf> {
        self.build_options.target_dir.clone()
    }

    /// The app's binary, set up as a caller of the deployed endpoints.
    pub fn caller(&self, args: &[String]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.built.binary);
        command
            .args(args)
            .current_dir(&self.project.root)
            .env_remove(env::FLASH_RESOURCE_NAME)
            .env_remove(env::RUNPOD_ENDPOINT_ID)
            .env(env::RUNPOD_API_BASE_URL, self.emulator.api_base_url())
            .env(
                env::RUNPOD_ENDPOINT_BASE_URL,
                self.emulator.endpoint_base_url(),
            )
            .env(env::RUNPOD_API_KEY, self.emulator.api_key().expose())
            .env(env::FLASH_ENVIRONMENT_ID, &self.report.environment_id)
            .env(env::FLASH_MANIFEST_PATH, self.project.manifest_path())
            .kill_on_drop(true);
        command
    }

    /// Streams the workers' log lines to stderr, prefixed by endpoint and worker.
    pub fn stream_logs(&self) -> tokio::task::JoinHandle<()> {
        let mut lines = self.emulator.subscribe_logs();
        tokio::spawn(async move {
            loop {
                match lines.recv().await {
                    Ok(line) => say(&format!(
                        "[{}/{}] {}",
                        line.endpoint_name, line.worker_id, line.line
                    )),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        say(&format!("[flash run] {missed} log lines dropped"));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Stops every worker and the emulator.
    pub async fn stop(self) {
        self.emulator.shutdown().await;
    }

    fn print_endpoints(&self) {
        say(&format!(
            "local Runpod: GraphQL {} | endpoints {} | key {}",
            self.emulator.graphql_url(),
            self.emulator.endpoint_base_url(),
            self.emulator.api_key().expose()
        ));
        say(&format!("console: {}", self.emulator.console_url()));
        for endpoint in &self.report.endpoints {
            let kind = if endpoint.load_balanced {
                "load-balanced"
            } else {
                "queue"
            };
            say(&format!(
                "  {:<40} {:<14} {}",
                endpoint.resource, kind, endpoint.url
            ));
        }
    }
}

/// Runs the app at `project` on an embedded emulator; see the [module docs](self). `command`
/// holds the arguments of a caller run; empty, it serves until Ctrl-C, and with `watch`
/// rebuilds and redeploys on every source change meanwhile ([`crate::watch`]). The build and
/// deploy report to `progress`.
///
/// # Errors
/// [`RunError`] naming the step that failed.
pub async fn run(
    project: &Project,
    options: &RunOptions,
    command: &[String],
    logs: bool,
    watch: bool,
    progress: Arc<dyn Progress + Send>,
) -> Result<ExitCode, RunError> {
    let mut stop = crate::signals::StopSignals::listen();
    let mut app = tokio::select! {
        app = LocalApp::start_with_progress(project, options, Arc::clone(&progress)) => app?,
        // Whatever had started is stopped as its parts are dropped (workers killed, the
        // temporary state removed).
        () = stop.requested() => return Ok(ExitCode::from(130)),
    };
    let logs = logs.then(|| app.stream_logs());
    app.print_endpoints();
    let outcome = if command.is_empty() {
        say("serving; press Ctrl-C to stop");
        if watch {
            tokio::select! {
                () = stop.requested() => {}
                () = crate::watch::watch(&mut app, progress, say) => {}
            }
        } else {
            stop.requested().await;
        }
        Ok(ExitCode::SUCCESS)
    } else {
        let mut caller = app.caller(command);
        caller.kill_on_drop(true);
        let status = match caller.spawn() {
            Ok(mut child) => tokio::select! {
                status = child.wait() => status,
                () = stop.requested() => {
                    say("stopping");
                    let _ = child.kill().await;
                    child.wait().await
                }
            },
            Err(source) => Err(source),
        };
        match status {
            Ok(status) => Ok(match status.code() {
                Some(0) => ExitCode::SUCCESS,
                Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                None => ExitCode::FAILURE,
            }),
            Err(source) => Err(RunError::Caller {
                binary: app.built.binary.display().to_string(),
                source,
            }),
        }
    };
    app.stop().await;
    if let Some(logs) = logs {
        logs.abort();
    }
    outcome
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
