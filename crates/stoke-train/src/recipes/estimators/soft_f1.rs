//! `soft-f1`: does optimising a smooth F1 beat cross-entropy on the F1 it targets?
//!
//! One digit class against the rest, with that class's training examples cut to a handful
//! (a long tail), so a cross-entropy model learns to say "no" and its F1 at threshold 0.5
//! suffers. Two identical MLPs from the same initialisation see the same full training
//! batch each step (trainers `ce` and `soft-f1`, sub-runs of their own): one minimises binary
//! cross-entropy, the other `1 - sigmoid_F1` [BENEDICT21, Eq. 5]. Both are scored by the hard
//! F1 on the test split, at threshold 0.5 (`f1_ce`, `f1_soft`, with precision and recall) and
//! at the threshold that maximises each model's F1 on the validation split (`f1_ce_tuned`,
//! `f1_soft_tuned`, `threshold_ce`, `threshold_soft`): a tuned threshold is the fair
//! cross-entropy baseline.
//!
//! `soft-f1-sweep` runs the same experiment for every class of `classes` and seed of `seeds`
//! and counts soft-F1's wins, ties (|difference| < 0.005) and losses, at 0.5 and tuned.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate::size;
use stoke_data::digits::{
    self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION, Digits, PIXELS,
};
use stoke_estimators::score_function::log_prob_bernoulli;
use stoke_estimators::surrogates::sigmoid_f1;
use stoke_nn::mlp::{Mlp, MlpConfig};

use crate::error::{Result, TrainError};
use crate::eval::Stat;
use crate::harness::{
    Entry, Family, Loss, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftF1Config {
    /// The positive class (a digit).
    pub positive_class: u8,
    /// How many positive examples the training set keeps (the long tail).
    pub train_positives: usize,
    /// Full-batch training steps for each model.
    pub steps: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Hidden width of the MLP.
    pub width: usize,
    /// Seed for the subsample and the (shared) initialisation.
    pub seed: u64,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for SoftF1Config {
    fn default() -> Self {
        Self {
            positive_class: 9,
            train_positives: 20,
            steps: 800,
            learning_rate: 1e-3,
            width: 64,
            seed: 0,
            log_every: 50,
            checkpoint_every: 400,
        }
    }
}

/// The registry entries: the experiment, and its sweep over classes and seeds.
pub const ENTRIES: [Entry; 2] = [
    Entry {
        name: "soft-f1",
        family: Family::Estimators,
        summary: "one digit against the rest with a long-tailed training set: binary \
                  cross-entropy vs the sigmoid-F1 surrogate, scored by test F1 at 0.5 and at \
                  thresholds tuned on validation",
        run: |args| launch(&SoftF1, args),
        check: |args| check(&SoftF1, args),
        defaults: || defaults_json(&SoftF1),
        tiny: &[("steps", "30"), ("log_every", "10"), ("checkpoint_every", "15")],
    },
    Entry {
        name: "soft-f1-sweep",
        family: Family::Estimators,
        summary: "soft-f1 for every class and seed: soft-F1's wins, ties and losses against \
                  cross-entropy, at 0.5 and at validation-tuned thresholds",
        run: |args| launch(&SoftF1Sweep, args),
        check: |args| check(&SoftF1Sweep, args),
        defaults: || defaults_json(&SoftF1Sweep),
        tiny: &[("classes", "[3, 9]"), ("seeds", "[0]"), ("steps", "30"), ("log_every", "10")],
    },
];

/// What a model is trained to minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    /// Binary cross-entropy `-log p(y | logits)`.
    CrossEntropy,
    /// `1 - sigmoid_F1` [BENEDICT21, Eq. 5].
    SoftF1,
}

impl Objective {
    const ALL: [Objective; 2] = [Self::CrossEntropy, Self::SoftF1];

    /// The trainer's name.
    fn name(self) -> &'static str {
        match self {
            Self::CrossEntropy => "ce",
            Self::SoftF1 => "soft-f1",
        }
    }

    /// The loss on a batch.
    ///
    /// # Shapes
    /// `logits`, `labels`: `[batch]` -> `[1]`.
    fn loss(self, logits: Tensor<1>, labels: Tensor<1>) -> Result<Tensor<1>> {
        match self {
            Self::CrossEntropy => Ok(log_prob_bernoulli(logits, labels).mean().neg()),
            Self::SoftF1 => {
                let f1 = sigmoid_f1(logits, labels)
                    .map_err(|e| TrainError::Invalid(format!("soft-f1: {e}")))?;
                Ok(f1.neg().add_scalar(1.0))
            }
        }
    }
}

/// Images and binary labels as tensors.
struct Batch {
    images: Tensor<2>,
    labels: Tensor<1>,
}

fn batch(data: &Digits, positive: u8, device: &Device) -> Batch {
    let n = data.len();
    let labels: Vec<f32> =
        data.labels.iter().map(|&l| f32::from(u8::from(l == positive))).collect();
    Batch {
        images: Tensor::from_data(TensorData::new(data.flat_pixels(), [n, PIXELS]), device),
        labels: Tensor::from_data(TensorData::new(labels, [n]), device),
    }
}

/// The training set with the positive class cut to `keep` examples (seeded).
fn long_tail(train: &Digits, positive: u8, keep: usize, seed: u64) -> Digits {
    let (mut positives, negatives): (Vec<usize>, Vec<usize>) =
        (0..train.len()).partition(|&i| train.labels[i] == positive);
    positives.shuffle(&mut StdRng::seed_from_u64(seed));
    positives.truncate(keep);
    let mut kept = negatives;
    kept.extend(positives);
    kept.sort_unstable();
    train.select(&kept)
}

/// The splits: training (the long tail is cut per class and seed), validation (thresholds
/// are chosen on it) and test.
pub struct Splits {
    train: Digits,
    validation: Digits,
    test: Digits,
}

fn load_splits() -> Result<Splits> {
    let (train, validation, test) = digits::load()?.split3(
        DEFAULT_VALIDATION_FRACTION,
        DEFAULT_TEST_FRACTION,
        DEFAULT_SPLIT_SEED,
    )?;
    Ok(Splits { train, validation, test })
}

fn check_class(c: &SoftF1Config, class: u8) -> Result<()> {
    if class > 9 {
        return Err(TrainError::Invalid(format!(
            "positive_class must be a digit 0..9, got {class}"
        )));
    }
    size("train_positives", c.train_positives)?;
    size("width", c.width)?;
    Ok(())
}

/// One experiment's scores: per objective, test F1 at 0.5 (with precision and recall) and at
/// its validation-tuned threshold.
#[derive(Debug, Clone, Copy)]
struct Scores {
    at_half: [(f64, f64, f64); 2],
    tuned: [(f64, f64); 2],
    train_positives: usize,
    train_size: usize,
}

/// Trains both models for `class` with `seed` (trainers `<prefix>ce`, `<prefix>soft-f1`) and
/// scores them.
fn experiment(
    c: &SoftF1Config,
    class: u8,
    seed: u64,
    data: &Splits,
    run: &mut Run,
    prefix: &str,
) -> Result<Scores> {
    let tail = long_tail(&data.train, class, c.train_positives, seed);
    let train_batch = batch(&tail, class, &run.device().clone().autodiff());
    let validation = batch(&data.validation, class, run.device());
    let test = batch(&data.test, class, run.device());
    let network = MlpConfig::new(PIXELS, 1).with_width(c.width);
    let mut scores = Scores {
        at_half: [(0.0, 0.0, 0.0); 2],
        tuned: [(0.0, 0.0); 2],
        train_positives: 0,
        train_size: tail.len(),
    };
    scores.train_positives = tail.labels.iter().filter(|&&l| l == class).count();
    for (i, objective) in Objective::ALL.into_iter().enumerate() {
        let name = format!("{prefix}{}", objective.name());
        eprintln!("training the {name} model");
        let model = run.fit(
            &name,
            |device| Ok(network.init(device)?),
            |model: &Mlp, _| {
                let [n, _] = train_batch.images.dims();
                let logits = model.forward(train_batch.images.clone()).reshape([n]);
                Ok(Loss::new(objective.loss(logits, train_batch.labels.clone())?))
            },
        )?;
        let model = model.valid();
        let threshold =
            best_threshold(&probabilities(&model, &validation), &labels_of(&validation));
        let (test_probs, test_labels) = (probabilities(&model, &test), labels_of(&test));
        scores.at_half[i] = hard_scores(&test_probs, &test_labels, 0.5);
        scores.tuned[i] = (hard_scores(&test_probs, &test_labels, threshold).2, threshold);
    }
    Ok(scores)
}

/// `soft-f1`.
pub struct SoftF1;

impl Recipe for SoftF1 {
    type Config = SoftF1Config;
    type Prepared = Splits;

    fn name(&self) -> &'static str {
        ENTRIES[0].name
    }

    fn defaults(&self) -> SoftF1Config {
        SoftF1Config::default()
    }

    fn prepare(&self, c: &SoftF1Config) -> Result<Splits> {
        check_class(c, c.positive_class)?;
        load_splits()
    }

    fn training(&self, c: &SoftF1Config) -> Vec<(String, TrainSpec)> {
        // The same seed for both: the same starting weights.
        let spec = TrainSpec::adam(c.steps, c.learning_rate, c.seed)
            .every(c.log_every, c.checkpoint_every);
        Objective::ALL.iter().map(|o| (o.name().to_string(), spec)).collect()
    }

    fn run(&self, c: &SoftF1Config, data: &Splits, run: &mut Run) -> Result<Map<String, Value>> {
        let class = c.positive_class;
        let s = experiment(c, class, c.seed, data, run, "")?;
        let [(p_ce, r_ce, f1_ce), (p_soft, r_soft, f1_soft)] = s.at_half;
        let [(f1_ce_tuned, threshold_ce), (f1_soft_tuned, threshold_soft)] = s.tuned;
        eprintln!(
            "{}: test F1 at 0.5 cross-entropy {f1_ce:.3} vs soft-F1 {f1_soft:.3}; at validation-tuned thresholds {f1_ce_tuned:.3} ({threshold_ce:.2}) vs {f1_soft_tuned:.3} ({threshold_soft:.2}) (class {class}, {} positives in training); wrote metrics.json, loss.png",
            run.dir().path().display(),
            s.train_positives
        );
        let positives = |d: &Digits| d.labels.iter().filter(|&&l| l == class).count();
        Ok(metrics_map(json!({
            "positive_class": class,
            "train_size": s.train_size,
            "train_positives": s.train_positives,
            "validation_size": data.validation.len(),
            "test_size": data.test.len(),
            "test_positives": positives(&data.test),
            "f1_ce": f1_ce,
            "f1_soft": f1_soft,
            "precision_ce": p_ce,
            "recall_ce": r_ce,
            "precision_soft": p_soft,
            "recall_soft": r_soft,
            "f1_ce_tuned": f1_ce_tuned,
            "f1_soft_tuned": f1_soft_tuned,
            "threshold_ce": threshold_ce,
            "threshold_soft": threshold_soft,
        })))
    }
}

/// `soft-f1-sweep`'s config: the experiment's, with lists of classes and seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftF1SweepConfig {
    /// The positive classes.
    pub classes: Vec<u8>,
    /// The seeds (each a subsample and an initialisation).
    pub seeds: Vec<u64>,
    /// How many positive examples each training set keeps.
    pub train_positives: usize,
    /// Full-batch training steps for each model.
    pub steps: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Hidden width of the MLP.
    pub width: usize,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
}

impl Default for SoftF1SweepConfig {
    fn default() -> Self {
        let one = SoftF1Config::default();
        Self {
            classes: (0..10).collect(),
            seeds: vec![0, 1],
            train_positives: one.train_positives,
            steps: one.steps,
            learning_rate: one.learning_rate,
            width: one.width,
            log_every: one.log_every,
        }
    }
}

impl SoftF1SweepConfig {
    /// The experiment's config for one pair.
    fn experiment(&self, class: u8, seed: u64) -> SoftF1Config {
        SoftF1Config {
            positive_class: class,
            train_positives: self.train_positives,
            steps: self.steps,
            learning_rate: self.learning_rate,
            width: self.width,
            seed,
            log_every: self.log_every,
            checkpoint_every: self.steps,
        }
    }

    fn pairs(&self) -> Vec<(u8, u64)> {
        self.classes.iter().flat_map(|&c| self.seeds.iter().map(move |&s| (c, s))).collect()
    }
}

/// `soft-f1-sweep`.
pub struct SoftF1Sweep;

/// Wins, ties (|difference| < 0.005) and losses of the first score against the second, and
/// the paired difference `soft - ce` as a mean with its standard error over the pairs.
fn tally(pairs: &[(f64, f64)]) -> Value {
    let (mut wins, mut ties, mut losses) = (0, 0, 0);
    for &(soft, ce) in pairs {
        match soft - ce {
            d if d.abs() < 0.005 => ties += 1,
            d if d > 0.0 => wins += 1,
            _ => losses += 1,
        }
    }
    let differences: Vec<f64> = pairs.iter().map(|(soft, ce)| soft - ce).collect();
    let difference = Stat::of(&differences);
    json!({ "wins": wins, "ties": ties, "losses": losses,
        "difference": difference.mean, "difference_stderr": difference.stderr })
}

impl Recipe for SoftF1Sweep {
    type Config = SoftF1SweepConfig;
    type Prepared = Splits;

    fn name(&self) -> &'static str {
        ENTRIES[1].name
    }

    fn defaults(&self) -> SoftF1SweepConfig {
        SoftF1SweepConfig::default()
    }

    fn prepare(&self, c: &SoftF1SweepConfig) -> Result<Splits> {
        if c.classes.is_empty() || c.seeds.is_empty() {
            return Err(TrainError::Invalid("classes and seeds must not be empty".into()));
        }
        for &class in &c.classes {
            check_class(&c.experiment(class, 0), class)?;
        }
        load_splits()
    }

    fn training(&self, c: &SoftF1SweepConfig) -> Vec<(String, TrainSpec)> {
        c.pairs()
            .into_iter()
            .flat_map(|(class, seed)| {
                let spec =
                    TrainSpec::adam(c.steps, c.learning_rate, seed).every(c.log_every, c.steps);
                Objective::ALL.map(|o| (format!("c{class}-s{seed}-{}", o.name()), spec))
            })
            .collect()
    }

    fn run(
        &self,
        c: &SoftF1SweepConfig,
        data: &Splits,
        run: &mut Run,
    ) -> Result<Map<String, Value>> {
        let (mut rows, mut at_half, mut tuned) = (Vec::new(), Vec::new(), Vec::new());
        for (class, seed) in c.pairs() {
            let s = experiment(
                &c.experiment(class, seed),
                class,
                seed,
                data,
                run,
                &format!("c{class}-s{seed}-"),
            )?;
            at_half.push((s.at_half[1].2, s.at_half[0].2));
            tuned.push((s.tuned[1].0, s.tuned[0].0));
            rows.push(json!({
                "positive_class": class,
                "seed": seed,
                "f1_ce": s.at_half[0].2,
                "f1_soft": s.at_half[1].2,
                "f1_ce_tuned": s.tuned[0].0,
                "f1_soft_tuned": s.tuned[1].0,
            }));
        }
        let mean = |v: &[(f64, f64)], soft: bool| -> Value {
            let values: Vec<f64> = v.iter().map(|p| if soft { p.0 } else { p.1 }).collect();
            json!(Stat::of(&values))
        };
        let (half, tuned_tally) = (tally(&at_half), tally(&tuned));
        eprintln!(
            "{}: soft-F1 vs cross-entropy over {} runs: at 0.5 {half}; at tuned thresholds {tuned_tally}",
            run.dir().path().display(),
            rows.len()
        );
        Ok(metrics_map(json!({
            "runs": rows,
            "at_half": half,
            "tuned": tuned_tally,
            "f1_ce": mean(&at_half, false),
            "f1_soft": mean(&at_half, true),
            "f1_ce_tuned": mean(&tuned, false),
            "f1_soft_tuned": mean(&tuned, true),
        })))
    }
}

/// The model's probability of the positive class for every image.
fn probabilities(model: &Mlp, data: &Batch) -> Vec<f64> {
    let [n, _] = data.images.dims();
    let logits = model.forward(data.images.clone()).reshape([n]);
    burn::tensor::activation::sigmoid(logits).into_data().iter::<f64>().collect()
}

fn labels_of(data: &Batch) -> Vec<bool> {
    data.labels.clone().into_data().iter::<f32>().map(|l| l > 0.5).collect()
}

/// The threshold in `0.05, 0.10, ..., 0.95` with the best F1 on `(probs, labels)` (the
/// smallest of ties).
fn best_threshold(probs: &[f64], labels: &[bool]) -> f64 {
    let grid = (1..20).map(|k| k as f64 * 0.05);
    grid.fold((0.5, -1.0), |(best, score), t| {
        let f1 = hard_scores(probs, labels, t).2;
        if f1 > score { (t, f1) } else { (best, score) }
    })
    .0
}

/// Hard precision, recall and F1 of `probs > threshold` against `labels`.
fn hard_scores(probs: &[f64], labels: &[bool], threshold: f64) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut false_neg) = (0.0, 0.0, 0.0);
    for (&p, &label) in probs.iter().zip(labels) {
        match (p > threshold, label) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => false_neg += 1.0,
            (false, false) => {}
        }
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    (ratio(tp, tp + fp), ratio(tp, tp + false_neg), ratio(2.0 * tp, 2.0 * tp + fp + false_neg))
}
