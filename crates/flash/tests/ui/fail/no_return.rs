use runpod_flash::{Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn fire(prompt: String) {
    let _ = prompt;
}

fn main() {
    let _ = fire(String::new());
}
