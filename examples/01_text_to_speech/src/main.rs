//! Text to speech: a GPU queue worker turns text into a WAV file a person can play. The
//! synthesizer is `espeak-ng`, a system dependency the resource declares (installed here by
//! `examples/01_text_to_speech/setup.sh`; on Runpod the worker image provides it); each worker
//! checks at start that it is there.
//!
//! As a caller: `flash-example-text-to-speech say "Hello from Flash" hello.wav`, or `voices`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;

use base64::Engine;
use runpod_flash::resource::GpuGroup;
use runpod_flash::{Error, Resource, remote};
use serde::{Deserialize, Serialize};

const TTS: Resource = Resource::queue("text_to_speech_gpu")
    .gpu(&[GpuGroup::Ada24])
    .workers(0, 3)
    .idle_timeout(300)
    .system_dependencies(&["espeak-ng"]);

/// Why speech could not be made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum TtsError {
    /// Nothing to say.
    #[error("the text is empty")]
    EmptyText,
    /// The synthesizer failed.
    #[error("espeak-ng failed: {0}")]
    Synthesizer(String),
    /// The synthesizer wrote something that is not a WAV file.
    #[error("espeak-ng wrote no valid WAV: {0}")]
    BadWav(String),
}

/// A synthesized utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speech {
    /// The WAV file, base64.
    pub wav_base64: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Length in milliseconds.
    pub duration_ms: u64,
}

fn synthesizer_error(error: impl std::fmt::Display) -> Error<TtsError> {
    Error::App(TtsError::Synthesizer(error.to_string()))
}

/// Reads a WAV header: (sample rate, channels, bits per sample, data bytes).
fn wav_info(bytes: &[u8]) -> Result<(u32, u16, u16, usize), String> {
    if bytes.len() < 44 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("missing RIFF/WAVE header".into());
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (channels, rate, bits) = (u16_at(22), u32_at(24), u16_at(34));
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .ok_or("no data chunk")?;
    // espeak-ng writing to a file fills in the real size; fall back to what follows the header.
    let declared = u32_at(data + 4) as usize;
    let available = bytes.len().saturating_sub(data + 8);
    Ok((
        rate,
        channels,
        bits,
        declared.min(available).max(available.min(declared.max(1))),
    ))
}

/// Speaks `text` with `voice` (default "en") at `words_per_minute` (default 160).
#[remote(TTS)]
pub async fn generate_speech(
    text: String,
    voice: Option<String>,
    words_per_minute: Option<u32>,
) -> Result<Speech, Error<TtsError>> {
    if text.trim().is_empty() {
        return Err(Error::App(TtsError::EmptyText));
    }
    let file = std::env::temp_dir().join(format!(
        "flash-tts-{}-{}.wav",
        std::process::id(),
        text.len()
    ));
    let output = tokio::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(&file)
        .args(["-v", voice.as_deref().unwrap_or("en")])
        .args(["-s", &words_per_minute.unwrap_or(160).to_string()])
        .arg("--")
        .arg(&text)
        .output()
        .await
        .map_err(synthesizer_error)?;
    if !output.status.success() {
        return Err(synthesizer_error(
            String::from_utf8_lossy(&output.stderr).trim(),
        ));
    }
    let bytes = tokio::fs::read(&file).await.map_err(synthesizer_error)?;
    let _ = tokio::fs::remove_file(&file).await;
    let (sample_rate, channels, bits, data) =
        wav_info(&bytes).map_err(|e| Error::App(TtsError::BadWav(e)))?;
    let bytes_per_second =
        u64::from(sample_rate) * u64::from(channels) * u64::from(bits / 8).max(1);
    Ok(Speech {
        duration_ms: data as u64 * 1000 / bytes_per_second.max(1),
        wav_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        sample_rate,
        channels,
    })
}

/// The voices (languages) the worker's synthesizer offers.
#[remote(TTS)]
pub async fn get_voices() -> Result<Vec<String>, Error<TtsError>> {
    let output = tokio::process::Command::new("espeak-ng")
        .arg("--voices")
        .output()
        .await
        .map_err(synthesizer_error)?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect())
}

async fn drive(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    match args {
        [command, text, out] if command == "say" => {
            let speech = generate_speech(text.clone(), None, None).await?;
            let wav = base64::engine::general_purpose::STANDARD.decode(&speech.wav_base64)?;
            std::fs::write(out, &wav)?;
            println!(
                "wrote {out}: {} bytes, {} Hz, {} channel(s), {} ms",
                wav.len(),
                speech.sample_rate,
                speech.channels,
                speech.duration_ms
            );
        }
        [command] if command == "voices" => {
            let voices = get_voices().await?;
            println!("{} voices: {}", voices.len(), voices.join(" "));
        }
        _ => return Err("usage: flash-example-text-to-speech say TEXT OUT.wav | voices".into()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match drive(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
