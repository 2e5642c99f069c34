//! What every recipe uses and none owns: config resolution ([`config`]), run directories
//! ([`run_dir`]), atomic checkpoints ([`checkpoint`]), the [`Trainer`] with its step RNG,
//! optimizers and learning-rate schedules as data ([`schedule`]), and [`launch`], which runs
//! a [`Recipe`] from the command line to a finished run directory.
//!
//! A recipe writes four things: its defaults, [`Recipe::prepare`] (the whole config checked,
//! every nested field and combination, and its data loaded, before any file exists),
//! [`Recipe::training`] (one [`TrainSpec`] per model it trains, recorded in `config.json`) and
//! [`Recipe::run`] (the batch loss handed to [`Run::fit`], then the evaluation, returning the
//! recipe's own `metrics.json` keys). The harness writes the common keys (`recipe`, `device`,
//! `steps`, `final_loss`, `train_seconds`, `eval_seconds`, `seconds`) and `loss.png`.

pub mod checkpoint;
pub mod collective;
pub mod config;
pub mod data_parallel;
pub mod run_dir;
pub mod schedule;
pub mod trainer;

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::Device;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use stoke_core::validate;

pub use collective::Group;
pub use config::{TRAINER_KEY, TrainArgs, resolve_config};
pub use run_dir::{DiscardOnFailure, RunDir, write_json_atomic};
pub use schedule::{LrSchedule, OptimizerConfig};
pub use trainer::{Batch, Fitted, Loss, TrainSpec, Trainer};

use crate::device::Backend;
use crate::error::{Result, TrainError, io_error};

/// The name of a recipe's main trainer: it writes to the run's root (`metrics.jsonl`,
/// `checkpoints/`); every other trainer writes to a sub-run named after it.
pub const PRIMARY: &str = "model";

/// The library crate a recipe demonstrates: `cargo xtask list` groups recipes by it, and
/// recipes live in `recipes/<family>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `stoke-diffusion`: diffusion and flow matching.
    Diffusion,
    /// `stoke-estimators`: gradient estimators.
    Estimators,
    /// `stoke-nn`: the networks themselves.
    Nn,
    /// `stoke-contrastive`: image-text contrastive pretraining.
    Contrastive,
    /// `stoke-discrete`: diffusion language models and their autoregressive baseline.
    Discrete,
}

impl Family {
    /// Every family, in `cargo xtask list` order.
    pub const ALL: [Family; 5] =
        [Self::Diffusion, Self::Estimators, Self::Nn, Self::Contrastive, Self::Discrete];

    /// The family's name (its folder under `recipes/`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Diffusion => "diffusion",
            Self::Estimators => "estimators",
            Self::Nn => "nn",
            Self::Contrastive => "contrastive",
            Self::Discrete => "discrete",
        }
    }
}

/// A recipe's registry entry.
pub struct Entry {
    /// Its name on the command line.
    pub name: &'static str,
    /// The library crate it demonstrates.
    pub family: Family,
    /// One line for `cargo xtask list`.
    pub summary: &'static str,
    /// Runs it.
    pub run: fn(&TrainArgs) -> Result<()>,
    /// `--key value` overrides that make a seconds-long run: the all-recipes test runs every
    /// entry with them and checks that the loss fell.
    pub tiny: &'static [(&'static str, &'static str)],
    /// Resolves and checks a config as a run would, writing nothing ([`check`]).
    pub check: fn(&TrainArgs) -> Result<()>,
    /// The default config as JSON.
    pub defaults: fn() -> Value,
}

/// A named training run with a default config.
pub trait Recipe {
    /// The config (`config.json`); every field is a `--key value` option.
    type Config: Serialize + DeserializeOwned;
    /// What [`Recipe::prepare`] gives [`Recipe::run`]: typed settings, loaded data.
    type Prepared;

    /// The name on the command line.
    fn name(&self) -> &'static str;

    /// The defaults.
    fn defaults(&self) -> Self::Config;

    /// Checks the whole config (every nested field and combination) and loads what the run
    /// reads, before any file is written.
    ///
    /// # Errors
    /// A message naming the bad value.
    fn prepare(&self, config: &Self::Config) -> Result<Self::Prepared>;

    /// The models the run trains, by trainer name ([`PRIMARY`] for the run's root).
    fn training(&self, config: &Self::Config) -> Specs;

    /// Trains (through [`Run::fit`]) and evaluates; returns the recipe's `metrics.json` keys.
    ///
    /// # Errors
    /// Whatever stops the run.
    fn run(
        &self,
        config: &Self::Config,
        prepared: &Self::Prepared,
        run: &mut Run,
    ) -> Result<Map<String, Value>>;

    /// Whether `--resume` makes sense (a recipe that trains no model has nothing to resume).
    fn resumable(&self) -> bool {
        true
    }
}

/// A run in progress: its directory, device and trainers.
pub struct Run {
    dir: RunDir,
    backend: Backend,
    device: Device,
    group: Group,
    /// Where a rank other than 0 writes (removed at the end): rank 0 alone keeps a run.
    _scratch: Option<tempfile::TempDir>,
    specs: Specs,
    fitted: BTreeMap<String, (Option<f64>, f64)>,
    train_seconds_here: f64,
}

impl Run {
    /// The run directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// The device (without autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The spec of trainer `name`.
    ///
    /// # Errors
    /// The recipe declared no such trainer.
    pub fn spec(&self, name: &str) -> Result<TrainSpec> {
        self.specs.iter().find(|(n, _)| n == name).map(|(_, s)| *s).ok_or_else(|| {
            TrainError::Invalid(format!("the recipe declares no trainer named '{name}'"))
        })
    }

    /// The run directory of trainer `name`.
    ///
    /// # Errors
    /// I/O.
    pub fn dir_of(&self, name: &str) -> Result<RunDir> {
        if name == PRIMARY { Ok(self.dir.clone()) } else { self.dir.child(name) }
    }

    /// Trains the model `init` builds with trainer `name`'s spec (resuming from its latest
    /// checkpoint), with `loss` as each step's loss; returns the trained model (autodiff).
    ///
    /// # Errors
    /// As [`Trainer::new`] and [`Trainer::fit`].
    pub fn fit<M: Module + ModuleSnapshot + Clone>(
        &mut self,
        name: &str,
        init: impl FnOnce(&Device) -> Result<M>,
        loss: impl FnMut(&M, &mut Batch) -> Result<Loss>,
    ) -> Result<M> {
        let spec = self.spec(name)?;
        let started = Instant::now();
        let trainer =
            Trainer::new(name, spec, self.dir_of(name)?, &self.device, &self.group, init)?;
        let fitted = trainer.fit(loss)?;
        Ok(self.record_fit(name, started, fitted))
    }

    /// [`Run::fit`] with [`Trainer::fit_with`]'s hook after every optimizer step.
    ///
    /// # Errors
    /// As [`Run::fit`]; `after`'s error.
    pub fn fit_with<M: Module + ModuleSnapshot + Clone, U>(
        &mut self,
        name: &str,
        init: impl FnOnce(&Device) -> Result<M>,
        loss: impl FnMut(&M, &mut Batch) -> Result<(Loss, U)>,
        after: impl FnMut(M, U) -> Result<M>,
    ) -> Result<M> {
        let spec = self.spec(name)?;
        let started = Instant::now();
        let trainer =
            Trainer::new(name, spec, self.dir_of(name)?, &self.device, &self.group, init)?;
        let fitted = trainer.fit_with(loss, after)?;
        Ok(self.record_fit(name, started, fitted))
    }

    fn record_fit<M>(&mut self, name: &str, started: Instant, fitted: Fitted<M>) -> M {
        self.train_seconds_here += started.elapsed().as_secs_f64();
        self.fitted.insert(name.to_string(), (fitted.final_loss, fitted.seconds));
        fitted.model
    }

    /// The common `metrics.json` keys.
    fn common_metrics(&self, recipe: &str, config: &Value, started: Instant) -> Map<String, Value> {
        // A fold from +0: an empty f64 `sum` is -0.0, which a recipe without trainers would report.
        let train_seconds: f64 = self.fitted.values().fold(0.0, |total, (_, s)| total + s);
        let eval_seconds = (started.elapsed().as_secs_f64() - self.train_seconds_here).max(0.0);
        let final_loss = match self.fitted.get(PRIMARY) {
            Some((loss, _)) => json!(loss),
            None if self.fitted.is_empty() => Value::Null,
            None => json!(
                self.fitted.iter().map(|(n, (l, _))| (n.clone(), json!(l))).collect::<Map<_, _>>()
            ),
        };
        let mut map = Map::new();
        map.insert("recipe".into(), json!(recipe));
        map.insert("device".into(), json!(self.backend.name()));
        map.insert("steps".into(), config.get("steps").cloned().unwrap_or(Value::Null));
        map.insert("final_loss".into(), final_loss);
        map.insert("train_seconds".into(), json!(train_seconds));
        map.insert("eval_seconds".into(), json!(eval_seconds));
        map.insert("seconds".into(), json!(train_seconds + eval_seconds));
        map
    }

    /// `loss.png`: every trainer's logged loss, one series each.
    fn save_loss_plot(&self) -> Result<()> {
        let mut series = Vec::new();
        for (name, _) in &self.specs {
            let points: Vec<(f64, f64)> = self
                .dir_of(name)?
                .read_metrics()?
                .iter()
                .filter_map(|r| Some((r["step"].as_f64()?, r["loss"].as_f64()?)))
                .collect();
            if !points.is_empty() {
                series.push((name.as_str(), points));
            }
        }
        if series.is_empty() {
            return Ok(());
        }
        let values = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, l)| l));
        let (low, high) = values.fold((f64::INFINITY, 0.0f64), |(a, b), l| (a.min(l), b.max(l)));
        // A log axis when every loss is positive and they span more than a decade.
        let log_y = low > 0.0 && high > 10.0 * low;
        let refs: Vec<(&str, &[(f64, f64)])> =
            series.iter().map(|(n, p)| (*n, p.as_slice())).collect();
        let image =
            stoke_data::plot::line_plot(&refs, "training loss", "step", "loss", log_y, [640, 400]);
        Ok(image.save_png(self.dir.file("loss.png"))?)
    }
}

/// The `(step, value)` records of `key` in trainer `name`'s metrics.jsonl.
///
/// # Errors
/// I/O.
pub fn logged(run: &Run, name: &str, key: &str) -> Result<Vec<(u64, f64)>> {
    let records = run.dir_of(name)?.read_metrics()?;
    Ok(records.iter().filter_map(|r| Some((r["step"].as_u64()?, r.get(key)?.as_f64()?))).collect())
}

/// Checks that evaluations land on logging steps, so each logged accuracy is one
/// evaluation at the step it is logged with.
///
/// # Errors
/// An `eval_every` that is not a multiple of `log_every` (0, no evaluation, is fine).
pub fn check_eval_every(eval_every: usize, log_every: usize) -> Result<()> {
    if eval_every > 0 {
        validate::size("log_every", log_every)?;
        validate::multiple_of("eval_every", eval_every, "log_every", log_every)?;
    }
    Ok(())
}

/// `file` in the run directory: a line plot of logged `(step, value)` series, one per
/// trainer; nothing when every series is empty.
///
/// # Errors
/// I/O.
pub fn save_line_plot(
    run: &Run,
    file: &str,
    title: &str,
    y_label: &str,
    series: &[(&str, &[(u64, f64)])],
) -> Result<()> {
    let points: Vec<(&str, Vec<(f64, f64)>)> =
        series.iter().map(|(n, c)| (*n, c.iter().map(|&(s, a)| (s as f64, a)).collect())).collect();
    if points.iter().all(|(_, p)| p.is_empty()) {
        return Ok(());
    }
    let refs: Vec<(&str, &[(f64, f64)])> = points.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    let image = stoke_data::plot::line_plot(&refs, title, "step", y_label, false, [640, 400]);
    Ok(image.save_png(run.dir().file(file))?)
}

/// A `json!` object as the map [`Recipe::run`] returns.
pub fn metrics_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => Map::from_iter([("value".to_string(), other)]),
    }
}

/// The models a run trains, by trainer name.
pub type Specs = Vec<(String, TrainSpec)>;

/// The recipe's config for `args` (on `base`, a resumed run's `config.json`), checked whole,
/// with what the run reads and its trainers' specs; nothing is written.
///
/// # Errors
/// Bad config or arguments, data that does not load.
fn resolve<R: Recipe>(
    recipe: &R,
    args: &TrainArgs,
    base: Option<Value>,
) -> Result<(R::Config, R::Prepared, Specs)> {
    let config: R::Config = resolve_config(&recipe.defaults(), base, args)?;
    check_divides(&config, args.group.ranks())?;
    let prepared = recipe.prepare(&config)?;
    let specs = recipe.training(&config);
    for (name, spec) in &specs {
        spec.validate().map_err(|e| TrainError::Invalid(format!("trainer '{name}': {e}")))?;
    }
    Ok((config, prepared, specs))
}

/// The device of this rank: on a GPU backend under data parallelism, the machine's
/// `local_rank`-th discrete GPU (one GPU per rank, as DDP places them), or the default
/// device when there is no such GPU (the ranks then share it); otherwise the default.
///
/// # Errors
/// The backend cannot start.
fn rank_device(backend: Backend, group: &Group) -> Result<Device> {
    if !(backend.is_gpu() && group.is_distributed()) {
        return backend.device();
    }
    let index = group.local_rank();
    backend.device_at(Some(index)).or_else(|e| {
        eprintln!(
            "note: rank {}: no discrete GPU {index} ({e}); using the default device",
            group.rank()
        );
        backend.device()
    })
}

/// Refuses a global `batch_size` that the ranks cannot share equally.
fn check_divides(config: &impl Serialize, ranks: usize) -> Result<()> {
    let value = serde_json::to_value(config).unwrap_or(Value::Null);
    match value.get("batch_size").and_then(Value::as_u64) {
        Some(batch) if ranks > 1 && !batch.is_multiple_of(ranks as u64) => {
            Err(TrainError::Invalid(format!(
                "--batch-size {batch} does not divide by the {ranks} ranks (each rank computes \
                 an equal share of the global batch)"
            )))
        }
        _ => Ok(()),
    }
}

/// Checks `args` for `recipe` as [`launch`] would before creating anything, and stops there.
///
/// # Errors
/// As [`launch`]'s refusals before a run directory exists.
pub fn check<R: Recipe>(recipe: &R, args: &TrainArgs) -> Result<()> {
    // Under data parallelism rank 0 checks (only it needs a resumed run's disk).
    if !args.group.is_primary() {
        return Ok(());
    }
    reopen(recipe, args).and_then(|(_, base)| resolve(recipe, args, base)).map(|_| ())
}

/// The run directory `--resume` names and its config, refused for recipes without
/// checkpoints.
fn reopen<R: Recipe>(recipe: &R, args: &TrainArgs) -> Result<(Option<RunDir>, Option<Value>)> {
    if args.resume.is_some() && !recipe.resumable() {
        return Err(TrainError::Invalid(format!(
            "{} trains no model and has no checkpoints to resume",
            recipe.name()
        )));
    }
    let resumed = args.resume.as_deref().map(RunDir::open).transpose()?;
    let base = resumed.as_ref().map(RunDir::read_config).transpose()?;
    Ok((resumed, base))
}

/// `recipe`'s default config as JSON.
pub fn defaults_json<R: Recipe>(recipe: &R) -> Value {
    serde_json::to_value(recipe.defaults()).unwrap_or(Value::Null)
}

/// Runs `recipe` as `args` ask: resolves and prepares the config (nothing is written if that
/// fails), creates or reopens the run directory, writes `config.json` with the trainers'
/// specs, runs the recipe, then writes `metrics.json` (the recipe's keys and the common
/// ones) and `loss.png`. A run directory this call created is removed again if the run fails
/// (an error or a panic) before any checkpoint exists.
///
/// # Errors
/// Bad config or arguments, I/O, the recipe's errors.
pub fn launch<R: Recipe>(recipe: &R, args: &TrainArgs) -> Result<()> {
    let started = Instant::now();
    let group = args.group.clone();
    // Rank 0 alone reads a resumed run (the others may be on machines without its disk) and
    // sends them its config.
    let (resumed, mut base) = if group.is_primary() { reopen(recipe, args)? } else { (None, None) };
    if group.is_distributed() {
        let mut bytes =
            if group.is_primary() { json!(base).to_string().into_bytes() } else { Vec::new() };
        group.broadcast(&mut bytes, 0)?;
        base = serde_json::from_slice::<Option<Value>>(&bytes)
            .map_err(|e| TrainError::Distributed(format!("the config rank 0 sent: {e}")))?;
    }
    let (config, prepared, specs) = resolve(recipe, args, base)?;
    let mut value = serde_json::to_value(&config)
        .map_err(|e| TrainError::Invalid(format!("cannot serialise the config: {e}")))?;
    if !specs.is_empty() {
        let trainers: Map<String, Value> =
            specs.iter().map(|(n, s)| (n.to_string(), json!(s))).collect();
        value[TRAINER_KEY] = Value::Object(trainers);
    }
    // Every rank resolved its config alone: they must agree before step 0.
    group.agree(collective::fnv1a(value.to_string().as_bytes()), "config")?;
    let device = rank_device(args.backend, &group)?;
    let (dir, created, scratch) = if group.is_primary() {
        match resumed {
            Some(dir) => (dir, false, None),
            None => (RunDir::create(args.out.as_deref(), recipe.name())?, true, None),
        }
    } else {
        let scratch = tempfile::Builder::new()
            .prefix(&format!("stoke-rank{}-", group.rank()))
            .tempdir()
            .map_err(io_error(std::env::temp_dir()))?;
        (RunDir::create(Some(&scratch.path().join("run")), recipe.name())?, true, Some(scratch))
    };
    let guard = DiscardOnFailure::new(&dir, created);
    write_json_atomic(&dir.file("config.json"), &value)?;
    let mut run = Run {
        dir,
        backend: args.backend,
        device,
        group,
        _scratch: scratch,
        specs,
        fitted: BTreeMap::new(),
        train_seconds_here: 0.0,
    };
    let mut metrics = recipe.run(&config, &prepared, &mut run)?;
    run.save_loss_plot()?;
    for (key, common) in run.common_metrics(recipe.name(), &value, started) {
        metrics.entry(key).or_insert(common);
    }
    if run.group.is_distributed() {
        metrics.entry("ranks").or_insert(json!(run.group.ranks()));
    }
    write_json_atomic(&run.dir.file("metrics.json"), &metrics)?;
    guard.keep();
    // No rank leaves before rank 0 has written the run.
    run.group.barrier()
}
