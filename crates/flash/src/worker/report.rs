//! What a running queue job tells its callers before its result: progress and streamed items.

use serde::Serialize;
use serde_json::Value;

use super::queue;
use crate::FlashError;
use crate::error::{Direction, SerializationError};

/// Reports the progress of the queue job this task runs: Runpod shows `value` as the job's
/// `output` while it is `IN_PROGRESS` (the runpod SDK's `progress_update`; a caller reads it
/// with [`JobStatus::progress`](crate::client::JobStatus::progress)).
///
/// Outside a queue job (a local call, a load-balanced route) there is no job to report on and
/// it does nothing. A report the platform does not take is logged, not returned: progress is
/// advisory and the job goes on. Returns an error only when `value` cannot be encoded.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// runpod_flash::worker::progress(&serde_json::json!({"percent": 50})).await?;
/// # Ok::<(), runpod_flash::FlashError>(()) }).unwrap();
/// ```
pub async fn progress<P: Serialize + ?Sized>(value: &P) -> Result<(), FlashError> {
    queue::reports::progress(encode(value, "progress")?).await;
    Ok(())
}

/// Streams `item` to the callers of the queue job this task runs, as a runpod SDK generator
/// handler's yield: it is posted to job-stream at once, and `GET /stream/{id}` returns it
/// ([`Job::stream`](crate::client::Job::stream), the runpod SDK's `Job.stream()`). The job's
/// result is still what the function returns; return the items too to mirror the SDK's
/// `return_aggregate_stream`.
///
/// Outside a queue job it does nothing. A chunk the platform does not take is logged, not
/// returned. Returns an error only when `item` cannot be encoded.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// for token in ["Hel", "lo"] {
///     runpod_flash::worker::stream(token).await?;
/// }
/// # Ok::<(), runpod_flash::FlashError>(()) }).unwrap();
/// ```
pub async fn stream<T: Serialize + ?Sized>(item: &T) -> Result<(), FlashError> {
    queue::reports::chunk(encode(item, "stream")?).await;
    Ok(())
}

fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Value, FlashError> {
    serde_json::to_value(value).map_err(|error| {
        SerializationError::Serde {
            function: what.to_owned(),
            direction: Direction::Result,
            message: error.to_string(),
        }
        .into()
    })
}
