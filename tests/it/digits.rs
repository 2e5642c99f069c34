//! The digits classifier, the sample-quality metrics on its features, and the conditional
//! DiT for the digits generative recipes.

use std::fs;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, PIXELS};
use stoke_train::cli;
use stoke_train::nn::DitConfig;
use stoke_train::recipe::digits_classifier::{
    CLASSIFIER_FILE, Classifier, DigitsClassifierConfig, images_and_labels, train_classifier,
};
use stoke_train::sample_quality::{conditional_accuracy, frechet_distance_of_features};

use crate::{ONE_RUN_AT_A_TIME, read_json, temp_dir};

fn run(args: &[&str]) -> Result<(), String> {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["train".to_string(), "digits-classifier".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    cli::main(&all).map_err(|e| e.to_string())
}

#[test]
fn digits_classifier_writes_accuracy_and_a_loadable_model() {
    let out = temp_dir("digits-classifier");
    let out_s = out.to_str().unwrap();
    run(&["--out", out_s, "--steps", "150", "--log-every", "50"]).unwrap();
    let metrics = read_json(&out.join("metrics.json"));
    let test_accuracy = metrics["test_accuracy"].as_f64().unwrap();
    // Ten classes: chance is 0.1; 150 steps already learn most of the digits.
    assert!(test_accuracy > 0.5 && test_accuracy <= 1.0, "{test_accuracy}");
    assert!(metrics["train_accuracy"].as_f64().unwrap() <= 1.0);
    assert!(metrics["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().count(), 3);
    // The saved network gives the accuracy the run reported.
    let device = Device::flex();
    let model = Classifier::load(&out.join(CLASSIFIER_FILE), &device).unwrap();
    let (_, test) =
        digits::load().unwrap().split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED).unwrap();
    let (x, labels) = images_and_labels(&test, &device);
    assert!((model.accuracy(x, &labels).unwrap() - test_accuracy).abs() < 1e-12);
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn digits_classifier_refuses_bad_arguments_and_writes_nothing() {
    let out = temp_dir("digits-classifier-bad");
    let out_s = out.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--steps", "0"], "steps"),
        (&["--max-shift", "4"], "max_shift"),
        (&["--weight-decay", "-1"], "weight_decay"),
        (&["--learning-rate", "0"], "learning_rate"),
        (&["--depth", "3"], "--depth"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["--out", out_s];
        all.extend_from_slice(args);
        let message = run(&all).expect_err("bad input must fail");
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(!message.contains('\n'), "{args:?}: not one line: {message}");
        assert!(!out.exists(), "{args:?} left {out:?} behind");
    }
}

#[test]
fn frechet_distance_on_classifier_features_separates_digits_from_noise() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (train, test) =
        digits::load().unwrap().split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED).unwrap();
    let config = DigitsClassifierConfig { steps: 200, width: 64, ..Default::default() };
    let model = train_classifier(&config, &train, &device).unwrap();
    let (x_train, _) = images_and_labels(&train, &device);
    let (x_test, labels) = images_and_labels(&test, &device);
    let n = test.len();
    let noise =
        Tensor::<2>::random([n, PIXELS], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
    let features = |x: Tensor<2>| model.features(x);
    let same =
        frechet_distance_of_features(features(x_test.clone()), features(x_test.clone())).unwrap();
    let held_out =
        frechet_distance_of_features(features(x_train), features(x_test.clone())).unwrap();
    let noisy = frechet_distance_of_features(features(noise), features(x_test.clone())).unwrap();
    assert!(same < 1e-6, "{same}");
    assert!(held_out < 0.2 * noisy, "train vs test {held_out}, noise vs test {noisy}");
    // Real test digits with their labels score the classifier's accuracy; shuffled labels
    // score about chance.
    let accuracy = conditional_accuracy(&model, x_test.clone(), &labels).unwrap();
    let shifted: Vec<usize> = labels.iter().map(|l| (l + 1) % 10).collect();
    let wrong = conditional_accuracy(&model, x_test.clone(), &shifted).unwrap();
    assert!(accuracy > 0.8 && wrong < 0.2, "{accuracy} vs {wrong}");
    assert!(conditional_accuracy(&model, x_test, &labels[1..]).is_err());
}

#[test]
fn dit_has_the_image_shape_learns_and_uses_the_class() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(0);
    let config = DitConfig::new().with_width(32).with_depth(2);
    let mut model = config.init(&device).unwrap();
    assert_eq!(model.null_class(), 10);
    let batch = 22;
    // Two images per class, the null class included; the target is the class's own constant
    // image, so fitting it needs the class input.
    let classes: Vec<i64> = (0..batch as i64).map(|i| i % 11).collect();
    let target: Vec<f32> =
        classes.iter().flat_map(|&c| vec![c as f32 / 10.0 - 0.5; PIXELS]).collect();
    let x =
        Tensor::<2>::random([batch, PIXELS], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::random([batch], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
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
    // Image and flat inputs agree.
    let batch_image = Tensor::<4>::zeros([3, 1, 8, 8], &inner);
    let zeros = Tensor::<1>::zeros([3], &inner);
    let nulls = Tensor::<1, Int>::from_data(TensorData::new(vec![10i64; 3], [3]), &inner);
    assert_eq!(model.forward_image(batch_image, zeros, nulls).dims(), [3, 1, 8, 8]);
    assert!(config.with_n_heads(3).init(&inner).is_err());
    // The parameter count the module docs state.
    assert_eq!(DitConfig::new().init(&inner).unwrap().num_params(), 317_700);
}
