//! Bad input: a clear error or a documented, finite result, never a panic inside Burn or a
//! silent NaN.

use burn::tensor::{Device, Tensor};
use proptest::prelude::*;
use stoke_contrastive::ContrastiveError;
use stoke_contrastive::loss::{ContrastiveLossConfig, LocalRing, SiglipLossConfig};
use stoke_contrastive::normalize::l2_normalize;

use crate::{floats, unit_rows};

fn every_loss() -> Vec<ContrastiveLossConfig> {
    vec![
        ContrastiveLossConfig::clip(),
        ContrastiveLossConfig::siglip(),
        ContrastiveLossConfig::Siglip(SiglipLossConfig { chunk: Some(3), ..Default::default() }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn embedding_batches_that_do_not_pair_up_are_shape_errors(
        (b1, d1, b2, d2) in (0usize..5, 0usize..5, 0usize..5, 0usize..5),
    ) {
        prop_assume!((b1, d1) != (b2, d2) || b1 == 0 || d1 == 0);
        let device = Device::flex();
        for config in every_loss() {
            let loss = config.init(&device).unwrap();
            let result = loss.forward(Tensor::zeros([b1, d1], &device), Tensor::zeros([b2, d2], &device));
            prop_assert!(result.is_err());
        }
    }
}

#[test]
fn zero_norm_embeddings_give_finite_losses_and_gradients() {
    let device = Device::flex().autodiff();
    for config in every_loss() {
        let loss = config.init(&device).unwrap();
        let raw = Tensor::<2>::zeros([4, 3], &device).require_grad();
        let image = l2_normalize(raw.clone());
        assert!(floats(image.clone()).iter().all(|v| *v == 0.0));
        let value = loss.forward(image, unit_rows(4, 3, &device)).unwrap();
        assert!(floats(value.clone())[0].is_finite());
        let grads = value.backward();
        assert!(floats(raw.grad(&grads).unwrap()).iter().all(|g| g.is_finite()), "{config:?}");
    }
}

#[test]
fn a_zero_chunk_and_bad_initial_values_are_refused() {
    let device = Device::flex();
    let zero = SiglipLossConfig { chunk: Some(0), ..Default::default() };
    assert!(zero.init(&device).is_err());
    let siglip = SiglipLossConfig::default().init(&device).unwrap();
    let x = unit_rows(3, 2, &device);
    assert!(siglip.forward_chunked(x.clone(), x.clone(), 0).is_err());
    let nan = SiglipLossConfig { init_bias: f64::NAN, ..Default::default() };
    assert!(nan.init(&device).is_err());
    let clip =
        stoke_contrastive::ClipLossConfig { init_log_scale: f64::INFINITY, ..Default::default() };
    assert!(clip.init(&device).is_err());
}

#[test]
fn shards_that_do_not_pair_up_are_refused() {
    let device = Device::flex();
    let loss = SiglipLossConfig::default().init(&device).unwrap();
    let x = unit_rows(3, 2, &device);
    assert!(matches!(
        loss.forward_sharded(vec![], vec![], &LocalRing),
        Err(ContrastiveError::Shards { .. })
    ));
    assert!(loss.forward_sharded(vec![x.clone()], vec![x.clone(), x.clone()], &LocalRing).is_err());
    // Shards of different embedding widths.
    let y = unit_rows(3, 4, &device);
    assert!(loss.forward_sharded(vec![x.clone(), y.clone()], vec![x, y], &LocalRing).is_err());
}

#[test]
fn loss_configs_round_trip_through_json_and_refuse_unknown_fields() {
    for config in every_loss() {
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<ContrastiveLossConfig>(&json).unwrap(), config);
    }
    let siglip: ContrastiveLossConfig =
        serde_json::from_str(r#"{"kind": "siglip", "chunk": 64}"#).unwrap();
    assert_eq!(
        siglip,
        ContrastiveLossConfig::Siglip(SiglipLossConfig { chunk: Some(64), ..Default::default() })
    );
    assert!(
        serde_json::from_str::<ContrastiveLossConfig>(r#"{"kind": "siglip", "chunks": 64}"#)
            .is_err()
    );
    assert!(serde_json::from_str::<ContrastiveLossConfig>(r#"{"kind": "softmax"}"#).is_err());
}
