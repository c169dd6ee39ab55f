//! A `pub` function in one module, called from another through a `use` (which imports the
//! function and its handle type together).

mod workers {
    use runpod_flash::{FlashError, Resource, remote};

    pub const GPU: Resource = Resource::queue("gpu");

    #[remote(GPU)]
    pub async fn double(x: i64) -> Result<i64, FlashError> {
        Ok(x * 2)
    }

    pub(crate) mod nested {
        use runpod_flash::{FlashError, remote};

        #[remote(super::GPU)]
        pub(crate) async fn triple(x: i64) -> Result<i64, FlashError> {
            Ok(x * 3)
        }
    }
}

mod app {
    use crate::workers::double;
    use crate::workers::nested::triple;
    use runpod_flash::FlashError;

    pub async fn six_times(x: i64) -> Result<i64, FlashError> {
        triple(double(x).await?).await
    }

    pub fn module_of_double() -> &'static str {
        <double as runpod_flash::call::RemoteFunction>::META.module_path()
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(app::six_times(7)).unwrap(), 42);
    assert!(app::module_of_double().ends_with("::workers"));
}
