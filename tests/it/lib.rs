//! Cross-crate integration tests live in `it/main.rs`; this library is empty.
