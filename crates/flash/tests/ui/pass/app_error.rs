//! A function whose error type carries the user's own typed error.

use std::fmt;

use runpod_flash::{Error, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum MyErr {
    Empty,
    TooLong(usize),
}

impl fmt::Display for MyErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[remote(GPU)]
async fn check(prompt: String) -> Result<usize, Error<MyErr>> {
    if prompt.is_empty() {
        return Err(Error::App(MyErr::Empty));
    }
    if prompt.len() > 5 {
        return Err(MyErr::TooLong(prompt.len())).map_err(Error::App);
    }
    Ok(prompt.len())
}

/// `?` on a library error works in a body returning `Error<E>`.
#[remote(GPU)]
async fn nested(prompt: String) -> Result<usize, Error<MyErr>> {
    Ok(check(prompt).await? * 2)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(check("abc".into())).unwrap(), 3);
    assert!(matches!(runtime.block_on(check(String::new())), Err(Error::App(MyErr::Empty))));
    assert!(matches!(
        runtime.block_on(nested("abcdefg".into())),
        Err(Error::App(MyErr::TooLong(7)))
    ));
}
