//! `digits-classifier`: an MLP classifier of the 8x8 digits, the feature extractor behind the
//! sample-quality metrics of the digits generative recipes ([`crate::sample_quality`]).
//!
//! Trained on the training split only (AdamW with decoupled weight decay [LOSHCHILOV19, Alg. 2],
//! a cosine learning-rate decay, and mild augmentation: a random shift of up to one pixel
//! and Gaussian pixel noise), scored on the held-out split. The run directory keeps the
//! network as `classifier.bpk` (Burn's burnpack store) with its shape in `classifier.json`,
//! which [`Classifier::load`] reads back; [`train_classifier`] trains one in memory for a
//! recipe that was given no saved one.

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::activation::silu;
use burn::tensor::loss::cross_entropy_with_logits;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::json;
use stoke_data::digits::{
    self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, Digits, N_CLASSES, PIXELS, SIDE,
};

use super::{TrainArgs, check_count, check_positive, resolve_config, run_without_checkpoints};
use crate::error::{self, TrainError, io_error};
use crate::run_dir::{RunDir, write_json_atomic};

/// The file name of the saved network inside a run directory.
pub const CLASSIFIER_FILE: &str = "classifier.bpk";
/// The file name of the saved network's shape ([`ClassifierConfig`]) inside a run directory.
pub const CLASSIFIER_CONFIG_FILE: &str = "classifier.json";

/// The network: `64 -> width -> width -> 10`, SiLU after each hidden layer.
#[derive(Config, Debug)]
pub struct ClassifierConfig {
    /// Width of both hidden layers (the feature dimension of [`Classifier::features`]).
    #[config(default = 256)]
    pub width: usize,
}

impl ClassifierConfig {
    /// Builds the network on `device`.
    pub fn init(&self, device: &Device) -> Classifier {
        Classifier {
            hidden_1: LinearConfig::new(PIXELS, self.width).init(device),
            hidden_2: LinearConfig::new(self.width, self.width).init(device),
            output: LinearConfig::new(self.width, N_CLASSES).init(device),
        }
    }
}

/// See [`ClassifierConfig`]. Inputs are flattened 8x8 digits with pixels in `[0, 1]`
/// (row-major, as [`Digits::flat_pixels`] gives them).
#[derive(Module, Debug)]
pub struct Classifier {
    hidden_1: Linear,
    hidden_2: Linear,
    output: Linear,
}

impl Classifier {
    /// The penultimate layer's activations: the features the Fréchet distance compares.
    ///
    /// # Shapes
    /// `x: [batch, 64]` -> `[batch, width]`.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        silu(self.hidden_2.forward(silu(self.hidden_1.forward(x))))
    }

    /// Class logits.
    ///
    /// # Shapes
    /// `x: [batch, 64]` -> `[batch, 10]`.
    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.features(x))
    }

    /// The most likely class of each image.
    ///
    /// # Shapes
    /// `x: [batch, 64]` -> `batch` classes in `0..10`.
    pub fn predict(&self, x: Tensor<2>) -> Vec<usize> {
        let [batch, _] = x.dims();
        // [batch, 10] -> [batch, 1] -> [batch]
        let classes = self.logits(x).argmax(1).reshape([batch]);
        classes.into_data().iter::<i64>().map(|c| c as usize).collect()
    }

    /// The fraction of images whose predicted class equals `labels`.
    ///
    /// # Shapes
    /// `x: [batch, 64]`, `labels`: `batch` classes.
    ///
    /// # Errors
    /// `labels` does not have one class per image, or the batch is empty.
    pub fn accuracy(&self, x: Tensor<2>, labels: &[usize]) -> error::Result<f64> {
        let [batch, _] = x.dims();
        if batch == 0 || labels.len() != batch {
            return Err(TrainError::Invalid(format!(
                "accuracy needs one label per image and at least one image, got {} labels for \
                 {batch} images",
                labels.len()
            )));
        }
        let correct = self.predict(x).iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(correct as f64 / batch as f64)
    }

    /// Saves the weights to `path` (burnpack) and the shape beside it (`path` with the
    /// extension `json`), each through a temporary file and a rename.
    ///
    /// # Errors
    /// I/O or serialisation failure.
    pub fn save(&self, path: &Path, config: &ClassifierConfig) -> error::Result<()> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("classifier.bpk");
        // The temporary name ends in `.bpk`, so the store keeps it as given.
        let tmp = path.with_file_name(format!(".{name}.tmp-{}.bpk", std::process::id()));
        let mut store = BurnpackStore::from_file(&tmp).overwrite(true);
        self.clone()
            .save_into(&mut store)
            .map_err(|e| TrainError::Checkpoint(format!("saving {}: {e:?}", path.display())))?;
        std::fs::rename(&tmp, path).map_err(io_error(path))?;
        write_json_atomic(&path.with_extension("json"), config)
    }

    /// Loads a network saved by [`Classifier::save`] (its shape from `path` with the
    /// extension `json`) onto `device`.
    ///
    /// # Errors
    /// Missing or corrupt files, or weights of another shape.
    pub fn load(path: &Path, device: &Device) -> error::Result<Self> {
        let config_path = path.with_extension("json");
        let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
        let config: ClassifierConfig = serde_json::from_str(&text)
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", config_path.display())))?;
        let mut model = config.init(device);
        let mut store = BurnpackStore::from_file(path);
        model
            .load_from(&mut store)
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e:?}", path.display())))?;
        Ok(model)
    }
}

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsClassifierConfig {
    /// Width of both hidden layers.
    pub width: usize,
    /// Training steps (minibatches).
    pub steps: usize,
    /// Images per minibatch, drawn with replacement.
    pub batch_size: usize,
    /// Peak AdamW learning rate, decayed to 0 on a cosine [LOSHCHILOV17, Eq. 5].
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay [LOSHCHILOV19, Alg. 2].
    pub weight_decay: f64,
    /// Largest random shift of a training image, in pixels (0 turns shifts off).
    pub max_shift: usize,
    /// Standard deviation of the Gaussian noise added to training pixels (0 turns it off).
    pub pixel_noise: f64,
    /// Seed of the initialisation, the minibatches and the augmentation.
    pub seed: u64,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
}

impl Default for DigitsClassifierConfig {
    fn default() -> Self {
        Self {
            width: 256,
            steps: 3000,
            batch_size: 128,
            learning_rate: 2e-3,
            weight_decay: 1e-2,
            max_shift: 1,
            pixel_noise: 0.1,
            seed: 0,
            log_every: 100,
        }
    }
}

impl DigitsClassifierConfig {
    /// Checks every value; the message names the bad one.
    ///
    /// # Errors
    /// Zero counts, a non-positive learning rate, a negative or non-finite weight decay or
    /// pixel noise, a shift of half the image or more.
    pub fn validate(&self) -> error::Result<()> {
        check_count("width", self.width)?;
        check_count("steps", self.steps)?;
        check_count("batch_size", self.batch_size)?;
        check_count("log_every", self.log_every)?;
        check_positive("learning_rate", self.learning_rate)?;
        for (name, value) in
            [("weight_decay", self.weight_decay), ("pixel_noise", self.pixel_noise)]
        {
            if !(value.is_finite() && value >= 0.0) {
                return Err(TrainError::Invalid(format!(
                    "{name} must be a number >= 0, got {value}"
                )));
            }
        }
        if self.max_shift >= SIDE / 2 {
            return Err(TrainError::Invalid(format!(
                "max_shift must be below {}, got {}",
                SIDE / 2,
                self.max_shift
            )));
        }
        Ok(())
    }

    /// The network's shape.
    pub fn network(&self) -> ClassifierConfig {
        ClassifierConfig::new().with_width(self.width)
    }
}

/// The image moved by `(d_row, d_col)` pixels, zeros shifted in.
fn shifted(image: &[f32; PIXELS], d_row: isize, d_col: isize) -> [f32; PIXELS] {
    let mut out = [0.0; PIXELS];
    let side = SIDE as isize;
    for row in 0..side {
        for col in 0..side {
            let (from_row, from_col) = (row - d_row, col - d_col);
            if (0..side).contains(&from_row) && (0..side).contains(&from_col) {
                out[(row * side + col) as usize] = image[(from_row * side + from_col) as usize];
            }
        }
    }
    out
}

/// One augmented minibatch: images `[batch, 64]` and one-hot labels `[batch, 10]`.
fn minibatch(
    config: &DigitsClassifierConfig,
    train: &Digits,
    rng: &mut StdRng,
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    let n = config.batch_size;
    let shift = config.max_shift as i32;
    let (mut pixels, mut classes) = (Vec::with_capacity(n * PIXELS), Vec::with_capacity(n));
    for _ in 0..n {
        let i = rng.random_range(0..train.len());
        let (d_row, d_col) = (rng.random_range(-shift..=shift), rng.random_range(-shift..=shift));
        for p in shifted(&train.images[i], d_row as isize, d_col as isize) {
            let noise: f64 = StandardNormal.sample(rng);
            pixels.push(p + (config.pixel_noise * noise) as f32);
        }
        classes.push(i64::from(train.labels[i]));
    }
    let x = Tensor::from_data(TensorData::new(pixels, [n, PIXELS]), device);
    let classes = Tensor::<1, Int>::from_data(TensorData::new(classes, [n]), device);
    (x, classes.one_hot::<2>(N_CLASSES).float())
}

/// The cosine-decayed learning rate at `step` [LOSHCHILOV17, Eq. 5] with `eta_min = 0`.
fn cosine_learning_rate(peak: f64, step: usize, n_steps: usize) -> f64 {
    super::cosine_decay(peak, 0.0, step as f64 / n_steps as f64)
}

/// The images of `data` as a tensor `[len, 64]` and their classes.
pub fn images_and_labels(data: &Digits, device: &Device) -> (Tensor<2>, Vec<usize>) {
    let x = Tensor::from_data(TensorData::new(data.flat_pixels(), [data.len(), PIXELS]), device);
    (x, data.labels.iter().map(|&l| usize::from(l)).collect())
}

/// Trains a classifier on `train` (on `device`, with gradients turned on inside) and returns
/// it without autodiff, ready for inference. `on_log(step, mean_loss)` is called every
/// `log_every` steps.
///
/// # Errors
/// An invalid config, an empty training set, or a non-finite loss.
pub fn train_classifier_logged(
    config: &DigitsClassifierConfig,
    train: &Digits,
    device: &Device,
    mut on_log: impl FnMut(usize, f64) -> error::Result<()>,
) -> error::Result<Classifier> {
    config.validate()?;
    if train.is_empty() {
        return Err(TrainError::Invalid("the classifier's training set is empty".into()));
    }
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let mut model = config.network().init(&train_device);
    let mut optimizer = AdamWConfig::new().with_weight_decay(config.weight_decay as f32).init();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let (mut window, mut count) = (0.0, 0usize);
    for step in 0..config.steps {
        let (x, targets) = minibatch(config, train, &mut rng, &train_device);
        let loss = cross_entropy_with_logits(model.logits(x), targets);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            return Err(TrainError::Diverged { step, loss: value });
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let learning_rate = cosine_learning_rate(config.learning_rate, step, config.steps);
        model = optimizer.step(learning_rate, model, grads);
        window += value;
        count += 1;
        if (step + 1) % config.log_every == 0 {
            on_log(step + 1, window / count as f64)?;
            (window, count) = (0.0, 0);
        }
    }
    Ok(model.valid())
}

/// Trains a classifier on `train` and returns it ready for inference; see
/// [`train_classifier_logged`].
///
/// # Errors
/// An invalid config, an empty training set, or a non-finite loss.
pub fn train_classifier(
    config: &DigitsClassifierConfig,
    train: &Digits,
    device: &Device,
) -> error::Result<Classifier> {
    train_classifier_logged(config, train, device, |_, _| Ok(()))
}

/// Runs the recipe.
///
/// # Errors
/// Bad config or arguments (before any file is written), I/O, divergence.
pub fn run(args: &TrainArgs) -> error::Result<()> {
    let config: DigitsClassifierConfig =
        resolve_config(&DigitsClassifierConfig::default(), None, args)?;
    config.validate()?;
    let device = args.backend.device()?;
    let (train, test) = digits::load()?.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
    run_without_checkpoints(args, "digits-classifier", &config, |run_dir| {
        train_and_score(&config, &train, &test, &device, run_dir)
    })
}

fn train_and_score(
    config: &DigitsClassifierConfig,
    train: &Digits,
    test: &Digits,
    device: &Device,
    run_dir: &RunDir,
) -> error::Result<()> {
    let started = std::time::Instant::now();
    let model = train_classifier_logged(config, train, device, |step, loss| {
        run_dir.append_metrics(&json!({ "step": step, "loss": loss }))
    })?;
    let (x_train, y_train) = images_and_labels(train, device);
    let (x_test, y_test) = images_and_labels(test, device);
    let train_accuracy = model.accuracy(x_train, &y_train)?;
    let test_accuracy = model.accuracy(x_test, &y_test)?;
    let seconds = started.elapsed().as_secs_f64();
    model.save(&run_dir.file(CLASSIFIER_FILE), &config.network())?;
    write_json_atomic(
        &run_dir.file("metrics.json"),
        &json!({
            "recipe": "digits-classifier",
            "test_accuracy": test_accuracy,
            "train_accuracy": train_accuracy,
            "train_size": train.len(),
            "test_size": test.len(),
            "steps": config.steps,
            "seconds": seconds,
        }),
    )?;
    eprintln!(
        "{}: test accuracy {test_accuracy:.4} (train {train_accuracy:.4}) in {seconds:.1} s; \
         wrote metrics.json, {CLASSIFIER_FILE}",
        run_dir.path().display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_moves_pixels_and_fills_zeros() {
        let mut image = [0.0; PIXELS];
        image[0] = 1.0; // row 0, col 0
        image[PIXELS - 1] = 0.5; // row 7, col 7
        let moved = shifted(&image, 1, 1);
        assert_eq!(moved[SIDE + 1], 1.0);
        assert_eq!(moved.iter().sum::<f32>(), 1.0, "the corner pixel left the image");
        assert_eq!(shifted(&image, 0, 0), image);
    }

    #[test]
    fn the_learning_rate_decays_from_peak_to_zero() {
        assert!((cosine_learning_rate(1.0, 0, 10) - 1.0).abs() < 1e-12);
        assert!((cosine_learning_rate(1.0, 5, 10) - 0.5).abs() < 1e-12);
        assert!(cosine_learning_rate(1.0, 10, 10).abs() < 1e-12);
    }

    #[test]
    fn bad_configs_name_the_value() {
        let bad = DigitsClassifierConfig { max_shift: 4, ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("max_shift"));
        let bad = DigitsClassifierConfig { weight_decay: f64::NAN, ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("weight_decay"));
    }
}
