//! Random ids and keys in Runpod's shapes.

use rand::Rng;

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `len` random lowercase alphanumerics (Runpod endpoint ids look like `abc123xyz0`).
pub(crate) fn short(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect()
}

/// A random UUIDv4-shaped string.
pub(crate) fn uuid() -> String {
    let b: [u8; 16] = rand::rng().random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// An endpoint key (`aiKey`), the secret workers send back on the job plane.
pub(crate) fn ai_key() -> String {
    format!("rpa_{}", short(40).to_uppercase())
}
