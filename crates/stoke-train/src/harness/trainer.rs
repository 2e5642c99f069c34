//! The one training loop: a [`Trainer`] owns a model, its optimizer and its step clock; it
//! resumes from the latest checkpoint of its run directory, hands each step its RNG (a pure
//! function of `(seed, step)`, so a resumed run draws exactly what it would have drawn),
//! steps the optimizer on the loss the recipe returns, logs to `metrics.jsonl`, shows
//! progress, checkpoints atomically, and stops on a non-finite loss with the last good
//! checkpoint kept.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate::{count, positive};

use super::checkpoint;
use super::run_dir::RunDir;
use super::schedule::{LrSchedule, OptimizerConfig};
use crate::error::{Result, TrainError};

/// How one model is trained: recorded in `config.json`, read by the [`Trainer`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// Optimisation steps.
    pub steps: usize,
    /// The peak learning rate.
    pub learning_rate: f64,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Seed of the initialisation and of every step's RNG.
    pub seed: u64,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
    /// Steps between checkpoints (and one at the end).
    pub checkpoint_every: usize,
}

impl TrainSpec {
    /// `steps` of Adam (PyTorch's epsilon) at a constant `learning_rate`, logging every 100
    /// steps and checkpointing every 1000.
    pub fn adam(steps: usize, learning_rate: f64, seed: u64) -> Self {
        Self {
            steps,
            learning_rate,
            schedule: LrSchedule::Constant,
            optimizer: OptimizerConfig::adam(),
            seed,
            log_every: 100,
            checkpoint_every: 1000,
        }
    }

    /// The same with another schedule.
    pub fn with_schedule(self, schedule: LrSchedule) -> Self {
        Self { schedule, ..self }
    }

    /// The same with another optimizer.
    pub fn with_optimizer(self, optimizer: OptimizerConfig) -> Self {
        Self { optimizer, ..self }
    }

    /// The same with other logging and checkpoint intervals.
    pub fn every(self, log_every: usize, checkpoint_every: usize) -> Self {
        Self { log_every, checkpoint_every, ..self }
    }

    /// Checks every value.
    ///
    /// # Errors
    /// Zero counts, a non-positive learning rate, invalid optimizer or schedule parameters.
    pub fn validate(&self) -> Result<()> {
        count("steps", self.steps)?;
        positive("learning_rate", self.learning_rate)?;
        count("log_every", self.log_every)?;
        count("checkpoint_every", self.checkpoint_every)?;
        self.optimizer.validate()?;
        self.schedule.validate()
    }

    /// The learning rate at `step`.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        self.schedule.at(self.learning_rate, step, self.steps)
    }
}

/// An independent stream per step, a pure function of `(seed, step)`.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// What a step hands the recipe: the step's index, its RNG and the autodiff device.
pub struct Batch<'a> {
    /// The step (0-based).
    pub step: usize,
    /// The step's RNG ([`step_rng`]).
    pub rng: StdRng,
    /// The device the model trains on (autodiff).
    pub device: &'a Device,
}

/// A step's loss: the objective to differentiate, what to log as the loss (by default the
/// objective's value), and any extra values for `metrics.jsonl`.
pub struct Loss {
    objective: Tensor<1>,
    report: Option<f64>,
    extra: Vec<(&'static str, f64)>,
}

impl Loss {
    /// Logs the objective's own value.
    pub fn new(objective: Tensor<1>) -> Self {
        Self { objective, report: None, extra: Vec::new() }
    }

    /// The objective's value, read back from the device.
    pub fn value(&self) -> f32 {
        self.objective.clone().into_scalar::<f32>()
    }

    /// Logs `value` as the loss instead (the objective may be a surrogate whose value means
    /// nothing, such as a score-function estimator's).
    pub fn reporting(self, value: f64) -> Self {
        Self { report: Some(value), ..self }
    }

    /// Adds `name: value` to the logged records (averaged like the loss).
    pub fn with(mut self, name: &'static str, value: f64) -> Self {
        self.extra.push((name, value));
        self
    }
}

impl From<Tensor<1>> for Loss {
    fn from(objective: Tensor<1>) -> Self {
        Self::new(objective)
    }
}

/// What a finished [`Trainer`] reports.
#[derive(Debug, Clone)]
pub struct Fitted<M> {
    /// The trained model (on the autodiff device).
    pub model: M,
    /// The last logged loss.
    pub final_loss: Option<f64>,
    /// Training seconds, including those before a resume.
    pub seconds: f64,
}

/// A model, its optimizer and its step clock, in one run directory.
pub struct Trainer<M> {
    name: String,
    spec: TrainSpec,
    run: RunDir,
    device: Device,
    model: Option<M>,
    optimizer: ModuleOptimizer,
    start: usize,
    prior_seconds: f64,
}

impl<M: Module + ModuleSnapshot + Clone> Trainer<M> {
    /// A trainer for the model `init` builds on the autodiff `device` (seeded with
    /// `spec.seed` first, so the initialisation is a function of the seed), resumed from the
    /// latest checkpoint in `run` if there is one.
    ///
    /// # Errors
    /// An invalid spec; `init`'s error; a checkpoint that does not load.
    pub fn new(
        name: &str,
        spec: TrainSpec,
        run: RunDir,
        device: &Device,
        init: impl FnOnce(&Device) -> Result<M>,
    ) -> Result<Self> {
        spec.validate()?;
        device.seed(spec.seed);
        let model = init(device)?;
        let optimizer = spec.optimizer.init();
        let (model, optimizer, start, prior_seconds) = match checkpoint::latest(&run)? {
            None => (model, optimizer, 0, 0.0),
            Some((step, dir)) => {
                let (model, optimizer, state) = checkpoint::load(&dir, model, optimizer)?;
                run.truncate_metrics_after(step)?;
                eprintln!("resuming {} from step {step}", run.path().display());
                (model, optimizer, step, state["train_seconds"].as_f64().unwrap_or(0.0))
            }
        };
        Ok(Self {
            name: name.to_string(),
            spec,
            run,
            device: device.clone(),
            model: Some(model),
            optimizer,
            start: start.min(spec.steps),
            prior_seconds,
        })
    }

    /// Trains from the resumed step to `spec.steps`: each step calls `loss` on the model
    /// and the step's [`Batch`], refuses a non-finite loss, back-propagates and steps the
    /// optimizer at the schedule's rate.
    ///
    /// # Errors
    /// `loss`'s error; [`TrainError::Diverged`] on a non-finite loss (no checkpoint is written
    /// after it, so the last good one is kept); I/O.
    pub fn fit(
        mut self,
        mut loss: impl FnMut(&M, &mut Batch) -> Result<Loss>,
    ) -> Result<Fitted<M>> {
        let started = Instant::now();
        let mut progress = Progress::new(&self.name, self.spec.steps);
        let mut window = Window::default();
        for step in self.start..self.spec.steps {
            let model = self.model.take().expect("the model is back after every step");
            let mut batch =
                Batch { step, rng: step_rng(self.spec.seed, step), device: &self.device };
            let out = match loss(&model, &mut batch) {
                Ok(out) => out,
                Err(e) => {
                    self.model = Some(model);
                    return Err(e);
                }
            };
            let value = f64::from(out.objective.clone().into_scalar::<f32>());
            let reported = out.report.unwrap_or(value);
            if !value.is_finite() || !reported.is_finite() {
                return Err(TrainError::Diverged {
                    step,
                    loss: if value.is_finite() { reported } else { value },
                });
            }
            let grads = GradientsParams::from_grads(out.objective.backward(), &model);
            let rate = self.spec.learning_rate_at(step);
            self.model = Some(self.optimizer.step(rate, model, grads));
            window.add(reported, &out.extra);
            let done = step + 1;
            if done % self.spec.log_every == 0 || done == self.spec.steps {
                let seconds = self.prior_seconds + started.elapsed().as_secs_f64();
                let record = window.record(done, seconds);
                progress.report(
                    done,
                    record["loss"].as_f64().unwrap_or(f64::NAN),
                    record["steps_per_sec"].as_f64().unwrap_or(0.0),
                );
                self.run.append_metrics(&record)?;
            }
            if done % self.spec.checkpoint_every == 0 || done == self.spec.steps {
                let seconds = self.prior_seconds + started.elapsed().as_secs_f64();
                self.checkpoint(done, seconds)?;
            }
        }
        progress.finish();
        let final_loss = self.run.read_metrics()?.last().and_then(|r| r["loss"].as_f64());
        let seconds = self.prior_seconds + started.elapsed().as_secs_f64();
        Ok(Fitted { model: self.model.take().expect("the model is back"), final_loss, seconds })
    }

    fn checkpoint(&self, done: usize, seconds: f64) -> Result<()> {
        let model = self.model.as_ref().expect("the model is back after every step");
        let state = json!({ "step": done, "train_seconds": seconds });
        checkpoint::save(&self.run, done, model, &self.optimizer, &state, 2)
    }
}

/// The mean loss over a logging window, each extra value's mean over the steps that gave
/// it (an evaluation run every few steps is logged as itself, not diluted), and the rate.
#[derive(Default)]
struct Window {
    loss: f64,
    extra: Vec<(&'static str, f64, usize)>,
    steps: usize,
    started: Option<Instant>,
}

impl Window {
    fn add(&mut self, loss: f64, extra: &[(&'static str, f64)]) {
        self.started.get_or_insert_with(Instant::now);
        self.loss += loss;
        for &(name, value) in extra {
            match self.extra.iter_mut().find(|(n, _, _)| *n == name) {
                Some(slot) => {
                    slot.1 += value;
                    slot.2 += 1;
                }
                None => self.extra.push((name, value, 1)),
            }
        }
        self.steps += 1;
    }

    /// The record for `metrics.jsonl`, and a fresh window.
    fn record(&mut self, step: usize, elapsed: f64) -> Value {
        let n = self.steps.max(1) as f64;
        let seconds = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64()).max(1e-9);
        let mut record = Map::new();
        record.insert("step".into(), json!(step));
        record.insert("loss".into(), json!(self.loss / n));
        for &(name, value, given) in &self.extra {
            record.insert(name.into(), json!(value / given as f64));
        }
        record.insert("steps_per_sec".into(), json!(self.steps as f64 / seconds));
        record.insert("elapsed_s".into(), json!(elapsed));
        *self = Self::default();
        Value::Object(record)
    }
}

/// A progress bar on a terminal, a plain line per logging step elsewhere (CI logs, pipes).
struct Progress {
    label: String,
    total: usize,
    terminal: bool,
}

impl Progress {
    fn new(name: &str, total: usize) -> Self {
        let label = if name == super::PRIMARY { String::new() } else { format!("{name}: ") };
        Self { label, total, terminal: std::io::stderr().is_terminal() }
    }

    fn report(&mut self, done: usize, loss: f64, rate: f64) {
        let (label, total) = (&self.label, self.total);
        if self.terminal {
            let width = 30;
            let filled = done * width / total.max(1);
            eprint!(
                "\r{label}[{}{}] {done}/{total}  loss {loss:.4}  {rate:.0} steps/s ",
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{label}step {done}/{total}  loss {loss:.5}  {rate:.1} steps/s");
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}
