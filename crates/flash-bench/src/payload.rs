//! Row 6: encoding and decoding 1 MiB and 10 MiB arguments by parameter name, as a peer call
//! does, against plain serde_json on the same value.

use std::hint::black_box;
use std::time::Instant;

// The generated code's own argument coding, measured as the stub runs it.
use runpod_flash::__private::v1::{decode_arg, encode_arg};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Row, median};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Batch {
    rows: Vec<Vec<f32>>,
    label: String,
}

fn batch(bytes: usize) -> Batch {
    // ~10 bytes of JSON per float.
    let floats = bytes / 10;
    let rows = (0..floats / 64)
        .map(|r| (0..64).map(|c| (r * 64 + c) as f32 * 0.001).collect())
        .collect();
    Batch {
        rows,
        label: "payload".into(),
    }
}

fn flash_encode(batch: &Batch) -> Vec<u8> {
    let mut args = Map::new();
    let _ = encode_arg(&mut args, "bench", "batch", batch);
    serde_json::to_vec(&Value::Object(args)).unwrap_or_default()
}

fn flash_decode(bytes: &[u8]) -> Option<Batch> {
    let mut args: Map<String, Value> = serde_json::from_slice(bytes).ok()?;
    decode_arg(&mut args, "bench", "batch").ok()
}

/// Rows for 1 MiB and 10 MiB.
pub(crate) fn measure() -> Vec<Row> {
    [1usize, 10]
        .into_iter()
        .map(|mib| {
            let value = batch(mib << 20);
            let encoded = flash_encode(&value);
            let size_mb = encoded.len() as f64 / 1e6;
            let (mut ours, mut plain) = (Vec::new(), Vec::new());
            for _ in 0..7 {
                let start = Instant::now();
                let bytes = black_box(flash_encode(black_box(&value)));
                black_box(flash_decode(&bytes));
                ours.push(start.elapsed().as_secs_f64());
                let start = Instant::now();
                let bytes = black_box(
                    serde_json::to_vec(&serde_json::json!({"batch": black_box(&value)}))
                        .unwrap_or_default(),
                );
                let decoded: Option<Value> = serde_json::from_slice(&bytes).ok();
                black_box(
                    decoded
                        .and_then(|mut v| serde_json::from_value::<Batch>(v["batch"].take()).ok()),
                );
                plain.push(start.elapsed().as_secs_f64());
            }
            let (ours, plain) = (median(&mut ours), median(&mut plain));
            Row {
                number: 6,
                measure: format!("{mib} MiB argument: encode + decode ({size_mb:.1} MB of JSON)"),
                result: format!("{:.0} MB/s", size_mb / ours),
                baseline: format!("serde_json {:.0} MB/s", size_mb / plain),
                ratio: format!("{:.2}x time", ours / plain),
                target: "report",
            }
        })
        .collect()
}
