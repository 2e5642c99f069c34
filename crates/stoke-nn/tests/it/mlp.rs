//! The MLPs and the classifier: the move out of `stoke-train` kept them bit-identical.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use stoke_nn::classifier::ClassifierConfig;
use stoke_nn::mlp::{MlpConfig, TimeMlpConfig};

use crate::{floats, ints, reference, seeded, shared};

/// Fixed inputs (no draws from the device generator).
fn inputs(batch: usize, dim: usize, device: &Device) -> (Tensor<2>, Tensor<1>) {
    let x: Vec<f32> = (0..batch * dim).map(|i| (0.37 * i as f32).sin() * 2.0).collect();
    let t: Vec<f32> = (0..batch).map(|i| i as f32 / (batch - 1) as f32).collect();
    (
        Tensor::from_data(TensorData::new(x, [batch, dim]), device),
        Tensor::from_data(TensorData::new(t, [batch]), device),
    )
}

#[test]
fn time_mlp_initialises_and_computes_bit_identically_to_the_stoke_train_one() {
    let device = Device::flex();
    for (dim, width, n_hidden, n_frequencies) in [(2, 128, 3, 8), (3, 16, 1, 4), (1, 8, 2, 1)] {
        let (x, t) = inputs(7, dim, &device);
        let expected = {
            let _rng = seeded(&device, 0);
            let old = reference::TimeMlpConfig::new()
                .with_dim(dim)
                .with_width(width)
                .with_n_hidden(n_hidden)
                .with_n_frequencies(n_frequencies)
                .init(&device);
            floats(old.forward(x.clone(), t.clone()))
        };
        let _rng = seeded(&device, 0);
        let new = TimeMlpConfig::new()
            .with_dim(dim)
            .with_width(width)
            .with_n_hidden(n_hidden)
            .with_n_frequencies(n_frequencies)
            .init(&device)
            .unwrap();
        assert_eq!(floats(new.forward(x, t)), expected, "dim {dim}, width {width}");
    }
}

#[test]
fn time_mlp_as_a_network_ignores_labels() {
    let _rng = shared();
    let device = Device::flex();
    let model = TimeMlpConfig::new().init(&device).unwrap();
    let (x, t) = inputs(4, 2, &device);
    let network = model.as_network();
    let plain = floats(network(x.clone(), t.clone(), None));
    assert_eq!(plain, floats(model.forward(x.clone(), t.clone())));
    assert_eq!(plain, floats(network(x, t, Some(ints(&[0, 1, 2, 3], &device)))));
}

#[test]
fn the_classifier_initialises_and_computes_bit_identically_to_the_digits_one() {
    let device = Device::flex();
    let (x, _) = inputs(5, 64, &device);
    let expected = {
        let _rng = seeded(&device, 3);
        floats(reference::ClassifierConfig::new().with_width(32).init(&device).logits(x.clone()))
    };
    let _rng = seeded(&device, 3);
    let new = ClassifierConfig::new().with_width(32).init(&device).unwrap();
    assert_eq!(floats(new.logits(x.clone())), expected);
    assert_eq!(new.features(x.clone()).dims(), [5, 32]);
    // `predict` is the argmax of the logits, `accuracy` the fraction it gets right.
    let logits = floats(new.logits(x.clone()));
    let argmax: Vec<usize> = logits
        .chunks(10)
        .map(|row| (0..10).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
        .collect();
    assert_eq!(new.predict(x.clone()), argmax);
    let mut labels = argmax.clone();
    labels[0] = (labels[0] + 1) % 10;
    assert_eq!(new.accuracy(x, &labels).unwrap(), 0.8);
}

#[test]
fn mlp_initialises_and_computes_bit_identically_to_the_stoke_train_one() {
    let device = Device::flex();
    let (x, _) = inputs(4, 3, &device);
    let expected = {
        let _rng = seeded(&device, 5);
        floats(reference::MlpConfig::new(3, 2).with_width(5).init(&device).forward(x.clone()))
    };
    let _rng = seeded(&device, 5);
    let mlp = MlpConfig::new(3, 2).with_width(5).init(&device).unwrap();
    assert_eq!(mlp.num_params(), 3 * 5 + 5 + 5 * 2 + 2);
    assert_eq!(floats(mlp.forward(x)), expected);
}
