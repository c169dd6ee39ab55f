//! Mixed workers: a text classification pipeline over three endpoints.
//!
//! `classify` (a load-balanced CPU endpoint, `POST /classify`) calls, across endpoints:
//! `preprocess_text` on a CPU queue worker, `gpu_inference` on a GPU queue worker, then
//! `postprocess_results` on a second CPU queue worker. Each call is an ordinary `.await`: the
//! runtime decides, from the manifest and the State Manager, which endpoint runs it.
//!
//! Run as a caller (after `flash run` or `flash deploy`): `flash-example-mixed-workers classify
//! "some text"`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program
use std::process::ExitCode;

use runpod_flash::resource::{GpuGroup, ScalerType};
use runpod_flash::{Error, Resource, remote};
use serde::{Deserialize, Serialize};

const CPU_PREPROCESS: Resource = Resource::queue("mixed_workers_cpu")
    .cpu(&["cpu3g-2-8"])
    .workers(0, 1)
    .idle_timeout(3);
const CPU_POSTPROCESS: Resource = Resource::queue("mixed_workers_cpu_postprocess")
    .cpu(&["cpu3g-2-8"])
    .workers(0, 1)
    .idle_timeout(3);
const GPU_INFERENCE: Resource = Resource::queue("mixed_inference")
    .gpu(&[GpuGroup::Ada24])
    .workers(0, 3);
const PIPELINE: Resource = Resource::load_balanced("classify_pipeline")
    .cpu(&["cpu3c-1-2"])
    .workers(1, 3)
    .scaler(ScalerType::RequestCount, 4);

/// Why a text cannot be classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum PipelineError {
    /// Nothing left after cleaning.
    #[error("the text is empty after preprocessing")]
    EmptyText,
}

/// Cleaned text and its tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessed {
    /// Lower-cased text without punctuation.
    pub cleaned: String,
    /// Whitespace-separated tokens.
    pub tokens: Vec<String>,
}

/// Scores per label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Positive score in 0..=1.
    pub positive: f64,
    /// Negative score in 0..=1.
    pub negative: f64,
    /// Neutral score in 0..=1.
    pub neutral: f64,
}

/// The pipeline's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The winning label.
    pub label: String,
    /// Its score.
    pub confidence: f64,
    /// Every score.
    pub scores: Scores,
    /// Tokens seen.
    pub token_count: usize,
    /// Which resource ran each stage.
    pub stages: Vec<String>,
}

const POSITIVE: &[&str] = &[
    "good",
    "great",
    "love",
    "excellent",
    "happy",
    "fast",
    "amazing",
];
const NEGATIVE: &[&str] = &["bad", "terrible", "hate", "awful", "sad", "slow", "broken"];

fn here() -> String {
    std::env::var("FLASH_RESOURCE_NAME").unwrap_or_else(|_| "local".into())
}

/// Stage 1 (CPU): normalize the text.
#[remote(CPU_PREPROCESS)]
pub async fn preprocess_text(text: String) -> Result<Preprocessed, Error<PipelineError>> {
    let cleaned: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect();
    let tokens: Vec<String> = cleaned.split_whitespace().map(str::to_owned).collect();
    if tokens.is_empty() {
        return Err(Error::App(PipelineError::EmptyText));
    }
    Ok(Preprocessed {
        cleaned: tokens.join(" "),
        tokens,
    })
}

/// Stage 2 (GPU): score the tokens (a lexicon model standing in for a neural one).
#[remote(GPU_INFERENCE)]
pub async fn gpu_inference(tokens: Vec<String>) -> Result<Scores, Error<PipelineError>> {
    let count = |lexicon: &[&str]| {
        tokens
            .iter()
            .filter(|t| lexicon.contains(&t.as_str()))
            .count() as f64
    };
    let (positive, negative) = (count(POSITIVE), count(NEGATIVE));
    let total = tokens.len().max(1) as f64;
    let positive = positive / total;
    let negative = negative / total;
    Ok(Scores {
        positive,
        negative,
        neutral: (1.0 - positive - negative).max(0.0),
    })
}

/// Stage 3 (CPU): pick the label.
#[remote(CPU_POSTPROCESS)]
pub async fn postprocess_results(
    scores: Scores,
    token_count: usize,
) -> Result<Classification, Error<PipelineError>> {
    // Neutral only when the text leans neither way; otherwise the stronger side wins, with the
    // share of the sentiment words as the confidence.
    let sentiment = scores.positive + scores.negative;
    let (label, confidence) = if sentiment == 0.0 || scores.positive == scores.negative {
        ("neutral", scores.neutral)
    } else if scores.positive > scores.negative {
        ("positive", scores.positive / sentiment)
    } else {
        ("negative", scores.negative / sentiment)
    };
    Ok(Classification {
        label: label.to_owned(),
        confidence,
        scores,
        token_count,
        stages: vec![here()],
    })
}

/// The pipeline (load-balanced route): calls the three stages on their endpoints.
#[remote(PIPELINE, method = "POST", path = "/classify")]
pub async fn classify(text: String) -> Result<Classification, Error<PipelineError>> {
    let pre = preprocess_text(text).await?;
    let scores = gpu_inference(pre.tokens.clone()).await?;
    let mut result = postprocess_results(scores, pre.tokens.len()).await?;
    result.stages.insert(0, here());
    Ok(result)
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let texts: Vec<String> = match args.split_first() {
        Some((command, rest)) if command == "classify" && !rest.is_empty() => vec![rest.join(" ")],
        Some((command, _)) if command == "demo" => vec![
            "I love this, the service was fast and great!".into(),
            "Terrible experience, slow and broken.".into(),
            "The package arrived on Tuesday.".into(),
        ],
        _ => {
            eprintln!("usage: flash-example-mixed-workers classify TEXT... | demo");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for text in texts {
        match classify(text.clone()).await {
            Ok(result) => println!(
                "{text:?} -> {} ({:.2}); stages ran on: {}",
                result.label,
                result.confidence,
                result.stages.join(" -> ")
            ),
            Err(error) => {
                eprintln!("{text:?} -> error: {error}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
