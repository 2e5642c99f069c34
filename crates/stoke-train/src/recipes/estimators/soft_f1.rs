//! `soft-f1`: does optimising a smooth F1 beat cross-entropy on the F1 it targets?
//!
//! One digit class against the rest, with that class's training examples cut to a handful
//! (a long tail), so a cross-entropy model learns to say "no" and its F1 at threshold 0.5
//! suffers. Two identical MLPs from the same initialisation see the same full training
//! batch each step (trainers `ce` and `soft-f1`, sub-runs of their own): one minimises binary
//! cross-entropy, the other `1 - sigmoid_F1` [BENEDICT21, Eq. 5]. Both are scored by the hard
//! F1 on the held-out digits (`f1_ce`, `f1_soft`, with precision and recall).

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate::count;
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, Digits, PIXELS};
use stoke_estimators::score_function::log_prob_bernoulli;
use stoke_estimators::surrogates::sigmoid_f1;
use stoke_nn::mlp::{Mlp, MlpConfig};

use crate::error::{Result, TrainError};
use crate::harness::{Entry, Family, Loss, Recipe, Run, TrainSpec, launch, metrics_map};

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

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "soft-f1",
    family: Family::Estimators,
    summary: "one digit against the rest with a long-tailed training set: binary cross-entropy \
              vs the sigmoid-F1 surrogate, scored by test F1 (f1_ce, f1_soft)",
    run: |args| launch(&SoftF1, args),
    tiny: &[("steps", "30"), ("log_every", "10"), ("checkpoint_every", "15")],
};

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

/// `soft-f1`.
pub struct SoftF1;

/// The long-tailed training split and the test split.
pub struct Prepared {
    tail: Digits,
    test: Digits,
}

impl Recipe for SoftF1 {
    type Config = SoftF1Config;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> SoftF1Config {
        SoftF1Config::default()
    }

    fn prepare(&self, c: &SoftF1Config) -> Result<Prepared> {
        if c.positive_class > 9 {
            return Err(TrainError::Invalid(format!(
                "positive_class must be a digit 0..9, got {}",
                c.positive_class
            )));
        }
        count("train_positives", c.train_positives)?;
        count("width", c.width)?;
        let (train, test) = digits::load()?.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
        let tail = long_tail(&train, c.positive_class, c.train_positives, c.seed);
        Ok(Prepared { tail, test })
    }

    fn training(&self, c: &SoftF1Config) -> Vec<(&'static str, TrainSpec)> {
        // The same seed for both: the same starting weights.
        let spec = TrainSpec::adam(c.steps, c.learning_rate, c.seed)
            .every(c.log_every, c.checkpoint_every);
        Objective::ALL.iter().map(|o| (o.name(), spec)).collect()
    }

    fn run(&self, c: &SoftF1Config, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let positive = c.positive_class;
        let train_batch = batch(&p.tail, positive, &run.device().clone().autodiff());
        let test_batch = batch(&p.test, positive, run.device());
        let network = MlpConfig::new(PIXELS, 1).with_width(c.width);
        let mut scores = Vec::new();
        for objective in Objective::ALL {
            eprintln!("training the {} model", objective.name());
            let model = run.fit(
                objective.name(),
                |device| Ok(network.init(device)?),
                |model: &Mlp, _| {
                    let [n, _] = train_batch.images.dims();
                    let logits = model.forward(train_batch.images.clone()).reshape([n]);
                    Ok(Loss::new(objective.loss(logits, train_batch.labels.clone())?))
                },
            )?;
            scores.push(hard_scores(&model.valid(), &test_batch));
        }
        let ((p_ce, r_ce, f1_ce), (p_soft, r_soft, f1_soft)) = (scores[0], scores[1]);
        let positives_in_train = p.tail.labels.iter().filter(|&&l| l == positive).count();
        eprintln!(
            "{}: test F1 cross-entropy {f1_ce:.3} vs soft-F1 {f1_soft:.3} (class {positive}, {positives_in_train} positives in training); wrote metrics.json, loss.png",
            run.dir().path().display()
        );
        Ok(metrics_map(json!({
            "positive_class": positive,
            "train_size": p.tail.len(),
            "train_positives": positives_in_train,
            "test_size": p.test.len(),
            "test_positives": p.test.labels.iter().filter(|&&l| l == positive).count(),
            "f1_ce": f1_ce,
            "f1_soft": f1_soft,
            "precision_ce": p_ce,
            "recall_ce": r_ce,
            "precision_soft": p_soft,
            "recall_soft": r_soft,
        })))
    }
}

/// Hard precision, recall and F1 at threshold 0.5 (`logit > 0`).
fn hard_scores(model: &Mlp, data: &Batch) -> (f64, f64, f64) {
    let [n, _] = data.images.dims();
    let logits: Vec<f32> =
        model.forward(data.images.clone()).reshape([n]).into_data().iter::<f32>().collect();
    let labels: Vec<f32> = data.labels.clone().into_data().iter::<f32>().collect();
    let (mut tp, mut fp, mut false_neg) = (0.0, 0.0, 0.0);
    for (logit, label) in logits.iter().zip(&labels) {
        match (*logit > 0.0, *label > 0.5) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => false_neg += 1.0,
            (false, false) => {}
        }
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    (ratio(tp, tp + fp), ratio(tp, tp + false_neg), ratio(2.0 * tp, 2.0 * tp + fp + false_neg))
}
