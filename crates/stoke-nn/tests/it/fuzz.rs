//! Fuzz-style properties: arbitrary sizes (zero, small, beyond `MAX_SIZE`, `usize::MAX`) into
//! every config, and inputs of arbitrary shapes into every checked entry point, give a typed
//! error or a finite output of the promised shape, never a panic.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use proptest::prelude::*;
use stoke_core::validate::MAX_SIZE;
use stoke_nn::attention::{RotaryConfig, SelfAttentionConfig, Visibility, padding_mask};
use stoke_nn::block::BlockConfig;
use stoke_nn::classifier::ClassifierConfig;
use stoke_nn::dit::DitConfig;
use stoke_nn::embedding::TokenEmbeddingConfig;
use stoke_nn::mlp::{MlpConfig, TimeMlpConfig};
use stoke_nn::norm::Norm;
use stoke_nn::patch::{PatchEmbedConfig, patchify, unpatchify};
use stoke_testkit::hostile_size;

use crate::{floats, normal, shared};

/// Sizes around what a config accepts.
fn size() -> impl Strategy<Value = usize> {
    hostile_size(MAX_SIZE)
}

/// A small size, for the shapes of inputs.
fn small() -> impl Strategy<Value = usize> {
    0usize..6
}

fn finite<const D: usize>(x: Tensor<D>) -> bool {
    floats(x).iter().all(|v| v.is_finite())
}

fn theta() -> impl Strategy<Value = f64> {
    prop_oneof![Just(f64::NAN), Just(0.0), Just(-1.0), Just(f64::INFINITY), Just(1e4), 1.0..1e5]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn mlps_and_classifier_are_total(
        d_input in size(), d_output in size(), width in size(), n_hidden in size(),
        n_frequencies in size(), batch in 1usize..4,
    ) {
        let _rng = shared();
        let device = Device::flex();
        if let Ok(mlp) = MlpConfig::new(d_input, d_output).with_width(width).init(&device) {
            let out = mlp.forward(normal([batch, d_input], &device));
            prop_assert_eq!(out.dims(), [batch, d_output]);
            prop_assert!(finite(out));
        }
        let time_mlp = TimeMlpConfig::new()
            .with_dim(d_input)
            .with_width(width)
            .with_n_hidden(n_hidden)
            .with_n_frequencies(n_frequencies)
            .init(&device);
        if let Ok(net) = time_mlp {
            let out = net.forward(normal([batch, d_input], &device), normal([batch], &device));
            prop_assert_eq!(out.dims(), [batch, d_input]);
            prop_assert!(finite(out));
        }
        let classifier = ClassifierConfig::new()
            .with_d_input(d_input)
            .with_width(width)
            .with_n_classes(d_output)
            .init(&device);
        if let Ok(net) = classifier {
            let x = normal([batch, d_input], &device);
            prop_assert!(finite(net.logits(x.clone())));
            prop_assert_eq!(net.predict(x.clone()).len(), batch);
            prop_assert!(net.accuracy(x, &vec![0; batch + 1]).is_err());
        }
    }

    #[test]
    fn attention_and_blocks_are_total(
        d_model in size(), n_heads in size(), max_len in size(), theta in theta(),
        rotary in any::<bool>(), causal in any::<bool>(), conditioning in prop::option::of(size()),
        batch in small(), seq in small(), width in small(),
        mask_dims in prop::array::uniform4(small()),
    ) {
        let _rng = shared();
        let device = Device::flex();
        let visibility = if causal { Visibility::Causal } else { Visibility::Bidirectional };
        let rotary = rotary.then(|| RotaryConfig::new(max_len).with_theta(theta));
        let x = normal([batch, seq, width], &device);
        let mask = Tensor::<4, Bool>::from_data(
            TensorData::new(vec![false; mask_dims.iter().product()], mask_dims), &device);
        let attention = SelfAttentionConfig::new(d_model, n_heads, visibility)
            .with_rotary(rotary.clone())
            .init(&device);
        if let Ok(attention) = attention {
            for hidden in [None, Some(mask.clone())] {
                if let Ok(out) = attention.forward(x.clone(), hidden) {
                    prop_assert_eq!(out.dims(), [batch, seq, width]);
                    prop_assert!(batch == 0 || seq == 0 || finite(out));
                }
            }
        }
        let block = BlockConfig::new(d_model, n_heads, visibility, Norm::Plain)
            .with_rotary(rotary)
            .with_conditioning(conditioning)
            .init(&device);
        if let Ok(block) = block {
            let cond = conditioning.map(|d| normal([batch, d.min(8)], &device));
            if let Ok(out) = block.forward(x, cond, Some(mask)) {
                prop_assert_eq!(out.dims(), [batch, seq, width]);
            }
        }
    }

    #[test]
    fn dit_patches_and_tokens_are_total(
        side in size(), channels in size(), patch in size(), width in size(), depth in size(),
        n_heads in size(), n_classes in size(), noise_scale in theta(),
        image in prop::array::uniform4(small()),
        valid in prop::collection::vec(0usize..7, 0..4), seq in small(),
        ids in prop::collection::vec(-2i64..12, 0..8), vocab in size(),
    ) {
        let _rng = shared();
        let device = Device::flex();
        let dit = DitConfig::new()
            .with_side(side)
            .with_channels(channels)
            .with_patch(patch)
            .with_width(width)
            .with_depth(depth.min(3))
            .with_n_heads(n_heads)
            .with_n_classes(n_classes)
            .with_noise_scale(noise_scale)
            .init(&device);
        if let Ok(dit) = dit {
            let pixels = channels * side * side;
            let class = Tensor::<1, Int>::from_data(TensorData::new(vec![n_classes as i64], [1]),
                &device);
            let out = dit.forward(normal([1, pixels], &device), normal([1], &device), class);
            prop_assert_eq!(out.dims(), [1, pixels]);
            prop_assert!(finite(out));
        }
        let x = normal(image, &device);
        if let Ok(tokens) = patchify(x.clone(), patch) {
            let [_, c, h, w] = image;
            let back = unpatchify(tokens, patch, c, h, w);
            if c > 0 {
                prop_assert_eq!(floats(back.unwrap()), floats(x.clone()));
            }
        }
        if let Ok(embed) = PatchEmbedConfig::new(channels, patch, width).init(&device)
            && let Ok(tokens) = embed.forward(x)
        {
            prop_assert_eq!(tokens.dims()[2], width);
        }
        if let Ok(mask) = padding_mask(&valid, seq, &device) {
            prop_assert_eq!(mask.dims(), [valid.len(), 1, 1, seq]);
        }
        if let Ok(table) = TokenEmbeddingConfig::new(vocab, 4).init(&device) {
            let n = ids.len();
            if let Ok(vectors) = table.embed(&ids, [1, n], &device) {
                prop_assert!(ids.iter().all(|&id| id >= 0 && (id as usize) < vocab));
                prop_assert_eq!(vectors.dims(), [1, n, 4]);
            }
        }
    }
}

/// The inputs the fuzz properties found, kept as fixed cases: proptest's saved seeds replay
/// other values once the hostile strategies change.
#[test]
fn the_inputs_the_fuzz_found_stay_refused() {
    let _rng = shared();
    let device = Device::flex();
    let attention =
        SelfAttentionConfig::new(3, 3, Visibility::Bidirectional).init(&device).unwrap();
    assert!(attention.forward(normal([0, 0, 3], &device), None).is_err());
    let overflow = BlockConfig::new(16, 1, Visibility::Causal, Norm::Plain);
    assert!(overflow.with_mlp_ratio(usize::MAX).init(&device).is_err());
    assert!(patchify(normal([1, 0, 1, 1], &device), 1).is_err());
}
