//! Patches: the round trip is exact and the token order is DiT's.

use burn::tensor::{Device, Tensor, TensorData};
use proptest::prelude::*;
use stoke_nn::patch::{PatchEmbedConfig, patchify, unpatchify};

use crate::strategies::{few_cases, grid};
use crate::{floats, normal, shared};

proptest! {
    #![proptest_config(few_cases())]

    #[test]
    fn unpatchify_inverts_patchify_exactly((batch, channels, patch, rows, cols) in grid()) {
        let _rng = shared();
        let device = Device::flex();
        let (height, width) = (rows * patch, cols * patch);
        let x = normal([batch, channels, height, width], &device);
        let tokens = patchify(x.clone(), patch).unwrap();
        prop_assert_eq!(tokens.dims(), [batch, rows * cols, channels * patch * patch]);
        let back = unpatchify(tokens, patch, channels, height, width).unwrap();
        prop_assert_eq!(floats(back), floats(x));
    }

    #[test]
    fn patchify_orders_patches_row_major_and_features_channel_major(
        (batch, channels, patch, rows, cols) in grid(),
    ) {
        let device = Device::flex();
        let (height, width) = (rows * patch, cols * patch);
        let n = batch * channels * height * width;
        // Each pixel holds its own flat index.
        let x = Tensor::<4>::from_data(
            TensorData::new((0..n).map(|i| i as f32).collect::<Vec<_>>(), [batch, channels, height, width]),
            &device,
        );
        let tokens = floats(patchify(x, patch).unwrap());
        let d_token = channels * patch * patch;
        for b in 0..batch {
            for (r, c) in (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))) {
                for (ch, i, j) in (0..channels)
                    .flat_map(|ch| (0..patch).flat_map(move |i| (0..patch).map(move |j| (ch, i, j))))
                {
                    let pixel = ((b * channels + ch) * height + r * patch + i) * width + c * patch + j;
                    let feature = ch * patch * patch + i * patch + j;
                    let at = (b * rows * cols + r * cols + c) * d_token + feature;
                    prop_assert_eq!(tokens[at], pixel as f32);
                }
            }
        }
    }
}

#[test]
fn patch_embed_is_a_linear_map_of_each_patch() {
    let _rng = shared();
    let device = Device::flex();
    let embed = PatchEmbedConfig::new(2, 2, 8).init(&device).unwrap();
    let a = normal([1, 2, 4, 6], &device);
    let b = normal([1, 2, 4, 6], &device);
    let zero = embed.forward(Tensor::zeros([1, 2, 4, 6], &device)).unwrap();
    // f(a + b) - f(0) = (f(a) - f(0)) + (f(b) - f(0)), token by token.
    let sum = embed.forward(a.clone() + b.clone()).unwrap() - zero.clone();
    let parts =
        embed.forward(a).unwrap() + embed.forward(b).unwrap() - zero.clone().mul_scalar(2.0);
    let gap = floats(sum - parts).into_iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(gap < 1e-5, "{gap}");
    assert_eq!(zero.dims(), [1, 6, 8]);
}
