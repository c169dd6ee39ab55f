//! Per-worker state: built once at cold start, shared by the functions that take it.
//!
//! The Rust counterpart of Python Flash's class endpoints. A type implementing [`WorkerState`]
//! (a loaded model, a connection pool) is built the first time a function needs it, once per
//! process, and every `#[remote]` function that takes it as a `#[state]` parameter gets a
//! `&'static` reference. Callers do not pass it: the stub's signature leaves it out.
//!
//! ```
//! use runpod_flash::{remote, FlashError, Resource, WorkerState};
//!
//! const GPU: Resource = Resource::queue("doc-model");
//!
//! struct Model {
//!     vocabulary: Vec<String>,
//! }
//!
//! impl WorkerState for Model {
//!     async fn init() -> Result<Self, runpod_flash::BoxError> {
//!         Ok(Model { vocabulary: vec!["hello".into(), "world".into()] })
//!     }
//! }
//!
//! #[remote(GPU)]
//! async fn word(#[state] model: &Model, index: usize) -> Result<Option<String>, FlashError> {
//!     Ok(model.vocabulary.get(index).cloned())
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // No manifest here, so the call runs locally; the caller never passes the model.
//! assert_eq!(word(1).await.unwrap().as_deref(), Some("world"));
//! # });
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::error::{FlashError, WorkerStateError};

/// A boxed error, for [`WorkerState::init`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// State built once per worker process; see the [module docs](self).
pub trait WorkerState: Send + Sync + Sized + 'static {
    /// Builds the state. Called at most once per process (again only after a failure).
    fn init() -> impl Future<Output = Result<Self, BoxError>> + Send;
}

type Cell = Arc<OnceCell<&'static (dyn Any + Send + Sync)>>;

static STATES: Mutex<Option<HashMap<TypeId, Cell>>> = Mutex::new(None);

/// The process's `T`, built on first use.
///
/// # Errors
/// [`WorkerStateError`] naming the type when `T::init` fails; the next call tries again.
pub async fn get<T: WorkerState>() -> Result<&'static T, FlashError> {
    let cell = {
        let mut states = STATES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(
            states
                .get_or_insert_with(HashMap::new)
                .entry(TypeId::of::<T>())
                .or_default(),
        )
    };
    let state = cell
        .get_or_try_init(|| async {
            let state = T::init().await.map_err(|error| WorkerStateError {
                state: std::any::type_name::<T>(),
                message: error.to_string(),
            })?;
            // Lives as long as the worker process, like a Python class endpoint's instance.
            let leaked: &'static T = Box::leak(Box::new(state));
            Ok::<_, FlashError>(leaked as &'static (dyn Any + Send + Sync))
        })
        .await?;
    state.downcast_ref::<T>().ok_or_else(|| {
        WorkerStateError {
            state: std::any::type_name::<T>(),
            message: "stored state has another type".into(),
        }
        .into()
    })
}
