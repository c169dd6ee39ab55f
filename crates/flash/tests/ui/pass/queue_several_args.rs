//! A queue function with several arguments, called locally (there is no manifest).

use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu").workers(0, 3);

#[remote(GPU)]
pub async fn infer(
    prompt: String,
    n: u32,
    temperature: Option<f32>,
    mut stop: Vec<String>,
) -> Result<Vec<String>, FlashError> {
    stop.push(format!("{temperature:?}"));
    Ok(std::iter::repeat_n(prompt, n as usize).chain(stop).collect())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = runtime
        .block_on(infer("hi".into(), 2, None, vec!["end".into()]))
        .unwrap();
    assert_eq!(out, ["hi", "hi", "end", "None"]);
    let meta = <infer as runpod_flash::call::RemoteFunction>::META;
    assert_eq!(meta.params(), ["prompt", "n", "temperature", "stop"]);
    assert_eq!(meta.resource().name(), "gpu");
}
