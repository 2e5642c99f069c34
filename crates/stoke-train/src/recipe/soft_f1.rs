//! `soft-f1`: does optimising a smooth F1 beat cross-entropy on the F1 it targets?
//!
//! One digit class against the rest, with that class's training examples cut to a handful
//! (a long tail), so a cross-entropy model learns to say "no" and its F1 at threshold 0.5
//! suffers. Two identical MLPs from the same initialisation see the same full training
//! batch each step: one minimises binary cross-entropy, the other `1 - sigmoid_F1`
//! [BENEDICT21, Eq. 5]. Both are scored by the hard F1 on the held-out digits.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, Digits, PIXELS};
use stoke_data::plot;
use stoke_estimators::score_function::log_prob_bernoulli;
use stoke_estimators::surrogates::sigmoid_f1;

use super::{TrainArgs, check_count, check_positive, resolve_config};
use crate::checkpoint;
use crate::error::{Result, TrainError};
use crate::nn::{Mlp, MlpConfig};
use crate::progress::{self, Schedule, Steps};
use crate::run_dir::{RunDir, write_json_atomic};

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

impl SoftF1Config {
    /// Checks every value; the message names the bad one.
    ///
    /// # Errors
    /// A class outside 0..9, zero counts, a non-positive learning rate.
    pub fn validate(&self) -> Result<()> {
        if self.positive_class > 9 {
            return Err(TrainError::Invalid(format!(
                "positive_class must be a digit 0..9, got {}",
                self.positive_class
            )));
        }
        check_count("train_positives", self.train_positives)?;
        check_count("steps", self.steps)?;
        check_positive("learning_rate", self.learning_rate)?;
        check_count("width", self.width)?;
        check_count("log_every", self.log_every)?;
        check_count("checkpoint_every", self.checkpoint_every)
    }
}

/// What a model is trained to minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    /// Binary cross-entropy `-log p(y | logits)`.
    CrossEntropy,
    /// `1 - sigmoid_F1` [BENEDICT21, Eq. 5].
    SoftF1,
}

impl Objective {
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

struct Training<'a> {
    objective: Objective,
    data: &'a Batch,
    learning_rate: f64,
    run_dir: RunDir,
    /// `None` only inside a step: Burn's optimizer takes the model by value.
    model: Option<Mlp>,
    optimizer: ModuleOptimizer,
}

impl Steps for Training<'_> {
    fn step(&mut self, _step: usize) -> Result<f64> {
        let model = self.model.take().expect("the model is back after every step");
        let [n, _] = self.data.images.dims();
        let logits = model.forward(self.data.images.clone()).reshape([n]);
        let loss = self.objective.loss(logits, self.data.labels.clone())?;
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optimizer.step(self.learning_rate, model, grads));
        Ok(value)
    }

    fn checkpoint(&mut self, done: usize) -> Result<()> {
        let model = self.model.as_ref().expect("the model is back after every step");
        checkpoint::save(&self.run_dir, done, model, &self.optimizer, &json!({ "step": done }), 2)
    }
}

/// Trains one model (resuming from its sub-run's checkpoint) and returns it.
fn train_one(
    config: &SoftF1Config,
    objective: Objective,
    data: &Batch,
    run_dir: &RunDir,
    device: &Device,
) -> Result<Mlp> {
    // The same seed before each init gives both objectives the same starting weights.
    device.seed(config.seed);
    let fresh = MlpConfig::new(PIXELS, 1).with_width(config.width).init(device);
    let optimizer = super::adam();
    let sub = run_dir.child(objective.name())?;
    let (model, optimizer, start) = match checkpoint::latest(&sub)? {
        Some((step, dir)) => {
            let (model, optimizer, _) = checkpoint::load(&dir, fresh, optimizer)?;
            sub.truncate_metrics_after(step)?;
            (model, optimizer, step)
        }
        None => (fresh, optimizer, 0),
    };
    let schedule = Schedule {
        start,
        total: config.steps,
        log_every: config.log_every,
        checkpoint_every: config.checkpoint_every,
    };
    let mut training = Training {
        objective,
        data,
        learning_rate: config.learning_rate,
        run_dir: sub.clone(),
        model: Some(model),
        optimizer,
    };
    eprintln!("training the {} model", objective.name());
    progress::run(&sub, schedule, &mut training)?;
    Ok(training.model.expect("the model is back after every step"))
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

/// Runs the recipe.
///
/// # Errors
/// Bad config or arguments (before any file is written), I/O, divergence.
pub fn run(args: &TrainArgs) -> Result<()> {
    let resumed = args.resume.as_ref().map(|p| RunDir::open(p)).transpose()?;
    let base = resumed.as_ref().map(|r| r.read_config()).transpose()?;
    let config: SoftF1Config = resolve_config(&SoftF1Config::default(), base, args)?;
    config.validate()?;
    let device = args.backend.device()?;
    let (train, test) = digits::load()?.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
    let run_dir = match resumed {
        Some(r) => r,
        None => RunDir::create(args.out.as_deref(), "soft-f1")?,
    };
    write_json_atomic(&run_dir.file("config.json"), &config)?;
    let result = train_and_score(&config, &train, &test, &device, &run_dir);
    if result.is_err()
        && !run_dir.file("ce").join("checkpoints").read_dir().is_ok_and(|mut d| d.next().is_some())
    {
        run_dir.discard();
    }
    result
}

fn train_and_score(
    config: &SoftF1Config,
    train: &Digits,
    test: &Digits,
    device: &Device,
    run_dir: &RunDir,
) -> Result<()> {
    let positive = config.positive_class;
    let tail = long_tail(train, positive, config.train_positives, config.seed);
    let train_device = device.clone().autodiff();
    let train_batch = batch(&tail, positive, &train_device);
    let test_batch = batch(test, positive, device);
    let mut scores = Vec::new();
    for objective in [Objective::CrossEntropy, Objective::SoftF1] {
        let model = train_one(config, objective, &train_batch, run_dir, &train_device)?;
        scores.push(hard_scores(&model.valid(), &test_batch));
    }
    let ((p_ce, r_ce, f1_ce), (p_soft, r_soft, f1_soft)) = (scores[0], scores[1]);
    let positives_in_train = tail.labels.iter().filter(|&&l| l == positive).count();
    let summary = json!({
        "recipe": "soft-f1",
        "positive_class": positive,
        "train_size": tail.len(),
        "train_positives": positives_in_train,
        "test_size": test.len(),
        "test_positives": test.labels.iter().filter(|&&l| l == positive).count(),
        "f1_ce": f1_ce,
        "f1_soft": f1_soft,
        "precision_ce": p_ce,
        "recall_ce": r_ce,
        "precision_soft": p_soft,
        "recall_soft": r_soft,
    });
    write_json_atomic(&run_dir.file("metrics.json"), &summary)?;
    save_loss_plot(run_dir)?;
    eprintln!(
        "{}: test F1 cross-entropy {f1_ce:.3} vs soft-F1 {f1_soft:.3} (class {positive}, {positives_in_train} positives in training); wrote metrics.json, loss.png",
        run_dir.path().display()
    );
    Ok(())
}

fn save_loss_plot(run_dir: &RunDir) -> Result<()> {
    let mut series = Vec::new();
    for objective in [Objective::CrossEntropy, Objective::SoftF1] {
        let points: Vec<(f64, f64)> = run_dir
            .child(objective.name())?
            .read_metrics()?
            .iter()
            .filter_map(|r| Some((r["step"].as_f64()?, r["loss"].as_f64()?)))
            .collect();
        series.push((objective.name(), points));
    }
    let refs: Vec<(&str, &[(f64, f64)])> = series.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    let image = plot::line_plot(&refs, "training loss", "step", "loss", false, [640, 400]);
    Ok(image.save_png(run_dir.file("loss.png"))?)
}
