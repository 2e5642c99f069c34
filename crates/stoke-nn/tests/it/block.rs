//! The transformer block: causality, padding, adaLN-zero identity at init, and equality with
//! the DiT block it replaces.

use burn::module::Module;
use burn::tensor::Device;
use proptest::prelude::*;
use stoke_nn::attention::{RotaryConfig, Visibility, padding_mask};
use stoke_nn::block::BlockConfig;
use stoke_nn::norm::Norm;

use crate::attention::{repad, valid_outputs};
use crate::reference;
use crate::strategies::{few_cases, padded_rows, sequence_and_position};
use crate::{Fill, floats, normal, relative_gap, shared, token, with_token};

const NORMS: [Norm; 3] = [Norm::LayerNorm, Norm::RmsNorm, Norm::Plain];

proptest! {
    #![proptest_config(few_cases())]

    #[test]
    fn a_causal_block_output_i_ignores_token_j_after_i((seq, j) in sequence_and_position()) {
        let _rng = shared();
        let device = Device::flex();
        for norm in NORMS {
            let block = BlockConfig::new(16, 2, Visibility::Causal, norm)
                .with_rotary(Some(RotaryConfig::new(16)))
                .init(&device)
                .unwrap();
            let x = normal([2, seq, 16], &device);
            let changed = with_token(&x, j, normal([2, 1, 16], &device));
            let out = block.forward(x, None, None).unwrap();
            let out_changed = block.forward(changed, None, None).unwrap();
            for i in 0..j {
                prop_assert_eq!(floats(token(&out, i)), floats(token(&out_changed, i)));
            }
            prop_assert_ne!(floats(token(&out, j)), floats(token(&out_changed, j)));
        }
    }

    #[test]
    fn a_padding_mask_makes_padded_tokens_irrelevant_to_a_block((seq, valid) in padded_rows()) {
        let _rng = shared();
        let device = Device::flex();
        let block = BlockConfig::new(16, 4, Visibility::Bidirectional, Norm::LayerNorm)
            .init(&device)
            .unwrap();
        let x = normal([valid.len(), seq, 16], &device);
        let changed = repad(&x, &valid, &device);
        let hidden = padding_mask(&valid, seq, &device).unwrap();
        let out = block.forward(x, None, Some(hidden.clone())).unwrap();
        let out_changed = block.forward(changed, None, Some(hidden)).unwrap();
        prop_assert_eq!(valid_outputs(out, &valid), valid_outputs(out_changed, &valid));
    }
}

#[test]
fn an_ada_ln_zero_block_is_the_identity_at_init() {
    let _rng = shared();
    let device = Device::flex();
    for norm in NORMS {
        for visibility in [Visibility::Bidirectional, Visibility::Causal] {
            let block = BlockConfig::new(16, 4, visibility, norm)
                .with_conditioning(Some(8))
                .init(&device)
                .unwrap();
            let x = normal([3, 5, 16], &device);
            let c = normal([3, 8], &device);
            let out = block.forward(x.clone(), Some(c), None).unwrap();
            assert_eq!(floats(out), floats(x), "{norm:?} {visibility:?}");
        }
    }
    // Without conditioning the block is not the identity: the law is not vacuous.
    let block =
        BlockConfig::new(16, 4, Visibility::Bidirectional, Norm::Plain).init(&device).unwrap();
    let x = normal([3, 5, 16], &device);
    assert_ne!(floats(block.forward(x.clone(), None, None).unwrap()), floats(x));
}

#[test]
fn a_conditioned_plain_block_computes_the_dit_block_it_replaces() {
    let _rng = shared();
    let device = Device::flex();
    let (width, heads) = (32, 4);
    let old = reference::DitConfig::new().with_width(width).with_n_heads(heads).block(&device);
    let new = BlockConfig::new(width, heads, Visibility::Bidirectional, Norm::Plain)
        .with_conditioning(Some(width))
        .init(&device)
        .unwrap();
    assert_eq!(new.num_params(), old.num_params());
    // The same weights in both (they visit parameters of the same shapes in the same
    // order), non-zero modulation included, so every chunk of it matters.
    let old = old.map(&mut Fill { k: 0 });
    let new = new.map(&mut Fill { k: 0 });
    let x = normal([2, 6, width], &device);
    let c = normal([2, width], &device);
    let expected = old.forward(x.clone(), c.clone());
    let out = new.forward(x.clone(), Some(c), None).unwrap();
    let gap = relative_gap(out.clone(), expected);
    assert!(gap < 1e-5, "the block differs from the DiT block by {gap}");
    assert!(relative_gap(out, x) > 1e-2, "the filled block is not the identity");
}
