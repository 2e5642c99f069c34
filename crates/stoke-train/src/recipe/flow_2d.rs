//! `flow-2d`: conditional flow matching on 2-D toy data [LIPMAN23; TONG24].
//!
//! `--matcher icfm|otcfm|target|sb|vp` picks `stoke-diffusion`'s path (torchcfm's
//! convention: `t = 0` the source, `t = 1` the target), `--source gaussian|8gaussians|...`
//! the source. Loss `E ||f(x_t, t) - u_t||^2`, Euler sampling from `t = 0` to `t = 1`.
//! Metrics: exact-OT W2 and energy distance between 1000 samples and 1000 fresh target
//! points at each NFE, the floor `w2_floor` between two fresh target samples, and Liu et
//! al.'s straightness of the learned flow [LIU22, Eq. 5].
//!
//! [`cfm_loss`] and [`sample_euler`] keep the original hand-written I-CFM step on core's
//! [`Flow`] schedule (`t = 0` data): the PyTorch benchmark twin measures exactly that.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stoke_core::noise_level::NoiseLevelSampler;
use stoke_core::param::Prediction;
use stoke_core::schedule::{Flow, NoiseSchedule};
use stoke_core::transport::{energy_distance, w2};
use stoke_data::toy::{self, Toy};
use stoke_data::{Rgb8Image, plot};
use stoke_diffusion::denoiser::VelocityField;
use stoke_diffusion::flow_matching::{
    self, ConditionalFlowMatcher, ExactOtCfm, FlowSample, IndependentCfm, SchrodingerBridgeCfm,
    TargetCfm, VpCfm,
};
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::noise::HostNoise;
use stoke_diffusion::rectified::straightness;
use stoke_diffusion::sampler::{FlowEuler, FlowSampler};

use super::{TrainArgs, adam, check_count, check_positive, cosine_decay, resolve_config};
use crate::checkpoint;
use crate::error::{Result, TrainError};
use crate::nn::{TimeMlp, TimeMlpConfig};
use crate::progress::{self, Schedule, Steps};
use crate::run_dir::{RunDir, write_json_atomic};

/// The recipe's config (written to `config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow2dConfig {
    /// Target distribution: `moons`, `8gaussians`, `checkerboard` or `spirals`.
    pub target: String,
    /// Source distribution: `gaussian` (N(0, I)) or a toy name.
    pub source: String,
    /// Conditional path: `icfm`, `otcfm`, `target`, `sb` or `vp`.
    pub matcher: String,
    /// The path's `sigma` (`sigma_min` for `target`); `None` takes torchcfm's default for
    /// the matcher (0, and 1 for `sb`, whose sigma must be positive).
    pub sigma: Option<f64>,
    /// Euler steps of the path along which straightness is measured.
    pub straightness_nfe: usize,
    /// Training steps.
    pub steps: usize,
    /// Batch size (torchcfm's 2-D tutorials use 256).
    pub batch_size: usize,
    /// Peak Adam learning rate.
    pub learning_rate: f64,
    /// Cosine decay of the learning rate to `learning_rate * min_lr_fraction` over the run
    /// [LOSHCHILOV17, Eq. 5]; `false` keeps it constant.
    pub cosine_decay: bool,
    /// Final learning rate as a fraction of the peak.
    pub min_lr_fraction: f64,
    /// Seed for data, noise, times and the network's initialisation.
    pub seed: u64,
    /// The network.
    pub model: TimeMlpConfig,
    /// Points compared at evaluation (the 1000).
    pub n_eval: usize,
    /// Euler step counts evaluated.
    pub eval_nfe: Vec<usize>,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for Flow2dConfig {
    fn default() -> Self {
        Self {
            target: "moons".into(),
            source: "gaussian".into(),
            matcher: "icfm".into(),
            sigma: None,
            straightness_nfe: 100,
            steps: 8000,
            batch_size: 256,
            learning_rate: 2e-3,
            cosine_decay: true,
            min_lr_fraction: 0.01,
            seed: 0,
            model: TimeMlpConfig::new(),
            n_eval: 1000,
            eval_nfe: vec![1, 2, 5, 100],
            log_every: 100,
            checkpoint_every: 1000,
        }
    }
}

impl Flow2dConfig {
    /// Checks every value; the message names the bad one.
    ///
    /// # Errors
    /// Unknown target, zero counts, non-positive learning rate.
    pub fn validate(&self) -> Result<Toy> {
        let toy: Toy =
            self.target.parse().map_err(|e| TrainError::Invalid(format!("--target: {e}")))?;
        self.source_toy()?;
        let matcher = self.matcher()?;
        if matches!(matcher, Matcher::Target(_)) && self.source != "gaussian" {
            return Err(TrainError::Invalid(format!(
                "--matcher target flows from N(0, I) only (Lipman et al.'s path), got --source {}",
                self.source
            )));
        }
        check_count("straightness_nfe", self.straightness_nfe)?;
        check_count("steps", self.steps)?;
        check_count("batch_size", self.batch_size)?;
        check_positive("learning_rate", self.learning_rate)?;
        if !(0.0..=1.0).contains(&self.min_lr_fraction) {
            return Err(TrainError::Invalid(format!(
                "min_lr_fraction must lie in [0, 1], got {}",
                self.min_lr_fraction
            )));
        }
        check_count("model.width", self.model.width)?;
        check_count("n_eval", self.n_eval)?;
        if self.n_eval < 2 {
            return Err(TrainError::Invalid(format!(
                "n_eval must be at least 2, got {}",
                self.n_eval
            )));
        }
        check_count("log_every", self.log_every)?;
        check_count("checkpoint_every", self.checkpoint_every)?;
        if self.eval_nfe.is_empty() || self.eval_nfe.contains(&0) {
            return Err(TrainError::Invalid(format!(
                "eval_nfe must be a non-empty list of positive step counts, got {:?}",
                self.eval_nfe
            )));
        }
        Ok(toy)
    }
}

impl Flow2dConfig {
    /// `None` for the Gaussian source, else the toy.
    fn source_toy(&self) -> Result<Option<Toy>> {
        if self.source == "gaussian" {
            return Ok(None);
        }
        self.source
            .parse()
            .map(Some)
            .map_err(|e| TrainError::Invalid(format!("--source: {e} (or 'gaussian' for N(0, I))")))
    }

    /// The configured conditional path.
    fn matcher(&self) -> Result<Matcher> {
        let sigma = |default: f64| self.sigma.unwrap_or(default);
        Ok(match self.matcher.as_str() {
            "icfm" => Matcher::Independent(IndependentCfm::new(sigma(0.0))?),
            "otcfm" => Matcher::ExactOt(ExactOtCfm::new(sigma(0.0))?),
            "target" => Matcher::Target(TargetCfm::new(sigma(0.0))?),
            "sb" => Matcher::Bridge(SchrodingerBridgeCfm::new(sigma(1.0))?),
            "vp" => Matcher::Vp(VpCfm::new(sigma(0.0))?),
            other => {
                return Err(TrainError::Invalid(format!(
                    "--matcher '{other}' is not one of icfm, otcfm, target, sb, vp"
                )));
            }
        })
    }

    /// The learning rate at `step` (cosine decay from the peak to the floor, or constant).
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        if !self.cosine_decay {
            return self.learning_rate;
        }
        let progress = step as f64 / self.steps.max(1) as f64;
        cosine_decay(self.learning_rate, self.learning_rate * self.min_lr_fraction, progress)
    }
}

/// Points as a `[n, 2]` tensor.
pub(crate) fn points_tensor(points: &[[f32; 2]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [points.len(), 2]), device)
}

/// `n` standard-normal 2-D points.
pub(crate) fn gaussian(n: usize, rng: &mut StdRng) -> Vec<[f32; 2]> {
    (0..n).map(|_| [StandardNormal.sample(rng), StandardNormal.sample(rng)]).collect()
}

/// The conditional paths of `stoke-diffusion` (its trait has generic methods, so an enum
/// dispatches).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Matcher {
    Independent(IndependentCfm),
    ExactOt(ExactOtCfm),
    Target(TargetCfm),
    Bridge(SchrodingerBridgeCfm),
    Vp(VpCfm),
}

impl Matcher {
    /// Couples the batches and draws `(t, x_t, u_t)` at times `t`.
    pub(crate) fn sample(
        &self,
        x0: Tensor<2>,
        x1: Tensor<2>,
        t: &[f64],
        rng: &mut StdRng,
    ) -> Result<FlowSample<2>> {
        Ok(match self {
            Self::Independent(m) => m.sample_location_and_conditional_flow(x0, x1, t, rng),
            Self::ExactOt(m) => m.sample_location_and_conditional_flow(x0, x1, t, rng),
            Self::Target(m) => m.sample_location_and_conditional_flow(x0, x1, t, rng),
            Self::Bridge(m) => m.sample_location_and_conditional_flow(x0, x1, t, rng),
            Self::Vp(m) => m.sample_location_and_conditional_flow(x0, x1, t, rng),
        }?)
    }
}

impl VelocityField<2> for TimeMlp {
    fn velocity(
        &self,
        x: Tensor<2>,
        t: &[f64],
        _class_labels: Option<Tensor<1, Int>>,
    ) -> stoke_diffusion::Result<Tensor<2>> {
        let [n, _] = x.dims();
        let t = if t.len() == 1 { vec![t[0]; n] } else { t.to_vec() };
        let t: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        let t = Tensor::<1>::from_data(TensorData::new(t, [n]), &x.device());
        Ok(self.forward(x, t))
    }
}

/// `n` points of the source: N(0, I) or a toy.
pub(crate) fn source_points(source: Option<Toy>, n: usize, rng: &mut StdRng) -> Vec<[f32; 2]> {
    match source {
        None => gaussian(n, rng),
        Some(toy) => toy::sample(toy, n, rng),
    }
}

/// `0, 1/nfe, ..., 1`: the Euler grid from the source to the target.
pub(crate) fn unit_grid(nfe: usize) -> Vec<f64> {
    (0..=nfe).map(|k| k as f64 / nfe as f64).collect()
}

/// An independent stream per step, so a resumed run draws exactly what it would have.
pub(crate) fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// One I-CFM loss on a batch: the mean of `(f(x_t, t) - u_t)^2` over batch and coordinates.
///
/// # Shapes
/// `x0`, `eps`: `[batch, 2]`; `t`: `[batch]`.
pub fn cfm_loss(model: &TimeMlp, x0: Tensor<2>, eps: Tensor<2>, t: Tensor<1>) -> Tensor<1> {
    let path = Flow;
    let [batch, _] = x0.dims();
    // [batch] -> [batch, 1] to broadcast over coordinates.
    let alpha = path.alpha_tensor(t.clone()).reshape([batch, 1]);
    let sigma = path.sigma_tensor(t.clone()).reshape([batch, 1]);
    let x_t = x0.clone() * alpha + eps.clone() * sigma;
    // The flow path has constant alpha' = -1, sigma' = 1: u = alpha' x0 + sigma' eps.
    let (d_alpha, d_sigma) = Prediction::Velocity.coefficients(&path.point(0.5));
    let target = x0.mul_scalar(d_alpha) + eps.mul_scalar(d_sigma);
    let error = model.forward(x_t, t) - target;
    // Mean over batch and coordinates, as torchcfm's tutorials average it.
    error.square().mean()
}

/// Euler integration of `dx/dt = f(x, t)` from `t = 1` to `t = 0` in `nfe` steps.
///
/// # Shapes
/// `noise: [n, 2]` -> `[n, 2]`.
pub fn sample_euler(model: &TimeMlp, noise: Tensor<2>, nfe: usize) -> Tensor<2> {
    let device = noise.device();
    let [n, _] = noise.dims();
    let dt = 1.0 / nfe as f64;
    (0..nfe).fold(noise, |x, k| {
        let t = 1.0 - k as f64 * dt;
        let t_batch = Tensor::<1>::full([n], t as f32, &device);
        let velocity = model.forward(x.clone(), t_batch);
        x - velocity.mul_scalar(dt)
    })
}

pub(crate) fn to_points(x: Tensor<2>) -> Vec<[f32; 2]> {
    let values: Vec<f32> = x.into_data().iter::<f32>().collect();
    values.chunks(2).map(|c| [c[0], c[1]]).collect()
}

pub(crate) fn flat64(points: &[[f32; 2]]) -> Vec<f64> {
    points.iter().flatten().map(|&v| f64::from(v)).collect()
}

/// Runs the recipe.
///
/// # Errors
/// Bad config or arguments (before any file is written), I/O, divergence.
pub fn run(args: &TrainArgs) -> Result<()> {
    let resumed = args.resume.as_ref().map(|p| RunDir::open(p)).transpose()?;
    let base = resumed.as_ref().map(|r| r.read_config()).transpose()?;
    let config: Flow2dConfig = resolve_config(&Flow2dConfig::default(), base, args)?;
    let toy = config.validate()?;
    let device = args.backend.device()?;
    let run_dir = match resumed {
        Some(r) => r,
        None => RunDir::create(args.out.as_deref(), "flow-2d")?,
    };
    write_json_atomic(&run_dir.file("config.json"), &config)?;
    let had_checkpoint = checkpoint::latest(&run_dir)?.is_some();
    let result = train_and_evaluate(&config, toy, &device, &run_dir, args);
    if result.is_err() && !had_checkpoint && checkpoint::latest(&run_dir)?.is_none() {
        run_dir.discard();
    }
    result
}

fn train_and_evaluate(
    config: &Flow2dConfig,
    toy: Toy,
    device: &Device,
    run_dir: &RunDir,
    args: &TrainArgs,
) -> Result<()> {
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let (model, optimizer, start, prior_seconds) =
        checkpoint::resume_latest(run_dir, config.model.init(&train_device), adam())?;
    let (source, matcher) = (config.source_toy()?, config.matcher()?);
    let run =
        Run { config, toy, source, matcher, run_dir, device: &train_device, start, prior_seconds };
    let (model, train_seconds) = train(&run, model, optimizer)?;
    evaluate(config, toy, &model.valid(), device, run_dir, args, train_seconds)
}

/// What training needs besides the model and optimizer.
struct Run<'a> {
    config: &'a Flow2dConfig,
    toy: Toy,
    source: Option<Toy>,
    matcher: Matcher,
    run_dir: &'a RunDir,
    device: &'a Device,
    /// The step to start from (0, or the resumed checkpoint's).
    start: usize,
    /// Training seconds spent before a resume.
    prior_seconds: f64,
}

/// The training state the shared loop drives.
struct Training<'a> {
    run: &'a Run<'a>,
    /// `None` only inside a step: Burn's optimizer takes the model by value.
    model: Option<TimeMlp>,
    optimizer: ModuleOptimizer,
    times: NoiseLevelSampler,
    started: Instant,
}

impl Training<'_> {
    fn seconds(&self) -> f64 {
        self.run.prior_seconds + self.started.elapsed().as_secs_f64()
    }
}

impl Steps for Training<'_> {
    fn step(&mut self, step: usize) -> Result<f64> {
        let (config, device) = (self.run.config, self.run.device);
        let mut rng = step_rng(config.seed, step);
        let n = config.batch_size;
        let x0 = points_tensor(&source_points(self.run.source, n, &mut rng), device);
        let x1 = points_tensor(&toy::sample(self.run.toy, n, &mut rng), device);
        let t = self.times.sample(n, &mut rng);
        let path = self.run.matcher.sample(x0, x1, &t, &mut rng)?;
        let model = self.model.take().expect("the model is back after every step");
        let loss = flow_matching::cfm_loss(&model, &path, None)?.mean;
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optimizer.step(config.learning_rate_at(step), model, grads));
        Ok(value)
    }

    fn checkpoint(&mut self, done: usize) -> Result<()> {
        let model = self.model.as_ref().expect("the model is back after every step");
        let state = json!({ "step": done, "train_seconds": self.seconds() });
        checkpoint::save(self.run.run_dir, done, model, &self.optimizer, &state, 2)
    }
}

/// Trains from `run.start` to `config.steps`; returns the model and the total training
/// seconds (including those before a resume).
fn train(run: &Run, model: TimeMlp, optimizer: ModuleOptimizer) -> Result<(TimeMlp, f64)> {
    let config = run.config;
    let schedule = Schedule {
        start: run.start,
        total: config.steps,
        log_every: config.log_every,
        checkpoint_every: config.checkpoint_every,
    };
    let mut training = Training {
        run,
        model: Some(model),
        optimizer,
        times: NoiseLevelSampler::uniform(),
        started: Instant::now(),
    };
    progress::run(run.run_dir, schedule, &mut training)?;
    let seconds = training.seconds();
    Ok((training.model.expect("the model is back after every step"), seconds))
}

fn evaluate(
    config: &Flow2dConfig,
    toy: Toy,
    model: &TimeMlp,
    device: &Device,
    run_dir: &RunDir,
    args: &TrainArgs,
    train_seconds: f64,
) -> Result<()> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(0xE7A1));
    let n = config.n_eval;
    let reference = toy::sample(toy, n, &mut rng);
    let fresh = toy::sample(toy, n, &mut rng);
    let w2_floor = w2(&flat64(&reference), &flat64(&fresh), 2)?;
    let energy_floor = energy_distance(&flat64(&reference), &flat64(&fresh), 2)?;
    let noise = source_points(config.source_toy()?, n, &mut rng);
    let mut w2_by_nfe = BTreeMap::new();
    let mut energy_by_nfe = BTreeMap::new();
    let mut panels = Vec::new();
    let bounds = toy::bounds(toy);
    let density = toy::density_image(toy, 200_000, &mut rng, bounds, 100);
    for &nfe in &config.eval_nfe {
        let start = points_tensor(&noise, device);
        let sampled = FlowEuler.sample(
            model,
            start,
            &unit_grid(nfe),
            &Guidance::unconditional(),
            &mut HostNoise::seeded(0),
        )?;
        let samples = to_points(sampled.x);
        if samples.iter().flatten().any(|v| !v.is_finite()) {
            return Err(TrainError::Invalid(format!("sampling at NFE {nfe} produced NaN")));
        }
        let w = w2(&flat64(&samples), &flat64(&reference), 2)?;
        let e = energy_distance(&flat64(&samples), &flat64(&reference), 2)?;
        w2_by_nfe.insert(nfe.to_string(), w);
        energy_by_nfe.insert(nfe.to_string(), e);
        let title = format!("NFE {nfe}  W2 {w:.3}");
        panels.push(plot::scatter_over_density(&density, 100, bounds, &samples, &title, 360));
    }
    let title = format!("target  W2 floor {w2_floor:.3}");
    panels.push(plot::scatter_over_density(&density, 100, bounds, &fresh, &title, 360));
    plot::panels(&panels, panels.len()).save_png(run_dir.file("samples.png"))?;
    save_loss_plot(run_dir)?;
    let straight = straightness(
        model,
        points_tensor(&noise, device),
        &unit_grid(config.straightness_nfe),
        &Guidance::unconditional(),
    )?;
    let max_nfe = config.eval_nfe.iter().max().copied().unwrap_or(1).to_string();
    let ratio = w2_by_nfe[&max_nfe] / w2_floor;
    let summary: Value = json!({
        "recipe": "flow-2d",
        "target": toy.name(),
        "source": config.source,
        "matcher": config.matcher,
        "straightness": straight.mean,
        "device": args.backend.name(),
        "steps": config.steps,
        "w2": w2_by_nfe,
        "energy_distance": energy_by_nfe,
        "w2_floor": w2_floor,
        "energy_distance_floor": energy_floor,
        "w2_ratio_to_floor_at_max_nfe": ratio,
        "final_loss": run_dir.read_metrics()?.last().and_then(|r| r["loss"].as_f64()),
        "train_seconds": train_seconds,
        "eval_seconds": started.elapsed().as_secs_f64(),
    });
    write_json_atomic(&run_dir.file("metrics.json"), &summary)?;
    eprintln!(
        "{}: W2 at NFE {max_nfe} = {:.4} ({ratio:.2}x the floor {w2_floor:.4}); wrote samples.png, loss.png, metrics.json",
        run_dir.path().display(),
        w2_by_nfe[&max_nfe]
    );
    Ok(())
}

/// Draws `loss.png` from `metrics.jsonl`.
///
/// # Errors
/// I/O failure.
pub fn save_loss_plot(run_dir: &RunDir) -> Result<()> {
    let points: Vec<(f64, f64)> = run_dir
        .read_metrics()?
        .iter()
        .filter_map(|r| Some((r["step"].as_f64()?, r["loss"].as_f64()?)))
        .collect();
    let image: Rgb8Image = plot::line_plot(
        &[("train loss", &points)],
        "training loss",
        "step",
        "loss",
        true,
        [640, 400],
    );
    Ok(image.save_png(run_dir.file("loss.png"))?)
}
