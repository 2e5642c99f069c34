//! Bounded proptest strategies shared by the tests.

use proptest::prelude::*;

/// Label vectors with a few classes, some of them rare or absent.
pub fn labels() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..12, 0..400)
}

/// Test fractions away from the excluded ends 0 and 1.
pub fn test_fraction() -> impl Strategy<Value = f64> {
    0.01f64..0.99
}
