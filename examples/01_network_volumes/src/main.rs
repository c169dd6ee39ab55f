//! Shared storage between endpoints: a queue worker renders images (SVG, viewable in any
//! browser) onto a network volume; a load-balanced endpoint that mounts the same volume lists
//! them (`GET /images`) and serves them (`GET /images/{file_name}`). No cross-endpoint calls:
//! the volume is the shared state.
//!
//! As a caller: `flash-example-network-volumes generate "a red circle"` then `... list` and
//! `... show FILE`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;

use runpod_flash::resource::{GpuGroup, Volume};
use runpod_flash::{Error, Resource, remote};
use serde::{Deserialize, Serialize};

const VOLUMES: &[Volume] = &[Volume::new("flash-volume", 50, "EU-RO-1")];
const RENDERER: Resource = Resource::queue("volume_renderer")
    .gpu(&[GpuGroup::Ada24])
    .datacenters(&["EU-RO-1"])
    .volumes(VOLUMES)
    .workers(0, 3);
const GALLERY: Resource = Resource::load_balanced("volume_gallery")
    .cpu(&["cpu3c-1-2"])
    .datacenters(&["EU-RO-1"])
    .volumes(VOLUMES)
    .workers(1, 3);

/// Storage failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum VolumeError {
    /// The volume could not be read or written.
    #[error("volume I/O on {path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What the OS said.
        message: String,
    },
    /// No such image.
    #[error("no image named {0}")]
    NotFound(String),
    /// A name that would leave the images directory.
    #[error("invalid image name {0:?}")]
    BadName(String),
}

fn images_dir() -> std::path::PathBuf {
    runpod_flash::volume::path().join("images")
}

fn io_error(path: &std::path::Path, error: &std::io::Error) -> Error<VolumeError> {
    Error::App(VolumeError::Io {
        path: path.display().to_string(),
        message: error.to_string(),
    })
}

/// A stored image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// File name on the volume.
    pub file_name: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Renders `prompt` into an SVG on the volume (queue worker).
#[remote(RENDERER)]
pub async fn generate_image(prompt: String) -> Result<ImageInfo, Error<VolumeError>> {
    let hash = prompt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let hue = hash % 360;
    let escaped = prompt
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"512\" height=\"512\">\
         <rect width=\"512\" height=\"512\" fill=\"hsl({hue},70%,85%)\"/>\
         <circle cx=\"256\" cy=\"220\" r=\"{}\" fill=\"hsl({},70%,45%)\"/>\
         <text x=\"256\" y=\"460\" font-size=\"28\" text-anchor=\"middle\" font-family=\"sans-serif\">{escaped}</text></svg>\n",
        60 + hash % 100,
        (hue + 180) % 360
    );
    let dir = images_dir();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| io_error(&dir, &e))?;
    let file_name = format!("image-{hash:016x}.svg");
    let path = dir.join(&file_name);
    tokio::fs::write(&path, svg.as_bytes())
        .await
        .map_err(|e| io_error(&path, &e))?;
    Ok(ImageInfo {
        file_name,
        bytes: svg.len() as u64,
    })
}

/// `GET /images`: every image on the volume (load-balanced).
#[remote(GALLERY, method = "GET", path = "/images")]
pub async fn list_images() -> Result<Vec<ImageInfo>, Error<VolumeError>> {
    let dir = images_dir();
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(&dir, &error)),
    };
    let mut images = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(|e| io_error(&dir, &e))? {
        let bytes = entry.metadata().await.map(|m| m.len()).unwrap_or(0);
        images.push(ImageInfo {
            file_name: entry.file_name().to_string_lossy().into_owned(),
            bytes,
        });
    }
    images.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(images)
}

/// `GET /images/{file_name}`: one image's SVG text (load-balanced).
#[remote(GALLERY, method = "GET", path = "/images/{file_name}")]
pub async fn get_image(file_name: String) -> Result<String, Error<VolumeError>> {
    if file_name.contains('/') || file_name.contains("..") || file_name.is_empty() {
        return Err(Error::App(VolumeError::BadName(file_name)));
    }
    let path = images_dir().join(&file_name);
    match tokio::fs::read_to_string(&path).await {
        Ok(svg) => Ok(svg),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::App(VolumeError::NotFound(file_name)))
        }
        Err(error) => Err(io_error(&path, &error)),
    }
}

async fn drive(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    match args {
        [command, words @ ..] if command == "generate" && !words.is_empty() => {
            let info = generate_image(words.join(" ")).await?;
            println!("stored {} ({} bytes)", info.file_name, info.bytes);
        }
        [command] if command == "list" => {
            for image in list_images().await? {
                println!("{} ({} bytes)", image.file_name, image.bytes);
            }
        }
        [command, name] if command == "show" => println!("{}", get_image(name.clone()).await?),
        [command] if command == "demo" => {
            let info = generate_image("a shared volume".into()).await?;
            println!("generated {}", info.file_name);
            let listed = list_images().await?;
            println!("the gallery sees {} image(s)", listed.len());
            let svg = get_image(info.file_name).await?;
            println!("served {} bytes of SVG", svg.len());
        }
        _ => {
            return Err(
                "usage: flash-example-network-volumes generate PROMPT | list | show FILE | demo"
                    .into(),
            );
        }
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
