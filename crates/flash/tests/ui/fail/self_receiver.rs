use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

struct Model;

impl Model {
    #[remote(GPU)]
    async fn infer(&self, prompt: String) -> Result<String, FlashError> {
        Ok(prompt)
    }
}

fn main() {
    let _ = Model.infer(String::new());
}
