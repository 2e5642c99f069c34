//! The one sinusoidal embedding and the token table.

use std::f64::consts::PI;

use burn::tensor::{Device, Int, Tensor, TensorData};
use stoke_nn::NnError;
use stoke_nn::embedding::{Frequencies, TokenEmbeddingConfig, sinusoidal_embedding};

use crate::{floats, reference, shared};

fn values(device: &Device) -> Tensor<1> {
    Tensor::from_floats([0.0, 0.25, 1.0, -3.5, 700.0], device)
}

#[test]
fn frequencies_are_the_two_formulas() {
    let octaves = Frequencies::Octaves { n: 6 }.values();
    for (k, w) in octaves.iter().enumerate() {
        assert_eq!(*w, PI * 2f64.powi(k as i32 - 2));
    }
    assert_eq!(octaves[2], PI);
    let n = 32;
    let transformer = Frequencies::Transformer { n, max_period: 10_000.0 }.values();
    assert_eq!(transformer[0], 1.0);
    for (k, w) in transformer.iter().enumerate() {
        let expected = 10_000f64.powf(-(k as f64) / n as f64);
        assert!((w - expected).abs() < 1e-15 * expected.max(1.0), "{k}: {w} vs {expected}");
    }
}

#[test]
fn the_embedding_is_sin_then_cos_of_value_times_frequency() {
    let device = Device::flex();
    for frequencies in
        [Frequencies::Octaves { n: 5 }, Frequencies::Transformer { n: 4, max_period: 100.0 }]
    {
        let n = frequencies.n();
        let w = frequencies.values();
        let out = floats(sinusoidal_embedding(values(&device), &frequencies));
        for (row, v) in floats(values(&device)).into_iter().enumerate() {
            for k in 0..n {
                let angle = v * w[k] as f32;
                let (sin, cos) = (out[row * 2 * n + k], out[row * 2 * n + n + k]);
                assert!((sin - angle.sin()).abs() < 1e-5 && (cos - angle.cos()).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn the_embedding_reproduces_both_old_embeddings() {
    let device = Device::flex();
    // TimeMlp's, bit for bit.
    let octaves = sinusoidal_embedding(values(&device), &Frequencies::Octaves { n: 8 });
    assert_eq!(floats(octaves), floats(reference::time_embedding(values(&device), 8)));
    // DiT's, bit for bit once its halves are in the shared `[sin | cos]` order.
    let transformer = Frequencies::Transformer { n: 32, max_period: 10_000.0 };
    let dit = sinusoidal_embedding(values(&device), &transformer);
    assert_eq!(floats(dit), floats(reference::sinusoidal_embedding(values(&device), 32)));
}

#[test]
fn embed_checks_ids_and_agrees_with_forward() {
    let _rng = shared();
    let device = Device::flex();
    let table = TokenEmbeddingConfig::new(7, 4).init(&device).unwrap();
    assert_eq!(table.vocab_size(), 7);
    let ids = [0i64, 6, 3, 3, 1, 2];
    let checked = table.embed(&ids, [2, 3], &device).unwrap();
    let unchecked =
        table.forward(Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [2, 3]), &device));
    assert_eq!(checked.dims(), [2, 3, 4]);
    assert_eq!(floats(checked), floats(unchecked));
    for token in [7, -1, i64::MAX, i64::MIN] {
        let error = table.embed(&[0, token], [1, 2], &device).unwrap_err();
        assert_eq!(error, NnError::TokenOutOfRange { token, vocab_size: 7 });
    }
}
