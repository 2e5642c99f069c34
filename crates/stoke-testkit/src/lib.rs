//! Test support shared by Stoke's crates: the hostile inputs every crate's fuzz-style
//! property test draws from (floats a careless caller might pass, sizes from zero to
//! `usize::MAX`) and brute-force references. Only a dev-dependency; it depends on nothing but
//! `proptest`, so `stoke-data`'s tests stay free of Burn.

use proptest::prelude::*;

/// NaN, both infinities, zeros of both signs and the extremes of `f64`, each now and then,
/// and ordinary values half of the time (so that a call with several arguments often gets
/// past its checks).
pub fn hostile_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(1e300),
        1 => Just(-1e300),
        1 => Just(1e-300),
        3 => -5.0..5.0,
        3 => 0.0..1.0,
        2 => 0.0..100.0,
    ]
}

/// Small sizes most of the time; now and then zero or a size no allocation could hold
/// (`limit + 1`, `2^40`, `usize::MAX`), where `limit` is the largest size the caller's API
/// accepts.
pub fn hostile_size(limit: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        12 => 1usize..9,
        1 => Just(limit.saturating_add(1)),
        1 => Just(1usize << 40),
        1 => Just(usize::MAX)
    ]
}

/// Every permutation of `0..n` (n! of them): the brute-force reference for optimal
/// assignments.
pub fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}
