//! The one training loop: a [`Trainer`] owns a model, its optimizer and its step clock; it
//! resumes from the latest checkpoint of its run directory, hands each step its RNG (a pure
//! function of `(seed, step)`, so a resumed run draws exactly what it would have drawn),
//! steps the optimizer on the loss the recipe returns, logs to `metrics.jsonl`, shows
//! progress, checkpoints atomically, and stops on a non-finite loss with the last good
//! checkpoint kept.

use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::sync::Mutex;
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
use super::collective::Group;
use super::data_parallel;
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

/// Burn seeds a device's generator per process, and draws a parameter's initial values when
/// it is first read: ranks that share a process (threads) initialise their models one at a
/// time and read every parameter before letting go (see [`data_parallel`]).
static INITIALISING: Mutex<()> = Mutex::new(());

/// What a step hands the recipe: the step's index, its RNG, the autodiff device and, under
/// data parallelism, which share of the global batch this rank computes.
///
/// Every rank draws the same global batch from the step's RNG; a recipe that calls
/// [`Batch::share_rows`] (or [`Batch::share`]) after drawing computes only its rows, so the
/// union of the ranks' shares is exactly the one-process batch and the averaged gradient is
/// the one-process gradient.
pub struct Batch<'a> {
    /// The step (0-based).
    pub step: usize,
    /// The step's RNG ([`step_rng`]).
    pub rng: StdRng,
    /// The device the model trains on (autodiff).
    pub device: &'a Device,
    group: &'a Group,
    shared: bool,
}

impl<'a> Batch<'a> {
    /// Step 0's batch on `device` for `group`'s rank (for tests of recipes' shares).
    #[cfg(test)]
    pub(crate) fn for_rank(device: &'a Device, group: &'a Group) -> Self {
        Self { step: 0, rng: step_rng(0, 0), device, group, shared: false }
    }

    /// The data-parallel ranks (one alone outside `--distributed`).
    pub fn group(&self) -> &Group {
        self.group
    }

    /// The rows of a global batch of `n` that this rank computes: rank `r` of `k` takes
    /// `[r n / k, (r + 1) n / k)`.
    ///
    /// # Errors
    /// `n` does not divide by the ranks.
    pub fn share_rows(&mut self, n: usize) -> Result<Range<usize>> {
        let ranks = self.group.ranks();
        if !n.is_multiple_of(ranks) {
            return Err(TrainError::Invalid(format!(
                "a global batch of {n} rows does not divide by the {ranks} ranks"
            )));
        }
        self.shared = true;
        let each = n / ranks;
        Ok(self.group.rank() * each..(self.group.rank() + 1) * each)
    }

    /// This rank's rows of `tensor` (rows along the first axis).
    ///
    /// # Errors
    /// As [`Batch::share_rows`].
    pub fn share<const D: usize>(&mut self, tensor: Tensor<D>) -> Result<Tensor<D>> {
        let rows = self.share_rows(tensor.dims()[0])?;
        if rows.len() == tensor.dims()[0] {
            return Ok(tensor);
        }
        Ok(tensor.narrow(0, rows.start, rows.len()))
    }
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
    inner: Device,
    group: Group,
    model: Option<M>,
    optimizer: ModuleOptimizer,
    start: usize,
    prior_seconds: f64,
}

impl<M: Module + ModuleSnapshot + Clone> Trainer<M> {
    /// A trainer for the model `init` builds on `device` with autodiff (seeded with
    /// `spec.seed` first, so the initialisation is a function of the seed), resumed from the
    /// latest checkpoint in `run` if there is one. Under data parallelism rank 0 reads the
    /// checkpoint and sends it to the others; on a fresh start every rank initialises from
    /// the seed (see [`data_parallel`] for why nothing is sent).
    ///
    /// # Errors
    /// An invalid spec; `init`'s error; a checkpoint that does not load; a collective failure.
    pub fn new(
        name: &str,
        spec: TrainSpec,
        run: RunDir,
        device: &Device,
        group: &Group,
        init: impl FnOnce(&Device) -> Result<M>,
    ) -> Result<Self> {
        spec.validate()?;
        let inner = device.clone();
        let device = &device.clone().autodiff();
        let model = {
            let _turn = INITIALISING.lock().unwrap_or_else(|e| e.into_inner());
            device.seed(spec.seed);
            let model = init(device)?;
            if group.shares_process() { data_parallel::materialize(model) } else { model }
        };
        let optimizer = spec.optimizer.init();
        let mut latest = if group.is_primary() { checkpoint::latest(&run)? } else { None };
        if group.is_distributed() {
            // Rank 0's checkpoint (or nothing) to the others' scratch runs.
            let mut message = match &latest {
                Some((step, dir)) => checkpoint::pack(*step, dir)?,
                None => Vec::new(),
            };
            group.broadcast(&mut message, 0)?;
            if latest.is_none() && !message.is_empty() {
                latest = Some(checkpoint::unpack(&run, &message)?);
            }
        }
        let (model, optimizer, start, prior_seconds) = match latest {
            None => (model, optimizer, 0, 0.0),
            Some((step, dir)) => {
                let (model, optimizer, state) = checkpoint::load(&dir, model, optimizer)?;
                run.truncate_metrics_after(step)?;
                if group.is_primary() {
                    eprintln!("resuming {} from step {step}", run.path().display());
                }
                (model, optimizer, step, state["train_seconds"].as_f64().unwrap_or(0.0))
            }
        };
        Ok(Self {
            name: name.to_string(),
            spec,
            run,
            device: device.clone(),
            inner,
            group: group.clone(),
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
    pub fn fit(self, mut loss: impl FnMut(&M, &mut Batch) -> Result<Loss>) -> Result<Fitted<M>> {
        self.fit_with(|model, batch| Ok((loss(model, batch)?, ())), |model, ()| Ok(model))
    }

    /// [`Trainer::fit`] for a model with state that moves outside the optimizer (a momentum
    /// encoder, feature queues): `loss` also returns what `after` needs, and `after` takes
    /// the model just stepped by the optimizer and returns it moved, before the step is
    /// logged and checkpointed (so a checkpoint holds that state and a resumed run continues
    /// exactly).
    ///
    /// # Errors
    /// As [`Trainer::fit`]; `after`'s error.
    pub fn fit_with<U>(
        mut self,
        mut loss: impl FnMut(&M, &mut Batch) -> Result<(Loss, U)>,
        mut after: impl FnMut(M, U) -> Result<M>,
    ) -> Result<Fitted<M>> {
        let started = Instant::now();
        // Rank 0 alone logs, shows progress and checkpoints; the others train in step.
        let primary = self.group.is_primary();
        let mut progress = Progress::new(&self.name, self.spec.steps, primary);
        let mut window = Window::default();
        let mut exchanging = 0.0;
        for step in self.start..self.spec.steps {
            let model = self.model.take().expect("the model is back after every step");
            let mut batch = Batch {
                step,
                rng: step_rng(self.spec.seed, step),
                device: &self.device,
                group: &self.group,
                shared: false,
            };
            let (out, state) = match loss(&model, &mut batch) {
                Ok(out) => out,
                Err(e) => {
                    self.model = Some(model);
                    return Err(e);
                }
            };
            if step == self.start && !batch.shared && self.group.is_distributed() && primary {
                eprintln!(
                    "note: {}: the recipe does not share out its batch, so each of the {} ranks \
                     computes all of it (training is correct, but no faster)",
                    self.name,
                    self.group.ranks()
                );
            }
            let value = f64::from(out.objective.clone().into_scalar::<f32>());
            let reported = out.report.unwrap_or(value);
            let grads = GradientsParams::from_grads(out.objective.backward(), &model);
            // One all-reduce: the gradients, the loss and every logged value.
            let mut logged = vec![value as f32, reported as f32];
            logged.extend(out.extra.iter().map(|&(_, v)| v as f32));
            let exchange_started = Instant::now();
            let (grads, logged) =
                data_parallel::average(&self.group, &model, &self.inner, grads, &logged)?;
            exchanging += exchange_started.elapsed().as_secs_f64();
            // One process keeps its own f64 values; ranks take the global batch's.
            let (value, reported, extra) = if self.group.is_distributed() {
                let extra =
                    out.extra.iter().zip(&logged[2..]).map(|(&(n, _), &v)| (n, f64::from(v)));
                (f64::from(logged[0]), f64::from(logged[1]), extra.collect())
            } else {
                (value, reported, out.extra)
            };
            if !value.is_finite() || !reported.is_finite() {
                return Err(TrainError::Diverged {
                    step,
                    loss: if value.is_finite() { reported } else { value },
                });
            }
            let rate = self.spec.learning_rate_at(step);
            let model = after(self.optimizer.step(rate, model, grads), state)?;
            if step == self.start && self.group.is_distributed() {
                let hash = data_parallel::parameter_hash(&model)?;
                self.group.agree(hash, "set of parameters after the first step")?;
            }
            self.model = Some(model);
            window.add(reported, &extra);
            let done = step + 1;
            if primary && (done % self.spec.log_every == 0 || done == self.spec.steps) {
                let seconds = self.prior_seconds + started.elapsed().as_secs_f64();
                let mut record = window.record(done, seconds);
                if self.group.is_distributed() {
                    // Seconds of this window spent averaging (reading the gradients back,
                    // the all-reduce, rebuilding them): data parallelism's own cost.
                    record["exchange_s"] = json!(exchanging);
                    exchanging = 0.0;
                }
                progress.report(
                    done,
                    record["loss"].as_f64().unwrap_or(f64::NAN),
                    record["steps_per_sec"].as_f64().unwrap_or(0.0),
                );
                self.run.append_metrics(&record)?;
            }
            if primary && (done % self.spec.checkpoint_every == 0 || done == self.spec.steps) {
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
    shown: bool,
}

impl Progress {
    fn new(name: &str, total: usize, shown: bool) -> Self {
        let label = if name == super::PRIMARY { String::new() } else { format!("{name}: ") };
        Self { label, total, terminal: std::io::stderr().is_terminal(), shown }
    }

    fn report(&mut self, done: usize, loss: f64, rate: f64) {
        if !self.shown {
            return;
        }
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
        if self.terminal && self.shown {
            eprintln!();
        }
    }
}
