//! The digits classifier (`stoke-nn`'s MLP on the 8x8 digits) and the sample-quality metrics
//! of the digits generative recipes on its features: the Fréchet distance \[HEUSEL17\], the
//! accuracy on class-conditional samples, and a memorisation check.
//!
//! The FD protocol ([`FdProtocol`]): the classifier trains on the training split only, so
//! its features are out of sample for both sides of every FD. Each of `draws` rounds takes
//! `size` random test images as the reference; the model's FD compares `size` fresh samples
//! with them, the floor `size` random validation images; every FD has the same size on both
//! sides, and each figure is a mean over the rounds with its standard error.
//!
//! Trained with AdamW (decoupled weight decay [LOSHCHILOV19, Alg. 2]), a cosine learning-rate
//! decay to 0 and mild augmentation: a random shift of up to one pixel and Gaussian pixel
//! noise. A run directory keeps the network as `classifier.bpk` (burnpack) with its shape in
//! `classifier.json`; [`load_classifier`] reads them back.

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::loss::cross_entropy_with_logits;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use stoke_core::frechet::{FeatureStats, frechet_distance};
use stoke_core::validate::{non_negative, positive, size};
use stoke_data::digits::{Digits, N_CLASSES, PIXELS, SIDE};
use stoke_nn::classifier::{Classifier, ClassifierConfig};

use super::Stat;
use crate::error::{Result, TrainError, io_error};
use crate::harness::{Loss, LrSchedule, OptimizerConfig, Run, TrainSpec, write_json_atomic};

/// The file name of the saved network inside a run directory.
pub const CLASSIFIER_FILE: &str = "classifier.bpk";

/// How the classifier is trained (the `digits-classifier` recipe's config, and the
/// `classifier` field of the digits diffusion recipes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierTraining {
    /// Width of both hidden layers.
    pub width: usize,
    /// Training steps (minibatches). The default, 6000 with `pixel_noise` 0.1, is the
    /// smallest setting within one standard error of the best validation accuracy over
    /// steps {1000, 3000, 6000, 10000} x pixel noise {0, 0.05, 0.1, 0.2}, seeds 0 and 1
    /// (0.989 against 0.990 at 10000 steps; the command is in the README).
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

impl Default for ClassifierTraining {
    fn default() -> Self {
        Self {
            width: 256,
            steps: 6000,
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

impl ClassifierTraining {
    /// Checks every value; the message names the bad one.
    ///
    /// # Errors
    /// Zero counts, a non-positive learning rate, a negative or non-finite weight decay or
    /// pixel noise, a shift of half the image or more.
    pub fn validate(&self) -> Result<()> {
        size("width", self.width)?;
        size("batch_size", self.batch_size)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("pixel_noise", self.pixel_noise)?;
        positive("learning_rate", self.learning_rate)?;
        if self.max_shift >= SIDE / 2 {
            return Err(TrainError::Invalid(format!(
                "max_shift must be below {}, got {}",
                SIDE / 2,
                self.max_shift
            )));
        }
        self.spec().validate()
    }

    /// The network's shape.
    pub fn network(&self) -> ClassifierConfig {
        ClassifierConfig::new().with_width(self.width)
    }

    /// The trainer's spec: AdamW, cosine decay to 0.
    pub fn spec(&self) -> TrainSpec {
        TrainSpec::adam(self.steps, self.learning_rate, self.seed)
            .with_optimizer(OptimizerConfig::adam_w(self.weight_decay))
            .with_schedule(LrSchedule::Cosine { min_fraction: 0.0 })
            .every(self.log_every, self.steps)
    }

    /// Trains a classifier on `train` with `run`'s trainer `name` (whose spec is
    /// [`ClassifierTraining::spec`]); returns it ready for inference.
    ///
    /// # Errors
    /// An empty training set; the trainer's errors.
    pub fn train(&self, train: &Digits, run: &mut Run, name: &str) -> Result<Classifier> {
        if train.is_empty() {
            return Err(TrainError::Invalid("the classifier's training set is empty".into()));
        }
        let network = self.network();
        let model = run.fit(
            name,
            |device| Ok(network.init(device)?),
            |model: &Classifier, batch| {
                let (x, targets) = minibatch(self, train, &mut batch.rng, batch.device);
                Ok(Loss::new(cross_entropy_with_logits(model.logits(x), targets)))
            },
        )?;
        Ok(model.valid())
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
fn minibatch<R: Rng + ?Sized>(
    config: &ClassifierTraining,
    train: &Digits,
    rng: &mut R,
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

/// The images of `data` as a tensor `[len, 64]` and their classes.
pub fn images_and_labels(data: &Digits, device: &Device) -> (Tensor<2>, Vec<usize>) {
    let x = Tensor::from_data(TensorData::new(data.flat_pixels(), [data.len(), PIXELS]), device);
    (x, data.labels.iter().map(|&l| usize::from(l)).collect())
}

/// Saves `model` to `path` (burnpack) and its shape beside it (`path` with the extension
/// `json`), each through a temporary file and a rename.
///
/// # Errors
/// I/O or serialisation failure.
pub fn save_classifier(model: &Classifier, path: &Path, config: &ClassifierConfig) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Burn's store writes the file itself: into a temporary file whose name ends in `.bpk` (so
    // the store keeps it as given), renamed over `path` when complete.
    let temp = tempfile::Builder::new().suffix(".bpk").tempfile_in(dir).map_err(io_error(dir))?;
    let mut store = BurnpackStore::from_file(temp.path()).overwrite(true);
    model
        .clone()
        .save_into(&mut store)
        .map_err(|e| TrainError::Checkpoint(format!("saving {}: {e:?}", path.display())))?;
    temp.persist(path).map_err(|e| io_error(path)(e.error))?;
    write_json_atomic(&path.with_extension("json"), config)
}

/// Loads a network saved by [`save_classifier`] onto `device` (what a user of a run's
/// `classifier.bpk` does; the trainer itself only writes it).
#[cfg(test)]
///
/// # Errors
/// Missing or corrupt files, or weights of another shape.
pub fn load_classifier(path: &Path, device: &Device) -> Result<Classifier> {
    let config_path = path.with_extension("json");
    let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
    let config: ClassifierConfig = serde_json::from_str(&text)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", config_path.display())))?;
    let mut model = config.init(device)?;
    let mut store = BurnpackStore::from_file(path);
    model
        .load_from(&mut store)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e:?}", path.display())))?;
    Ok(model)
}

/// Statistics of a feature tensor's rows (read back to the host).
///
/// # Errors
/// As [`FeatureStats::from_rows`].
pub fn feature_stats(features: Tensor<2>) -> Result<FeatureStats> {
    let [_, dim] = features.dims();
    let values: Vec<f64> = features.into_data().iter::<f64>().collect();
    Ok(FeatureStats::from_rows(&values, dim)?)
}

/// The Fréchet distance between the rows of two feature tensors.
///
/// # Errors
/// Fewer than two rows, different widths, non-finite features.
pub fn frechet_distance_of_features(a: Tensor<2>, b: Tensor<2>) -> Result<f64> {
    Ok(frechet_distance(&feature_stats(a)?, &feature_stats(b)?)?)
}

/// The fraction of class-conditional `samples` that `classifier` assigns to the class they
/// were generated for.
///
/// # Shapes
/// `samples: [n, 64]` (pixels in `[0, 1]`), `labels`: `n` classes.
///
/// # Errors
/// `labels` does not have one class per sample, or there are no samples.
pub fn conditional_accuracy(
    classifier: &Classifier,
    samples: Tensor<2>,
    labels: &[usize],
) -> Result<f64> {
    Ok(classifier.accuracy(samples, labels)?)
}

/// How the digits generative recipes compute their Fréchet distances (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct FdProtocol {
    /// Rounds.
    pub draws: usize,
    /// Images (and samples) on each side of every FD.
    pub size: usize,
    /// Seed of the subsets.
    pub seed: u64,
}

/// The real sides of the FD rounds: per round, the test features (the reference) and the
/// validation features (the floor's side).
pub struct FdReference {
    rounds: Vec<(Tensor<2>, Tensor<2>)>,
}

/// A random subset of `size` rows of `x`.
fn rows_subset(x: &Tensor<2>, size: usize, rng: &mut StdRng) -> Tensor<2> {
    let [n, _] = x.dims();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let picks: Vec<i64> = order[..size].iter().map(|&i| i as i64).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(picks, [size]), &x.device());
    x.clone().select(0, index)
}

impl FdProtocol {
    /// Checks the protocol against the splits.
    ///
    /// # Errors
    /// Fewer than two rounds or images per side; more images per side than the validation or
    /// test split holds.
    pub fn validate(&self, validation: usize, test: usize) -> Result<()> {
        stoke_core::validate::at_least("fd_draws", self.draws, 2)?;
        stoke_core::validate::at_least("n_samples", self.size, 2)?;
        let most = validation.min(test);
        if self.size > most {
            return Err(TrainError::Invalid(format!(
                "n_samples ({}) must be at most the smaller of the validation and test splits                  ({most}): every FD compares sets of the same size",
                self.size
            )));
        }
        Ok(())
    }

    /// The reference and floor features of every round.
    pub fn reference(
        &self,
        classifier: &Classifier,
        validation: &Digits,
        test: &Digits,
        device: &Device,
    ) -> FdReference {
        let features = |d: &Digits| classifier.features(images_and_labels(d, device).0);
        let (val_features, test_features) = (features(validation), features(test));
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0xFD);
        let rounds = (0..self.draws)
            .map(|_| {
                let reference = rows_subset(&test_features, self.size, &mut rng);
                let floor_side = rows_subset(&val_features, self.size, &mut rng);
                (reference, floor_side)
            })
            .collect();
        FdReference { rounds }
    }
}

impl FdReference {
    /// The floor: FD between the validation and test subsets of each round.
    ///
    /// # Errors
    /// As [`frechet_distance_of_features`].
    pub fn floor(&self) -> Result<Stat> {
        let values: Vec<f64> = self
            .rounds
            .iter()
            .map(|(reference, other)| {
                frechet_distance_of_features(other.clone(), reference.clone())
            })
            .collect::<Result<_>>()?;
        Ok(Stat::of(&values))
    }

    /// FD and conditional accuracy of `samples` (`draws * size` rows, round `k` in rows
    /// `k * size..(k + 1) * size`, meant as classes `classes`), one value per round.
    ///
    /// # Errors
    /// A sample count other than `draws * size`; as [`frechet_distance_of_features`].
    pub fn score(
        &self,
        classifier: &Classifier,
        samples: Tensor<2>,
        classes: &[usize],
    ) -> Result<(Stat, Stat)> {
        let size = self.rounds.first().map_or(0, |(r, _)| r.dims()[0]);
        let [n, _] = samples.dims();
        if n != size * self.rounds.len() || classes.len() != n {
            return Err(TrainError::Invalid(format!(
                "the FD rounds need {} samples with a class each, got {n} and {} classes",
                size * self.rounds.len(),
                classes.len()
            )));
        }
        let (mut fd, mut accuracy) = (Vec::new(), Vec::new());
        for (k, (reference, _)) in self.rounds.iter().enumerate() {
            let part = samples.clone().narrow(0, k * size, size);
            fd.push(frechet_distance_of_features(
                classifier.features(part.clone()),
                reference.clone(),
            )?);
            accuracy.push(conditional_accuracy(
                classifier,
                part,
                &classes[k * size..(k + 1) * size],
            )?);
        }
        Ok((Stat::of(&fd), Stat::of(&accuracy)))
    }
}

/// How close samples are to the training images, against how close held-out images are: a
/// model that copies its training set has its samples' nearest-neighbour distances far below
/// the held-out images'.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memorisation {
    /// Median over samples of the pixel distance to the nearest training image.
    pub sample_nn_median: f64,
    /// Median over test images of the distance to the nearest training image.
    pub test_nn_median: f64,
    /// Fraction of samples nearer a training image than 95% of test images are (about 0.05
    /// for a model that generalises like held-out data, near 1 for a copier).
    pub below_test_p05: f64,
}

/// The Euclidean distance from each row of `x` to its nearest row of `train` (pixels
/// `[0, 1]`, `PIXELS` per row).
fn nearest_distances(x: &[f32], train: &[f32]) -> Vec<f64> {
    x.chunks(PIXELS)
        .map(|a| {
            train
                .chunks(PIXELS)
                .map(|b| a.iter().zip(b).map(|(p, q)| f64::from(p - q).powi(2)).sum::<f64>())
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect()
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// The memorisation check of `samples` (pixels in `[0, 1]`, row-major) against `train`, with
/// `test` as the held-out yardstick.
pub fn memorisation(samples: &[f32], train: &Digits, test: &Digits) -> Memorisation {
    let train_pixels = train.flat_pixels();
    let mut sample_nn = nearest_distances(samples, &train_pixels);
    let mut test_nn = nearest_distances(&test.flat_pixels(), &train_pixels);
    let p05 = quantile(&mut test_nn, 0.05);
    let below = sample_nn.iter().filter(|&&d| d < p05).count() as f64 / sample_nn.len() as f64;
    Memorisation {
        sample_nn_median: quantile(&mut sample_nn, 0.5),
        test_nn_median: quantile(&mut test_nn, 0.5),
        below_test_p05: below,
    }
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

    /// The Fréchet distance on a trained classifier's features: zero for a set against itself,
    /// small between the training and held-out digits, large for uniform noise; and the
    /// conditional accuracy is high with the true labels and near chance with shifted ones.
    #[test]
    fn frechet_distance_on_classifier_features_separates_digits_from_noise() {
        let out = std::env::temp_dir().join(format!("stoke-fd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let args = ["--out", out.to_str().unwrap(), "--steps", "200", "--width", "64"];
        crate::train_for_test("digits-classifier", &args).unwrap();
        let device = Device::flex();
        let model = load_classifier(&out.join(CLASSIFIER_FILE), &device).unwrap();
        let (train, test) = stoke_data::digits::load()
            .unwrap()
            .split(
                stoke_data::digits::DEFAULT_TEST_FRACTION,
                stoke_data::digits::DEFAULT_SPLIT_SEED,
            )
            .unwrap();
        let (x_train, _) = images_and_labels(&train, &device);
        let (x_test, labels) = images_and_labels(&test, &device);
        let noise = Tensor::<2>::random(
            [test.len(), PIXELS],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let fd = |a: Tensor<2>, b: Tensor<2>| {
            frechet_distance_of_features(model.features(a), model.features(b)).unwrap()
        };
        let same = fd(x_test.clone(), x_test.clone());
        let held_out = fd(x_train, x_test.clone());
        let noisy = fd(noise, x_test.clone());
        assert!(same < 1e-6, "{same}");
        assert!(held_out < 0.2 * noisy, "train vs test {held_out}, noise vs test {noisy}");
        let accuracy = conditional_accuracy(&model, x_test.clone(), &labels).unwrap();
        let shifted: Vec<usize> = labels.iter().map(|l| (l + 1) % 10).collect();
        let wrong = conditional_accuracy(&model, x_test.clone(), &shifted).unwrap();
        assert!(accuracy > 0.8 && wrong < 0.2, "{accuracy} vs {wrong}");
        assert!(conditional_accuracy(&model, x_test, &labels[1..]).is_err());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn bad_configs_name_the_value() {
        let bad = ClassifierTraining { max_shift: 4, ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("max_shift"));
        let bad = ClassifierTraining { weight_decay: f64::NAN, ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("weight_decay"));
    }
}
