//! Streaming and long jobs on queue endpoints:
//!
//! - `generate` (endpoint `generator`) produces a text a token at a time and streams each token
//!   to its caller as it is produced (`runpod_flash::worker::stream`); its result is all the
//!   tokens, as the runpod SDK's `return_aggregate_stream` makes it;
//! - `render` (endpoint `renderer`) is a long job that reports its progress after every frame
//!   (`runpod_flash::worker::progress`, the SDK's `progress_update`).
//!
//! As a caller: `flash-example-streaming stream PROMPT` prints tokens as they arrive;
//! `flash-example-streaming render FRAMES [WEBHOOK_URL]` follows the job's progress.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use runpod_flash::client::{QueueEndpoint, RunOptions};
use runpod_flash::{FlashError, Resource, remote};
use serde::{Deserialize, Serialize};
use serde_json::json;

const GENERATOR: Resource = Resource::queue("generator")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 1);
const RENDERER: Resource = Resource::queue("renderer")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 1);

/// Time to "think" before each token: enough for a caller to see tokens arrive one by one.
const TOKEN_PAUSE: Duration = Duration::from_millis(100);
/// Time to render one frame.
const FRAME_PAUSE: Duration = Duration::from_millis(200);

/// The text a prompt gets: its words echoed back, counted, up to `max_tokens` tokens.
fn tokens(prompt: &str, max_tokens: u32) -> Vec<String> {
    prompt
        .split_whitespace()
        .cycle()
        .enumerate()
        .map(|(i, word)| format!("{word}#{i} "))
        .take(usize::try_from(max_tokens).unwrap_or(usize::MAX))
        .collect()
}

/// Generates up to `max_tokens` tokens for `prompt`, streaming each as it is produced.
#[remote(GENERATOR)]
pub async fn generate(prompt: String, max_tokens: u32) -> Result<Vec<String>, FlashError> {
    let all = tokens(&prompt, max_tokens);
    for token in &all {
        tokio::time::sleep(TOKEN_PAUSE).await;
        runpod_flash::worker::stream(token).await?;
    }
    Ok(all)
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

async fn stream(prompt: String) -> Result<(), FlashError> {
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
        Some("stream") => {
            stream(
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
            eprintln!("usage: flash-example-streaming stream PROMPT | render FRAMES [WEBHOOK_URL]");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_echo_the_prompt_up_to_the_limit() {
        assert_eq!(tokens("a b", 3), ["a#0 ", "b#1 ", "a#2 "]);
        assert!(tokens("", 3).is_empty());
    }
}
