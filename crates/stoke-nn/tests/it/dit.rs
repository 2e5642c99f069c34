//! The DiT: shape, parameter count, the function it computes, and that it learns and uses
//! the class (moved from the workspace test `tests/it/digits.rs`).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use stoke_nn::dit::DitConfig;

use crate::{Fill, floats, ints, normal, parameters, reference, relative_gap, seeded, shared};

/// Pixels of an 8x8 digit.
const PIXELS: usize = 64;

#[test]
fn the_default_dit_has_317_700_parameters_as_before() {
    let _rng = shared();
    let device = Device::flex();
    assert_eq!(DitConfig::new().init(&device).unwrap().num_params(), 317_700);
    for config in [
        reference::DitConfig::new().with_patch(4).with_width(48).with_depth(3),
        reference::DitConfig::new().with_channels(3).with_side(12).with_n_classes(4),
    ] {
        let new = DitConfig::new()
            .with_patch(config.patch)
            .with_width(config.width)
            .with_depth(config.depth)
            .with_channels(config.channels)
            .with_side(config.side)
            .with_n_classes(config.n_classes)
            .init(&device)
            .unwrap();
        assert_eq!(new.num_params(), config.init(&device).num_params());
    }
}

#[test]
fn the_dit_computes_the_stoke_train_dit_with_the_embedding_halves_swapped() {
    let _rng = shared();
    let device = Device::flex();
    let config = DitConfig::new().with_width(32).with_depth(2).with_channels(2);
    let old = reference::DitConfig::new().with_width(32).with_depth(2).with_channels(2);
    // The same weights in both: they visit parameters of the same shapes in the same order.
    let new = config.init(&device).unwrap().map(&mut Fill { k: 0 });
    let old = old.init(&device).map(&mut Fill { k: 0 });
    let x = normal([3, 2 * PIXELS], &device);
    let t = Tensor::<1>::from_floats([0.0, 0.3, 0.9], &device);
    let class = ints(&[0, 4, 10], &device);
    let expected = old.forward(x.clone(), t.clone(), class.clone());
    let out = new.forward(x, t, class);
    let gap = relative_gap(out, expected);
    assert!(gap < 1e-5, "the DiT differs from the stoke-train DiT by {gap}");
}

#[test]
fn a_seeded_dit_draws_the_weights_of_the_stoke_train_dit() {
    let device = Device::flex();
    let x = Tensor::<2>::zeros([2, PIXELS], &device);
    let t = Tensor::<1>::zeros([2], &device);
    let class = ints(&[1, 10], &device);
    // Burn draws a parameter on first use: the first forward pass draws them all.
    let expected = {
        let _rng = seeded(&device, 11);
        let old = reference::DitConfig::new().with_width(32).with_depth(2).init(&device);
        old.forward(x.clone(), t.clone(), class.clone());
        parameters(&old)
    };
    let _rng = seeded(&device, 11);
    let new = DitConfig::new().with_width(32).with_depth(2).init(&device).unwrap();
    new.forward(x, t, class);
    assert_eq!(parameters(&new), expected);
}

#[test]
fn as_network_without_labels_is_the_null_class_and_images_agree_with_flat_inputs() {
    let _rng = shared();
    let device = Device::flex();
    let model = DitConfig::new().with_width(16).with_depth(1).init(&device).unwrap();
    let model = model.map(&mut Fill { k: 0 });
    assert_eq!(model.null_class(), 10);
    let x = normal([3, PIXELS], &device);
    let t = Tensor::<1>::from_floats([0.1, 0.5, 0.7], &device);
    let nulls = ints(&[10, 10, 10], &device);
    let network = model.as_network();
    let unlabelled = floats(network(x.clone(), t.clone(), None));
    assert_eq!(unlabelled, floats(model.forward(x.clone(), t.clone(), nulls.clone())));
    assert_ne!(unlabelled, floats(network(x.clone(), t.clone(), Some(ints(&[1, 2, 3], &device)))));
    // [3, 64] -> [3, 1, 8, 8]
    let image = model.forward_image(x.reshape([3, 1, 8, 8]), t, nulls);
    assert_eq!(floats(image), unlabelled);
}

#[test]
fn dit_has_the_image_shape_learns_and_uses_the_class() {
    let device = Device::flex().autodiff();
    let _rng = seeded(&device, 0);
    let config = DitConfig::new().with_width(32).with_depth(2);
    let mut model = config.init(&device).unwrap();
    assert_eq!(model.null_class(), 10);
    let batch = 22;
    // Two images per class, the null class included; the target is the class's own constant
    // image, so fitting it needs the class input.
    let classes: Vec<i64> = (0..batch as i64).map(|i| i % 11).collect();
    let target: Vec<f32> =
        classes.iter().flat_map(|&c| vec![c as f32 / 10.0 - 0.5; PIXELS]).collect();
    let x = Tensor::<2>::random([batch, PIXELS], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::random([batch], Distribution::Uniform(0.0, 1.0), &device);
    let class = Tensor::<1, Int>::from_data(TensorData::new(classes, [batch]), &device);
    let target = Tensor::<2>::from_data(TensorData::new(target, [batch, PIXELS]), &device);
    let out = model.forward(x.clone(), t.clone(), class.clone());
    assert_eq!(out.dims(), [batch, PIXELS]);
    let mut optimizer = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..30 {
        let loss = (model.forward(x.clone(), t.clone(), class.clone()) - target.clone())
            .powi_scalar(2)
            .mean();
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(3e-3, model, grads);
    }
    assert!(losses[29] < 0.5 * losses[0], "loss did not fall: {losses:?}");
    // The same input under another class gives another output.
    let model = model.valid();
    let inner = Device::flex();
    let x = x.inner();
    let t = t.inner();
    let class_a = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64; batch], [batch]), &inner);
    let class_b = Tensor::<1, Int>::from_data(TensorData::new(vec![7i64; batch], [batch]), &inner);
    let gap = (model.forward(x.clone(), t.clone(), class_a) - model.forward(x, t, class_b))
        .abs()
        .mean()
        .into_scalar::<f32>();
    assert!(gap > 0.1, "the output ignores the class: mean |difference| {gap}");
    // Image and flat inputs agree in shape.
    let batch_image = Tensor::<4>::zeros([3, 1, 8, 8], &inner);
    let zeros = Tensor::<1>::zeros([3], &inner);
    let nulls = Tensor::<1, Int>::from_data(TensorData::new(vec![10i64; 3], [3]), &inner);
    assert_eq!(model.forward_image(batch_image, zeros, nulls).dims(), [3, 1, 8, 8]);
    assert!(config.with_n_heads(3).init(&inner).is_err());
}
