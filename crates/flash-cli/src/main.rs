//! The `flash` command.

fn main() {}
