//! Self-attention: causality, permutation equivariance, rotary relative positions, masks.

use burn::tensor::{Bool, Device, Tensor, TensorData};
use proptest::prelude::*;
use stoke_nn::attention::{
    RotaryConfig, SelfAttention, SelfAttentionConfig, Visibility, padding_mask,
};

use crate::strategies::{few_cases, padded_rows, sequence_and_position};
use crate::{floats, ints, normal, relative_gap, shared, token, with_token};

const D_MODEL: usize = 16;
const N_HEADS: usize = 4;

fn layer(visibility: Visibility, rotary: bool, device: &Device) -> SelfAttention {
    let rotary = rotary.then(|| RotaryConfig::new(32));
    SelfAttentionConfig::new(D_MODEL, N_HEADS, visibility).with_rotary(rotary).init(device).unwrap()
}

/// A mask `[1, 1, 1, seq]` hiding the keys at the given positions.
fn hide(seq: usize, hidden: impl Fn(usize) -> bool, device: &Device) -> Tensor<4, Bool> {
    let values: Vec<bool> = (0..seq).map(hidden).collect();
    Tensor::from_data(TensorData::new(values, [1, 1, 1, seq]), device)
}

/// `x` with every padded token (position `>= valid[b]` in row `b`) replaced by new draws.
pub fn repad(x: &Tensor<3>, valid: &[usize], device: &Device) -> Tensor<3> {
    let [batch, seq, d] = x.dims();
    let padded: Vec<bool> = valid
        .iter()
        .flat_map(|&len| (0..seq).flat_map(move |j| std::iter::repeat_n(j >= len, d)))
        .collect();
    let padded = Tensor::<3, Bool>::from_data(TensorData::new(padded, [batch, seq, d]), device);
    x.clone().mask_where(padded, normal([batch, seq, d], device))
}

/// The outputs at valid positions, row by row.
pub fn valid_outputs(out: Tensor<3>, valid: &[usize]) -> Vec<Vec<f32>> {
    let [_, seq, d] = out.dims();
    let values = floats(out);
    let row = |b: usize, len: usize| values[b * seq * d..(b * seq + len) * d].to_vec();
    valid.iter().enumerate().map(|(b, &len)| row(b, len)).collect()
}

proptest! {
    #![proptest_config(few_cases())]

    #[test]
    fn causal_attention_output_i_ignores_token_j_after_i(
        (seq, j) in sequence_and_position(),
        rotary in any::<bool>(),
    ) {
        let _rng = shared();
        let device = Device::flex();
        let attention = layer(Visibility::Causal, rotary, &device);
        let x = normal([2, seq, D_MODEL], &device);
        let changed = with_token(&x, j, normal([2, 1, D_MODEL], &device));
        let out = attention.forward(x, None).unwrap();
        let out_changed = attention.forward(changed, None).unwrap();
        for i in 0..j {
            prop_assert_eq!(floats(token(&out, i)), floats(token(&out_changed, i)), "i = {}", i);
        }
        // Token j itself sees the change: the law is not vacuous.
        prop_assert_ne!(floats(token(&out, j)), floats(token(&out_changed, j)));
    }

    #[test]
    fn a_padding_mask_makes_padded_tokens_irrelevant(
        (seq, valid) in padded_rows(),
        rotary in any::<bool>(),
    ) {
        let _rng = shared();
        let device = Device::flex();
        let attention = layer(Visibility::Bidirectional, rotary, &device);
        let x = normal([valid.len(), seq, D_MODEL], &device);
        let changed = repad(&x, &valid, &device);
        let hidden = padding_mask(&valid, seq, &device).unwrap();
        let out = attention.forward(x.clone(), Some(hidden.clone())).unwrap();
        let out_changed = attention.forward(changed.clone(), Some(hidden)).unwrap();
        prop_assert_eq!(valid_outputs(out, &valid), valid_outputs(out_changed, &valid));
        // Without the mask the padding is seen: the law is not vacuous.
        if valid.iter().any(|&len| len < seq) {
            let out = attention.forward(x, None).unwrap();
            let out_changed = attention.forward(changed, None).unwrap();
            prop_assert_ne!(valid_outputs(out, &valid), valid_outputs(out_changed, &valid));
        }
    }
}

#[test]
fn bidirectional_attention_without_positions_is_permutation_equivariant() {
    let _rng = shared();
    let device = Device::flex();
    let x = normal([2, 5, D_MODEL], &device);
    let permutation = ints(&[3, 0, 4, 1, 2], &device);
    let attention = layer(Visibility::Bidirectional, false, &device);
    let out = attention.forward(x.clone().select(1, permutation.clone()), None).unwrap();
    let expected = attention.forward(x.clone(), None).unwrap().select(1, permutation.clone());
    let gap = relative_gap(out, expected);
    assert!(gap < 1e-5, "permuted input, outputs differ by {gap}");
    // Rotary positions break the symmetry: the test can tell.
    let attention = layer(Visibility::Bidirectional, true, &device);
    let out = attention.forward(x.clone().select(1, permutation.clone()), None).unwrap();
    let expected = attention.forward(x, None).unwrap().select(1, permutation);
    assert!(relative_gap(out, expected) > 1e-3);
}

#[test]
fn rotary_scores_depend_only_on_the_offset() {
    let device = Device::flex();
    let (d_head, max_len) = (8, 24);
    let rotary = RotaryConfig::new(max_len).init(d_head, &device).unwrap();
    // The same query (and key) vector at every position.
    let repeated = |f: fn(f32) -> f32| {
        let v: Vec<f32> = (0..d_head).map(|i| f(i as f32)).collect();
        let v = Tensor::<4>::from_data(TensorData::new(v, [1, 1, 1, d_head]), &device);
        floats(rotary.apply(v.expand([1, 1, max_len, d_head]), 0).unwrap())
    };
    let q = repeated(|i| (1.3 * i).sin() + 0.5);
    let k = repeated(|i| (0.7 * i).cos() - 0.2);
    let score = |m: usize, n: usize| -> f32 {
        (0..d_head).map(|i| q[m * d_head + i] * k[n * d_head + i]).sum()
    };
    for (m, n) in [(0, 0), (3, 1), (1, 5), (7, 7), (2, 9)] {
        for s in [1, 4, 11] {
            let (a, b) = (score(m + s, n + s), score(m, n));
            assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "({m}, {n}) + {s}: {a} vs {b}");
        }
    }
    // Another offset, another score.
    assert!((score(3, 1) - score(3, 2)).abs() > 1e-2);
    assert!((score(3, 1) - score(1, 3)).abs() > 1e-2);
    // `start` continues the positions: tokens rotated from position 5 are rows 5..9 of the
    // table.
    let _rng = shared();
    let x = normal([1, 2, 4, d_head], &device);
    let from_five = rotary.apply(x.clone(), 5).unwrap();
    let padded = Tensor::cat(vec![Tensor::zeros([1, 2, 5, d_head], &device), x], 2);
    let rows = rotary.apply(padded, 0).unwrap().narrow(2, 5, 4);
    assert!(relative_gap(from_five, rows) < 1e-6);
}

#[test]
fn rotary_attention_is_invariant_to_a_shift_of_all_positions() {
    let _rng = shared();
    let device = Device::flex();
    let attention = layer(Visibility::Bidirectional, true, &device);
    let x = normal([2, 5, D_MODEL], &device);
    // The same tokens at positions 3..8, after three hidden ones.
    let shifted = Tensor::cat(vec![normal([2, 3, D_MODEL], &device), x.clone()], 1);
    let hidden = hide(8, |j| j < 3, &device);
    let out = attention.forward(shifted, Some(hidden)).unwrap().narrow(1, 3, 5);
    let expected = attention.forward(x, None).unwrap();
    let gap = relative_gap(out, expected);
    assert!(gap < 1e-5, "shifted positions change the output by {gap}");
}

#[test]
fn a_hidden_mask_broadcasts_over_batch_heads_and_queries() {
    let _rng = shared();
    let device = Device::flex();
    let attention = layer(Visibility::Bidirectional, false, &device);
    let x = normal([2, 5, D_MODEL], &device);
    let hidden = padding_mask(&[5, 2], 5, &device).unwrap();
    let expected = floats(attention.forward(x.clone(), Some(hidden.clone())).unwrap());
    let full = hidden.expand([2, N_HEADS, 5, 5]);
    assert_eq!(floats(attention.forward(x.clone(), Some(full)).unwrap()), expected);
    // One mask for the whole batch: hiding key 4 everywhere is not row 0's padding mask.
    let shared_mask = hide(5, |j| j == 4, &device).expand([1, N_HEADS, 5, 5]);
    assert_ne!(floats(attention.forward(x, Some(shared_mask)).unwrap()), expected);
}
