//! Streaming and long jobs:
//!
//! - `generate` (queue endpoint `generator`) is a streaming function: it returns a `Stream` of
//!   tokens, produced one at a time. Its callers get each token as it is produced, through the
//!   stub (`generate(prompt, n)` is a `RemoteStream`), or through Runpod's `/stream` (any
//!   client, the runpod SDK's included); the job's result is all the tokens, as the runpod SDK's
//!   `return_aggregate_stream` makes it. A prompt with the word "forbidden" fails at that token
//!   with a typed error;
//! - `chat` (load-balanced endpoint `chat`, `POST /chat`) streams the same tokens as
//!   server-sent events;
//! - `render` (endpoint `renderer`) is a long job that reports its progress after every frame
//!   (`runpod_flash::worker::progress`, the SDK's `progress_update`).
//!
//! As a caller: `flash-example-streaming stream PROMPT [--max N] [--take N] [--deadline-ms MS]
//! [--chat]` prints tokens as they arrive, one JSON line each; `flash-example-streaming render
//! FRAMES [WEBHOOK_URL]` follows the job's progress.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use runpod_flash::client::{QueueEndpoint, RunOptions};
use runpod_flash::{Error, FlashError, Resource, Stream, remote};
use serde::{Deserialize, Serialize};
use serde_json::json;

const GENERATOR: Resource = Resource::queue("generator")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 1);
const CHAT: Resource = Resource::load_balanced("chat")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 1);
const RENDERER: Resource = Resource::queue("renderer")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 1);

/// Time to "think" before each token: enough for a caller to see tokens arrive one by one.
const TOKEN_PAUSE: Duration = Duration::from_millis(100);
/// Time to render one frame.
const FRAME_PAUSE: Duration = Duration::from_millis(200);
/// The word the model refuses to say.
const REFUSED: &str = "forbidden";

/// Why a generation stopped early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum GenerateError {
    /// The text came to a word the model does not say.
    #[error("the model refuses to say {word:?}")]
    Refused {
        /// The word.
        word: String,
    },
}

/// The text a prompt gets: its words echoed back, counted, up to `max_tokens` tokens, one every
/// [`TOKEN_PAUSE`]; the word [`REFUSED`] ends it with an error.
fn tokens(
    prompt: &str,
    max_tokens: u32,
) -> impl Stream<Item = Result<String, Error<GenerateError>>> + Send + use<> {
    let words: Vec<String> = prompt.split_whitespace().map(str::to_owned).collect();
    let count = if words.is_empty() { 0 } else { max_tokens };
    futures_util::stream::iter(0..count).then(move |i| {
        let word = words[i as usize % words.len()].clone();
        async move {
            tokio::time::sleep(TOKEN_PAUSE).await;
            if word == REFUSED {
                return Err(Error::App(GenerateError::Refused { word }));
            }
            Ok(format!("{word}#{i} "))
        }
    })
}

/// Generates up to `max_tokens` tokens for `prompt`, each streamed to the caller as it is made.
#[remote(GENERATOR)]
pub fn generate(
    prompt: String,
    max_tokens: u32,
) -> impl Stream<Item = Result<String, Error<GenerateError>>> {
    tokens(&prompt, max_tokens)
}

/// [`generate`](fn@generate) on a load-balanced endpoint: `POST /chat` answers `text/event-stream`, a
/// `data:` event per token, then an `end` event (or an `error` event).
#[remote(CHAT, method = "POST", path = "/chat")]
pub fn chat(
    prompt: String,
    max_tokens: u32,
) -> impl Stream<Item = Result<String, Error<GenerateError>>> {
    tokens(&prompt, max_tokens)
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    /// Frames rendered.
    pub frames: u32,
}

/// Renders `frames` frames, reporting progress after each.
#[remote(RENDERER)]
pub async fn render(frames: u32) -> Result<Rendered, FlashError> {
    for frame in 1..=frames {
        tokio::time::sleep(FRAME_PAUSE).await;
        runpod_flash::worker::progress(&json!({"frame": frame, "of": frames})).await?;
    }
    Ok(Rendered { frames })
}

/// How `stream` reads: which endpoint, how many tokens to ask for and to take, how long to wait.
struct StreamArgs {
    prompt: String,
    max_tokens: u32,
    take: Option<usize>,
    deadline: Option<Duration>,
    chat: bool,
}

impl StreamArgs {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = Self {
            prompt: "hello stream".into(),
            max_tokens: 12,
            take: None,
            deadline: None,
            chat: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> Result<u64, String> {
                args.next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("{name} takes a number"))
            };
            match arg.as_str() {
                "--max" => parsed.max_tokens = u32::try_from(number("--max")?).unwrap_or(u32::MAX),
                "--take" => {
                    parsed.take = Some(usize::try_from(number("--take")?).unwrap_or(usize::MAX))
                }
                "--deadline-ms" => {
                    parsed.deadline = Some(Duration::from_millis(number("--deadline-ms")?));
                }
                "--chat" => parsed.chat = true,
                flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
                prompt => parsed.prompt = prompt.to_owned(),
            }
        }
        Ok(parsed)
    }
}

/// Prints each token as a JSON line with the milliseconds since the call, as it arrives; stops
/// early after `--take` tokens (cancelling the job, and waiting for that, since the program
/// exits next: a dropped stream cancels in the background).
async fn stream(args: StreamArgs) -> Result<(), Error<GenerateError>> {
    let started = Instant::now();
    let mut tokens = if args.chat {
        chat(args.prompt, args.max_tokens)
    } else {
        generate(args.prompt, args.max_tokens)
    };
    let read = async {
        let mut out = std::io::stdout();
        let mut taken = 0;
        while let Some(token) = tokens.next().await {
            let token = token?;
            let ms = started.elapsed().as_millis();
            println!("{}", json!({"token": token, "ms": ms}));
            let _ = out.flush();
            taken += 1;
            if args.take == Some(taken) {
                return Ok(true);
            }
        }
        Ok::<_, Error<GenerateError>>(false)
    };
    // The stub routes when it is first polled: inside the deadline's scope.
    let stopped_early = match args.deadline {
        Some(deadline) => runpod_flash::call::with_deadline(deadline, read).await,
        None => read.await,
    }?;
    if stopped_early {
        tokens.cancel().await;
    }
    Ok(())
}

/// The same stream through the endpoint client: the job by id, its `/stream` read directly.
async fn stream_job(prompt: String) -> Result<(), FlashError> {
    let endpoint = QueueEndpoint::of_function("generate").await?;
    let job = endpoint
        .run(&json!({"prompt": prompt, "max_tokens": 12}))
        .await?;
    let mut tokens = job.stream::<String>();
    let mut out = std::io::stdout();
    while let Some(token) = tokens.next().await {
        print!("{}", token?);
        let _ = out.flush();
    }
    println!();
    Ok(())
}

async fn follow_render(frames: u32, webhook: Option<String>) -> Result<(), FlashError> {
    let endpoint = QueueEndpoint::of_function("render").await?;
    let mut options = RunOptions::new();
    if let Some(url) = webhook {
        options = options.webhook(url);
    }
    let job = endpoint
        .run_with(&json!({"frames": frames}), &options)
        .await?;
    let mut last = None;
    loop {
        let status = job.status().await?;
        if status.status.is_final() {
            break;
        }
        if let Some(Ok(progress)) = status.progress::<serde_json::Value>()
            && last.as_ref() != Some(&progress)
        {
            println!("frame {} of {}", progress["frame"], progress["of"]);
            last = Some(progress);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done: Rendered = job.wait(Duration::from_secs(5)).await?;
    println!("rendered {} frames", done.frames);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("stream") => match StreamArgs::parse(&args[1..]) {
            Ok(parsed) => match stream(parsed).await {
                Ok(()) => Ok(()),
                Err(Error::App(GenerateError::Refused { word })) => {
                    println!("{}", json!({"refused": word}));
                    return ExitCode::from(3);
                }
                Err(Error::Flash(error)) => Err(error),
            },
            Err(why) => {
                eprintln!("{why}");
                return ExitCode::from(2);
            }
        },
        Some("stream-job") => {
            stream_job(
                args.get(1)
                    .cloned()
                    .unwrap_or_else(|| "hello stream".into()),
            )
            .await
        }
        Some("render") => {
            let frames = args.get(1).and_then(|f| f.parse().ok()).unwrap_or(5);
            follow_render(frames, args.get(2).cloned()).await
        }
        _ => {
            eprintln!(
                "usage: flash-example-streaming stream PROMPT [--max N] [--take N] \
                 [--deadline-ms MS] [--chat] | stream-job PROMPT | render FRAMES [WEBHOOK_URL]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
