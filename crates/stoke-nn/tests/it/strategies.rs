//! The bounded inputs of the property tests, small enough that each case runs in
//! milliseconds.

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Few cases: each one builds tensors and, for some laws, a network.
pub fn few_cases() -> Config {
    Config::with_cases(12)
}

/// An image grid: `(batch, channels, patch, rows, cols)`, the image being
/// `rows patch x cols patch` pixels.
pub fn grid() -> impl Strategy<Value = (usize, usize, usize, usize, usize)> {
    (1usize..=3, 1usize..=3, 1usize..=4, 1usize..=4, 1usize..=4)
}

/// A sequence length and a position in it: `(seq, j)` with `1 <= j < seq`.
pub fn sequence_and_position() -> impl Strategy<Value = (usize, usize)> {
    (2usize..=9).prop_flat_map(|seq| (Just(seq), 1..seq))
}

/// A sequence length and one valid length per row, each in `1..=seq`.
pub fn padded_rows() -> impl Strategy<Value = (usize, Vec<usize>)> {
    (2usize..=8).prop_flat_map(|seq| (Just(seq), proptest::collection::vec(1..=seq, 1..=3)))
}
