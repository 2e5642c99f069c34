//! Bad sizes and bad inputs are typed errors, never a panic (Burn's own `init`s panic on
//! several of them).

use burn::tensor::{Bool, Device, Tensor, TensorData};
use stoke_core::CoreError;
use stoke_nn::attention::{RotaryConfig, SelfAttentionConfig, Visibility, padding_mask};
use stoke_nn::block::BlockConfig;
use stoke_nn::classifier::ClassifierConfig;
use stoke_nn::dit::DitConfig;
use stoke_nn::embedding::{Frequencies, TokenEmbeddingConfig};
use stoke_nn::mlp::{MlpConfig, TimeMlpConfig};
use stoke_nn::norm::Norm;
use stoke_nn::patch::{PatchEmbedConfig, patchify, unpatchify};
use stoke_nn::{NnError, Result};

use crate::shared;

/// A mask that hides nothing.
fn mask(dims: [usize; 4], device: &Device) -> Tensor<4, Bool> {
    Tensor::from_data(TensorData::new(vec![false; dims.iter().product()], dims), device)
}

fn zero(name: &'static str) -> NnError {
    NnError::Core(CoreError::Zero { name })
}

/// The error, which must also read as one line naming the value.
fn error_of<T>(result: Result<T>) -> NnError {
    let Err(error) = result else { panic!("expected an error") };
    let message = error.to_string();
    assert!(!message.is_empty() && !message.contains('\n'), "{message:?}");
    error
}

#[test]
fn attention_sizes_are_checked() {
    let device = Device::flex();
    let config = |d_model, n_heads| SelfAttentionConfig::new(d_model, n_heads, Visibility::Causal);
    assert_eq!(error_of(config(0, 4).init(&device)), zero("d_model"));
    assert_eq!(error_of(config(16, 0).init(&device)), zero("n_heads"));
    assert_eq!(
        error_of(config(10, 4).init(&device)),
        NnError::Core(CoreError::NotMultiple {
            name: "d_model",
            value: 10,
            of_name: "n_heads",
            of: 4
        })
    );
    // Burn's RotaryEncodingConfig::init panics on these.
    let rotary = |max_len, theta| Some(RotaryConfig::new(max_len).with_theta(theta));
    let odd = config(12, 4).with_rotary(rotary(8, 10_000.0));
    assert_eq!(error_of(odd.init(&device)), NnError::OddRotaryWidth { d_head: 3 });
    assert_eq!(
        error_of(config(16, 16).with_rotary(rotary(8, 1e4)).init(&device)),
        NnError::OddRotaryWidth { d_head: 1 }
    );
    assert_eq!(error_of(config(16, 4).with_rotary(rotary(0, 1e4)).init(&device)), zero("max_len"));
    for theta in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-60, 1e60] {
        let error = error_of(config(16, 4).with_rotary(rotary(8, theta)).init(&device));
        assert!(matches!(error, NnError::Core(_)), "theta {theta}: {error}");
    }
    assert!(matches!(
        error_of(RotaryConfig::new(8).init(5, &device)),
        NnError::OddRotaryWidth { d_head: 5 }
    ));
}

#[test]
fn attention_inputs_are_checked() {
    let _rng = shared();
    let device = Device::flex();
    let attention = SelfAttentionConfig::new(16, 4, Visibility::Bidirectional)
        .with_rotary(Some(RotaryConfig::new(4)))
        .init(&device)
        .unwrap();
    let x = Tensor::<3>::zeros([2, 4, 16], &device);
    // One token past the rotary table (Burn's `apply` panics there).
    let long = Tensor::<3>::zeros([2, 5, 16], &device);
    assert_eq!(
        error_of(attention.forward(long, None)),
        NnError::SequenceTooLong { len: 5, max: 4 }
    );
    let narrow = Tensor::<3>::zeros([2, 4, 12], &device);
    assert!(matches!(error_of(attention.forward(narrow, None)), NnError::Shape { what: "x", .. }));
    // Masks of the wrong shape.
    for dims in [[2, 1, 1, 3], [3, 1, 1, 4], [2, 2, 4, 4], [2, 4, 3, 4], [1, 1, 1, 5]] {
        let hidden = mask(dims, &device);
        let error = error_of(attention.forward(x.clone(), Some(hidden)));
        assert_eq!(
            error,
            NnError::Shape { what: "hidden", expected: vec![2, 4, 4, 4], got: dims.to_vec() }
        );
    }
    // The rotary table alone.
    let rotary = RotaryConfig::new(4).init(8, &device).unwrap();
    let q = Tensor::<4>::zeros([1, 2, 3, 8], &device);
    assert_eq!(error_of(rotary.apply(q.clone(), 2)), NnError::SequenceTooLong { len: 5, max: 4 });
    assert!(rotary.apply(q, 1).is_ok());
    let wide = Tensor::<4>::zeros([1, 2, 3, 6], &device);
    assert!(matches!(error_of(rotary.apply(wide, 0)), NnError::Shape { .. }));
    // Padding masks.
    assert_eq!(
        error_of(padding_mask(&[3, 0], 4, &device)),
        NnError::ValidLength { row: 1, valid: 0, seq: 4 }
    );
    assert_eq!(
        error_of(padding_mask(&[5], 4, &device)),
        NnError::ValidLength { row: 0, valid: 5, seq: 4 }
    );
    assert_eq!(error_of(padding_mask(&[], 4, &device)), zero("batch"));
    assert_eq!(error_of(padding_mask(&[1], 0, &device)), zero("seq"));
}

#[test]
fn block_sizes_and_conditioning_are_checked() {
    let _rng = shared();
    let device = Device::flex();
    let config = || BlockConfig::new(16, 4, Visibility::Bidirectional, Norm::Plain);
    assert_eq!(error_of(config().with_mlp_ratio(0).init(&device)), zero("mlp_ratio"));
    assert_eq!(error_of(config().with_conditioning(Some(0)).init(&device)), zero("conditioning"));
    assert!(matches!(
        error_of(BlockConfig::new(18, 4, Visibility::Causal, Norm::RmsNorm).init(&device)),
        NnError::Core(CoreError::NotMultiple { .. })
    ));
    let odd = BlockConfig::new(16, 16, Visibility::Causal, Norm::Plain)
        .with_rotary(Some(RotaryConfig::new(8)));
    assert_eq!(error_of(odd.init(&device)), NnError::OddRotaryWidth { d_head: 1 });
    let x = Tensor::<3>::zeros([2, 5, 16], &device);
    let c = Tensor::<2>::zeros([2, 8], &device);
    let plain = config().init(&device).unwrap();
    assert_eq!(
        error_of(plain.forward(x.clone(), Some(c.clone()), None)),
        NnError::Conditioning { expected: false }
    );
    let conditioned = config().with_conditioning(Some(8)).init(&device).unwrap();
    assert_eq!(
        error_of(conditioned.forward(x.clone(), None, None)),
        NnError::Conditioning { expected: true }
    );
    let wrong = Tensor::<2>::zeros([2, 9], &device);
    assert!(matches!(
        error_of(conditioned.forward(x.clone(), Some(wrong), None)),
        NnError::Shape { what: "cond", .. }
    ));
    let hidden = mask([2, 1, 1, 4], &device);
    assert!(matches!(
        error_of(conditioned.forward(x, Some(c), Some(hidden))),
        NnError::Shape { what: "hidden", .. }
    ));
}

#[test]
fn mlp_classifier_embedding_and_patch_sizes_are_checked() {
    let device = Device::flex();
    assert_eq!(error_of(MlpConfig::new(0, 2).init(&device)), zero("d_input"));
    assert_eq!(error_of(MlpConfig::new(3, 0).init(&device)), zero("d_output"));
    assert_eq!(error_of(MlpConfig::new(3, 2).with_width(0).init(&device)), zero("width"));
    assert_eq!(error_of(TimeMlpConfig::new().with_dim(0).init(&device)), zero("dim"));
    assert_eq!(error_of(TimeMlpConfig::new().with_width(0).init(&device)), zero("width"));
    assert_eq!(error_of(TimeMlpConfig::new().with_n_hidden(0).init(&device)), zero("n_hidden"));
    assert_eq!(
        error_of(TimeMlpConfig::new().with_n_frequencies(0).init(&device)),
        zero("n_frequencies")
    );
    assert_eq!(error_of(ClassifierConfig::new().with_d_input(0).init(&device)), zero("d_input"));
    assert_eq!(error_of(ClassifierConfig::new().with_width(0).init(&device)), zero("width"));
    assert_eq!(
        error_of(ClassifierConfig::new().with_n_classes(0).init(&device)),
        zero("n_classes")
    );
    assert_eq!(error_of(TokenEmbeddingConfig::new(0, 4).init(&device)), zero("vocab_size"));
    assert_eq!(error_of(TokenEmbeddingConfig::new(4, 0).init(&device)), zero("d_model"));
    let transformer = Frequencies::Transformer { n: 4, max_period: -1.0 };
    assert!(matches!(
        error_of(transformer.validate()),
        NnError::Core(CoreError::OutOfRange { .. })
    ));
    assert_eq!(error_of(PatchEmbedConfig::new(0, 2, 8).init(&device)), zero("channels"));
    assert_eq!(error_of(PatchEmbedConfig::new(1, 0, 8).init(&device)), zero("patch"));
    assert_eq!(error_of(PatchEmbedConfig::new(1, 2, 0).init(&device)), zero("d_model"));
}

#[test]
fn embedding_patch_and_classifier_inputs_are_checked() {
    let _rng = shared();
    let device = Device::flex();
    let table = TokenEmbeddingConfig::new(5, 4).init(&device).unwrap();
    assert_eq!(
        error_of(table.embed(&[0, 5], [1, 2], &device)),
        NnError::TokenOutOfRange { token: 5, vocab_size: 5 }
    );
    assert_eq!(
        error_of(table.embed(&[0, 1, 2], [1, 2], &device)),
        NnError::Core(CoreError::LengthMismatch { name: "ids", expected: 2, got: 3 })
    );
    assert_eq!(error_of(table.embed(&[], [0, 2], &device)), zero("batch"));
    let image = Tensor::<4>::zeros([1, 2, 6, 5], &device);
    assert!(matches!(
        error_of(patchify(image.clone(), 2)),
        NnError::Core(CoreError::NotMultiple { name: "width", .. })
    ));
    assert_eq!(error_of(patchify(image.clone(), 0)), zero("patch"));
    let tokens = Tensor::<3>::zeros([1, 6, 8], &device);
    assert!(matches!(
        error_of(unpatchify(tokens.clone(), 2, 3, 4, 6)),
        NnError::Shape { what: "tokens", .. }
    ));
    assert!(matches!(
        error_of(unpatchify(tokens.clone(), 2, 2, 5, 6)),
        NnError::Core(CoreError::NotMultiple { name: "height", .. })
    ));
    assert_eq!(error_of(unpatchify(tokens, 2, 0, 4, 6)), zero("channels"));
    let embed = PatchEmbedConfig::new(3, 2, 8).init(&device).unwrap();
    assert!(matches!(
        error_of(embed.forward(Tensor::zeros([1, 2, 4, 4], &device))),
        NnError::Shape { what: "images", .. }
    ));
    assert!(matches!(
        error_of(embed.forward(Tensor::zeros([1, 3, 4, 5], &device))),
        NnError::Core(_)
    ));
    let classifier = ClassifierConfig::new().with_width(8).init(&device).unwrap();
    let x = Tensor::<2>::zeros([3, 64], &device);
    assert_eq!(
        error_of(classifier.accuracy(x, &[0, 1])),
        NnError::Core(CoreError::LengthMismatch { name: "labels", expected: 3, got: 2 })
    );
    assert_eq!(error_of(classifier.accuracy(Tensor::zeros([0, 64], &device), &[])), zero("batch"));
}

#[test]
fn dit_config_is_checked_field_by_field() {
    let device = Device::flex();
    let checks: [(DitConfig, NnError); 12] = [
        (DitConfig::new().with_side(0), zero("side")),
        (DitConfig::new().with_channels(0), zero("channels")),
        (DitConfig::new().with_patch(0), zero("patch")),
        (DitConfig::new().with_width(0), zero("width")),
        (DitConfig::new().with_depth(0), zero("depth")),
        (DitConfig::new().with_n_heads(0), zero("n_heads")),
        (DitConfig::new().with_mlp_ratio(0), zero("mlp_ratio")),
        (DitConfig::new().with_n_classes(0), zero("n_classes")),
        (DitConfig::new().with_n_frequencies(0), zero("n_frequencies")),
        (
            DitConfig::new().with_patch(3),
            NnError::Core(CoreError::NotMultiple {
                name: "side",
                value: 8,
                of_name: "patch",
                of: 3,
            }),
        ),
        (
            DitConfig::new().with_n_heads(3),
            NnError::Core(CoreError::NotMultiple {
                name: "width",
                value: 64,
                of_name: "n_heads",
                of: 3,
            }),
        ),
        (
            DitConfig::new().with_noise_scale(0.0),
            NnError::Core(CoreError::OutOfRange {
                name: "noise_scale",
                value: 0.0,
                range: "(0, inf)",
            }),
        ),
    ];
    for (config, expected) in checks {
        assert_eq!(error_of(config.init(&device)), expected, "{config}");
    }
    for noise_scale in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(DitConfig::new().with_noise_scale(noise_scale).validate().is_err());
    }
}
