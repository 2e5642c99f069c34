//! The contrastive towers: a dropped patch never reaches the ViT's output, keeping every
//! patch equals no dropping, padding never reaches the text transformer's pooled output,
//! and cross-attention reads its memory (and only its unhidden tokens).

use burn::tensor::{Bool, Device, Tensor, TensorData};
use proptest::prelude::*;
use stoke_nn::NnError;
use stoke_nn::attention::{Memory, Visibility};
use stoke_nn::block::BlockConfig;
use stoke_nn::norm::Norm;
use stoke_nn::text::{TextPooling, TextTransformerConfig};
use stoke_nn::vit::{KeptPatches, VitConfig, VitPooling};

use crate::strategies::{few_cases, padded_rows};
use crate::{floats, normal, relative_gap, shared};

const VIT_POOLINGS: [VitPooling; 2] = [VitPooling::ClassToken, VitPooling::Mean];

/// `images` with the pixels of patch `index` (2x2 patches of 8x8 images) of every row
/// replaced by noise.
fn scramble_patch(images: &Tensor<4>, index: usize, device: &Device) -> Tensor<4> {
    let [batch, channels, side, _] = images.dims();
    let (row, col) = (2 * (index / (side / 2)), 2 * (index % (side / 2)));
    let inside: Vec<bool> = (0..batch * channels)
        .flat_map(|_| {
            (0..side * side).map(|p| (p / side) / 2 * 2 == row && (p % side) / 2 * 2 == col)
        })
        .collect();
    let mask = Tensor::<4, Bool>::from_data(
        TensorData::new(inside, [batch, channels, side, side]),
        device,
    );
    images.clone().mask_where(mask, normal([batch, channels, side, side], device).add_scalar(3.0))
}

proptest! {
    #![proptest_config(few_cases())]

    #[test]
    fn a_dropped_patch_never_influences_the_vit_output(
        noise in proptest::collection::vec(0f32..1.0, 32),
        n_keep in 1usize..=15,
    ) {
        let _rng = shared();
        let device = Device::flex();
        let kept = KeptPatches::lowest(&noise, 2, 16, n_keep).unwrap();
        let dropped = (0..16).find(|p| !kept.row(0).any(|k| k == *p) && !kept.row(1).any(|k| k == *p));
        for pooling in VIT_POOLINGS {
            let vit = VitConfig::new(2, 8, 2, 16, 2, 4).with_pooling(pooling).init(&device).unwrap();
            let images = normal([2, 2, 8, 8], &device);
            let out = floats(vit.forward(images.clone(), Some(&kept)).unwrap());
            if let Some(dropped) = dropped {
                let changed = scramble_patch(&images, dropped, &device);
                prop_assert_eq!(&out, &floats(vit.forward(changed, Some(&kept)).unwrap()));
            }
            // A kept patch does influence it (the law is not vacuous).
            let first_kept = kept.row(0).next().unwrap();
            let changed = scramble_patch(&images, first_kept, &device);
            prop_assert_ne!(out, floats(vit.forward(changed, Some(&kept)).unwrap()));
        }
    }

    #[test]
    fn padding_never_reaches_the_pooled_text_vector((seq, valid) in padded_rows()) {
        let _rng = shared();
        let device = Device::flex();
        let batch = valid.len();
        let ids: Vec<i64> = (0..batch * seq).map(|i| (i * 5 % 11) as i64).collect();
        // Other ids at every padding position.
        let repadded: Vec<i64> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| if i % seq >= valid[i / seq] { (id + 3) % 11 } else { id })
            .collect();
        for visibility in [Visibility::Causal, Visibility::Bidirectional] {
            for pooling in [TextPooling::EndOfText, TextPooling::Mean] {
                let text = TextTransformerConfig::new(11, 8, 16, 2, 4)
                    .with_visibility(visibility)
                    .with_pooling(pooling)
                    .init(&device)
                    .unwrap();
                let out = floats(text.forward(&ids, &valid, &device).unwrap());
                prop_assert_eq!(out, floats(text.forward(&repadded, &valid, &device).unwrap()));
            }
        }
    }
}

#[test]
fn keeping_every_patch_equals_no_dropping() {
    let _rng = shared();
    let device = Device::flex();
    for pooling in VIT_POOLINGS {
        let vit = VitConfig::new(1, 8, 2, 16, 1, 2).with_pooling(pooling).init(&device).unwrap();
        let images = normal([3, 1, 8, 8], &device);
        let all = KeptPatches::all(3, 16).unwrap();
        let kept = vit.forward(images.clone(), Some(&all)).unwrap();
        assert!(relative_gap(kept, vit.forward(images, None).unwrap()) < 1e-6);
    }
}

#[test]
fn the_lowest_noise_patches_are_kept_in_order() {
    let noise = [0.9, 0.1, 0.5, 0.3, 0.2, 0.8, 0.7, 0.0];
    let kept = KeptPatches::lowest(&noise, 2, 4, 2).unwrap();
    assert_eq!(kept.row(0).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(kept.row(1).collect::<Vec<_>>(), vec![0, 3]);
}

#[test]
fn bad_patch_sets_and_images_are_errors() {
    let _rng = shared();
    let device = Device::flex();
    assert!(matches!(KeptPatches::new(&[0, 0], 1, 2, 4), Err(NnError::PatchIndex { .. })));
    assert!(matches!(KeptPatches::new(&[0, 4], 1, 2, 4), Err(NnError::PatchIndex { .. })));
    assert!(KeptPatches::new(&[0, 1, 2], 1, 2, 4).is_err());
    assert!(KeptPatches::lowest(&[0.0, f32::NAN], 1, 2, 1).is_err());
    assert!(KeptPatches::lowest(&[0.0, 1.0], 1, 2, 3).is_err());
    let vit = VitConfig::new(1, 8, 2, 16, 1, 2).init(&device).unwrap();
    let kept = KeptPatches::all(2, 16).unwrap();
    // Kept patches for a batch of 2, images for 3.
    assert!(matches!(
        vit.forward(normal([3, 1, 8, 8], &device), Some(&kept)),
        Err(NnError::Shape { .. })
    ));
    assert!(vit.forward(normal([1, 3, 8, 8], &device), None).is_err());
    assert!(vit.forward(normal([0, 1, 8, 8], &device), None).is_err());
    assert!(VitConfig::new(1, 8, 3, 16, 1, 2).init(&device).is_err());
}

#[test]
fn bad_token_rows_are_errors() {
    let _rng = shared();
    let device = Device::flex();
    let text = TextTransformerConfig::new(11, 4, 16, 1, 4).init(&device).unwrap();
    assert!(matches!(text.forward(&[1, 2, 3], &[2, 1], &device), Err(NnError::Core(_))));
    assert!(matches!(text.forward(&[1, 2], &[0], &device), Err(NnError::ValidLength { .. })));
    assert!(matches!(text.forward(&[1, -2], &[2], &device), Err(NnError::TokenOutOfRange { .. })));
    assert!(matches!(text.forward(&[1; 5], &[5], &device), Err(NnError::SequenceTooLong { .. })));
    assert!(text.forward(&[], &[], &device).is_err());
}

#[test]
fn cross_attention_reads_its_memory_and_ignores_hidden_memory_tokens() {
    let _rng = shared();
    let device = Device::flex();
    let block = BlockConfig::new(16, 4, Visibility::Causal, Norm::LayerNorm)
        .with_cross_attention(Some(8))
        .init(&device)
        .unwrap();
    let x = normal([2, 5, 16], &device);
    let memory = normal([2, 3, 8], &device);
    // Hide memory token 2 of every row.
    let hidden = Tensor::<4, Bool>::from_data(
        TensorData::new(vec![false, false, true], [1, 1, 1, 3]),
        &device,
    );
    let with = |tokens: Tensor<3>| Memory { tokens, hidden: Some(hidden.clone()) };
    let out =
        floats(block.forward_with_memory(x.clone(), None, None, &with(memory.clone())).unwrap());
    let last_changed =
        Tensor::cat(vec![memory.clone().narrow(1, 0, 2), normal([2, 1, 8], &device)], 1);
    assert_eq!(
        out,
        floats(block.forward_with_memory(x.clone(), None, None, &with(last_changed)).unwrap())
    );
    let first_changed = Tensor::cat(vec![normal([2, 1, 8], &device), memory.narrow(1, 1, 2)], 1);
    assert_ne!(
        out,
        floats(block.forward_with_memory(x.clone(), None, None, &with(first_changed)).unwrap())
    );
    // A cross-attending block called without memory, and memory of the wrong width: errors.
    assert!(matches!(block.forward(x.clone(), None, None), Err(NnError::Memory { .. })));
    let wrong = Memory { tokens: normal([2, 3, 7], &device), hidden: None };
    assert!(matches!(block.forward_with_memory(x, None, None, &wrong), Err(NnError::Shape { .. })));
}

#[test]
fn a_text_transformer_with_cross_attention_needs_memory() {
    let _rng = shared();
    let device = Device::flex();
    let text = TextTransformerConfig::new(11, 4, 16, 2, 4)
        .with_cross_attention(Some(8))
        .init(&device)
        .unwrap();
    let memory = Memory { tokens: normal([1, 5, 8], &device), hidden: None };
    let out = text.forward_with_memory(&[1, 4, 2], &[3], &device, &memory).unwrap();
    assert_eq!(out.dims(), [1, 16]);
    assert!(matches!(text.forward(&[1, 4, 2], &[3], &device), Err(NnError::Memory { .. })));
}
