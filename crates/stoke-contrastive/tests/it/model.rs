//! The two-tower model: LiT's lock (no gradient, bit-identical parameters after training,
//! no optimizer state) and FLIP's masking (ratio 0 equals no dropping).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use stoke_contrastive::flip::FlipMasking;
use stoke_contrastive::loss::ContrastiveLossConfig;
use stoke_contrastive::model::{TwoTower, TwoTowerConfig};
use stoke_nn::{TextTransformerConfig, VitConfig};

use crate::{floats, parameters, relative_gap};

fn tiny(device: &Device) -> TwoTower {
    let image = VitConfig::new(1, 8, 2, 16, 1, 2);
    let text = TextTransformerConfig::new(12, 6, 16, 1, 2);
    TwoTowerConfig::new(image, text, 8).init(device).unwrap()
}

/// Number of float parameters (tensors) of a module.
fn count<M: Module>(module: &M) -> usize {
    parameters(module).len()
}

#[test]
fn a_locked_image_tower_gets_no_gradient_no_optimizer_state_and_never_moves() {
    let device = Device::flex().autodiff();
    let mut model = tiny(&device).lock_image_tower();
    assert!(model.is_image_locked());
    let before = parameters(&model.image);
    let text_before = parameters(&model.text);
    let loss_fn = ContrastiveLossConfig::clip().init(&device).unwrap();
    let mut optimizer = AdamConfig::new().init();
    let ids = [1, 5, 7, 2, 1, 3, 2, 0, 1, 9, 9, 2];
    for _ in 0..3 {
        let images = Tensor::<4>::random([3, 1, 8, 8], Distribution::Default, &device);
        let image = model.encode_image(images, None).unwrap();
        let text = model.encode_text(&ids, &[4, 3, 4], &device).unwrap();
        let loss = loss_fn.forward(image, text).unwrap();
        let grads = loss.backward();
        let grads = GradientsParams::from_grads(grads, &model);
        model = optimizer.step(1e-2, model, grads);
    }
    assert_eq!(parameters(&model.image), before, "the locked tower moved");
    assert_ne!(parameters(&model.text), text_before, "the text tower must train");
    // Adam holds its two moment tensors for the text tower and both projections only.
    let states = optimizer.to_record().len();
    let trainable =
        count(&model.text) + count(&model.image_projection) + count(&model.text_projection);
    assert_eq!(states, 2 * trainable);
    assert!(count(&model.image) > 0);
}

#[test]
fn flip_at_mask_ratio_zero_equals_no_dropping() {
    let device = Device::flex();
    let model = tiny(&device);
    let images = Tensor::<4>::random([2, 1, 8, 8], Distribution::Default, &device);
    let noise: Vec<f32> = (0..32).map(|i| ((i * 13) % 32) as f32).collect();
    let kept = FlipMasking::new(0.0).unwrap().kept(&noise, 2, 16).unwrap();
    let masked = floats(model.encode_image(images.clone(), Some(&kept)).unwrap());
    let plain = floats(model.encode_image(images, None).unwrap());
    assert!(relative_gap(&masked, &plain) < 1e-6);
}

#[test]
fn flip_keeps_the_stated_fraction() {
    let masking = FlipMasking::new(0.75).unwrap();
    assert_eq!(masking.n_keep(16), 4);
    assert_eq!(FlipMasking::new(0.5).unwrap().n_keep(49), 25);
    assert_eq!(FlipMasking::new(0.99).unwrap().n_keep(16), 1);
    for bad in [1.0, -0.1, f64::NAN, 1.5] {
        assert!(FlipMasking::new(bad).is_err(), "{bad}");
    }
}
