//! `ddpm-digits`, `edm-digits`, `flow-digits`: a class-conditional DiT on the 8x8 digits
//! (pixels scaled to `[-1, 1]`), trained with classifier-free guidance label dropout, then
//! sampled with every sampler of `stoke-diffusion` and scored by a digits classifier.
//!
//! - `ddpm`: eps-prediction on diffusers' linear betas (1000 steps), `L_simple` [HO20, Eq. 14].
//! - `edm`: EDM preconditioning (`sigma_data = 0.5`) and loss, log-normal sigmas
//!   [KARRAS22, Table 1].
//! - `flow`: velocity prediction on the straight path `x_t = (1 - t) x0 + t eps` (core's
//!   `Flow`), uniform `t` \[LIPMAN23\].
//!
//! Every model becomes a denoiser `D(x; sigma)`, so every sampler runs on every model:
//! DDPM ancestral (1000 steps) and DDIM (50) on the DDPM schedule's noise levels, Euler (50),
//! Heun (EDM Alg. 1, 18 levels = 35 NFE) and DPM-Solver++(2M) (20) on Karras grids
//! [KARRAS22, Eq. 5] between the model's own `sigma_min` and `sigma_max`.
//!
//! Quality: the Frechet distance between the classifier's penultimate features of
//! `n_samples` samples (classes cycling 0-9) and of the held-out digits, against the floor
//! `fd_floor` between the training and held-out digits; and the classifier's accuracy on the
//! samples' intended classes (`cond_acc`).

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stoke_core::param::{EdmPreconditioning, Prediction};
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, Flow, TimestepSpacing, sigmas_karras, timesteps,
};
use stoke_core::weight::TimeDensity;
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, Digits, PIXELS, SIDE};
use stoke_data::image;
use stoke_diffusion::denoiser::{ClassConditional, Denoiser, EdmDenoiser, ScheduleDenoiser};
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::loss::{LossWeight, ddpm_loss, drop_labels, edm_loss, flow_matching_loss};
use stoke_diffusion::noise::{HostNoise, NoiseSource};
use stoke_diffusion::sampler::{
    Ddim, Ddpm, DpmSolverPp2m, Euler, Heun, Sampled, Sampler, sigmas_for_timesteps,
};

use super::digits_classifier::{
    Classifier, DigitsClassifierConfig, images_and_labels, train_classifier,
};
use super::flow_2d::step_rng;
use super::{TrainArgs, adam, check_count, check_positive, cosine_decay, resolve_config};
use crate::checkpoint;
use crate::error::{Result, TrainError};
use crate::nn::dit::{Dit, DitConfig};
use crate::progress::{self, Schedule, Steps};
use crate::run_dir::{RunDir, write_json_atomic};
use crate::sample_quality::frechet_distance_of_features;

/// The samplers scored, with their metrics keys.
pub const SAMPLERS: [&str; 5] =
    ["ddpm_ancestral_1000", "ddim_50", "euler_50", "heun_35", "dpmpp2m_20"];

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsDiffusionConfig {
    /// `ddpm`, `edm` or `flow` (set by the recipe's name).
    pub method: String,
    /// Training steps.
    pub steps: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Peak Adam learning rate (linear warm-up over `warmup_steps`, cosine decay to 10%).
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Probability of replacing a label by the null class (classifier-free guidance).
    pub p_uncond: f64,
    /// Guidance scale `w` of `D_u + w (D_c - D_u)` (diffusers' `guidance_scale`; 1 is the
    /// conditional model alone).
    pub guidance_scale: f64,
    /// The network.
    pub model: DitConfig,
    /// Samples generated per sampler (classes cycle 0-9).
    pub n_samples: usize,
    /// Samplers scored (keys of [`SAMPLERS`]).
    pub samplers: Vec<String>,
    /// The classifier used for the scores, trained in-process from this config.
    pub classifier: DigitsClassifierConfig,
    /// A digits file (CSV, optionally gzipped, in the embedded file's format) to use instead
    /// of the embedded copy.
    pub digits_file: Option<String>,
    /// Seed of the initialisation, batches and noise.
    pub seed: u64,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl DigitsDiffusionConfig {
    /// The recipe's defaults for `method`.
    pub fn for_method(method: &str) -> Self {
        // The DiT embeds `noise_scale * noise_cond`: DDPM's network sees timestep indices
        // 0..999 already, EDM's ln(sigma)/4 and flow's t in [0, 1] are spread by 1000.
        let noise_scale = if method == "ddpm" { 1.0 } else { 1000.0 };
        Self {
            method: method.into(),
            steps: 6000,
            batch_size: 128,
            learning_rate: 1e-3,
            warmup_steps: 200,
            p_uncond: 0.1,
            guidance_scale: 2.0,
            // 2x2 patches (16 tokens, width 64, 4 blocks) cost ~9x more per sample: 4x4 patches
            // keep every recipe, 1155 sampler NFE included, within minutes on two CPU cores.
            model: DitConfig::new()
                .with_patch(4)
                .with_width(48)
                .with_depth(3)
                .with_noise_scale(noise_scale),
            n_samples: 1000,
            samplers: SAMPLERS.iter().map(|s| s.to_string()).collect(),
            classifier: DigitsClassifierConfig::default(),
            digits_file: None,
            seed: 0,
            log_every: 100,
            checkpoint_every: 1000,
        }
    }

    fn validate(&self) -> Result<()> {
        if !matches!(self.method.as_str(), "ddpm" | "edm" | "flow") {
            return Err(TrainError::Invalid(format!(
                "method '{}' is not one of ddpm, edm, flow",
                self.method
            )));
        }
        for (name, value) in [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("n_samples", self.n_samples),
            ("log_every", self.log_every),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            check_count(name, value)?;
        }
        check_positive("learning_rate", self.learning_rate)?;
        if !(0.0..1.0).contains(&self.p_uncond) {
            return Err(TrainError::Invalid(format!(
                "p_uncond must lie in [0, 1), got {}",
                self.p_uncond
            )));
        }
        if !self.guidance_scale.is_finite() {
            return Err(TrainError::Invalid(format!(
                "guidance_scale must be finite, got {}",
                self.guidance_scale
            )));
        }
        if self.guidance_scale != 1.0 && self.p_uncond == 0.0 {
            return Err(TrainError::Invalid(format!(
                "guidance_scale {} needs an unconditional model: set p_uncond > 0",
                self.guidance_scale
            )));
        }
        for sampler in &self.samplers {
            if !SAMPLERS.contains(&sampler.as_str()) {
                return Err(TrainError::Invalid(format!(
                    "sampler '{sampler}' is not one of {}",
                    SAMPLERS.join(", ")
                )));
            }
        }
        self.model.validate()?;
        self.classifier.validate()
    }

    fn learning_rate_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let progress = (step - self.warmup_steps) as f64
            / (self.steps.saturating_sub(self.warmup_steps)).max(1) as f64;
        cosine_decay(self.learning_rate, 0.1 * self.learning_rate, progress)
    }
}

/// `ddpm-digits`.
///
/// # Errors
/// As [`run`].
pub fn run_ddpm(args: &TrainArgs) -> Result<()> {
    run(args, "ddpm")
}

/// `edm-digits`.
///
/// # Errors
/// As [`run`].
pub fn run_edm(args: &TrainArgs) -> Result<()> {
    run(args, "edm")
}

/// `flow-digits`.
///
/// # Errors
/// As [`run`].
pub fn run_flow(args: &TrainArgs) -> Result<()> {
    run(args, "flow")
}

/// Trains (or resumes) the method's model, then samples and scores it.
///
/// # Errors
/// Bad config or arguments (before any file is written), a missing or corrupt digits file,
/// I/O, divergence (the last checkpoint is kept), a sampler's error.
pub fn run(args: &TrainArgs, method: &str) -> Result<()> {
    let recipe = format!("{method}-digits");
    let resumed = args.resume.as_ref().map(|p| RunDir::open(p)).transpose()?;
    let base = resumed.as_ref().map(|r| r.read_config()).transpose()?;
    let config: DigitsDiffusionConfig =
        resolve_config(&DigitsDiffusionConfig::for_method(method), base, args)?;
    config.validate()?;
    if config.method != method {
        return Err(TrainError::Invalid(format!(
            "{recipe} trains method '{method}', not '{}'",
            config.method
        )));
    }
    let all = match &config.digits_file {
        Some(path) => digits::load_from(path)
            .map_err(|e| TrainError::Invalid(format!("--digits-file {path}: {e}")))?,
        None => digits::load()?,
    };
    let (train, test) = all.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
    let device = args.backend.device()?;
    let run_dir = match resumed {
        Some(r) => r,
        None => RunDir::create(args.out.as_deref(), &recipe)?,
    };
    write_json_atomic(&run_dir.file("config.json"), &config)?;
    let had_checkpoint = checkpoint::latest(&run_dir)?.is_some();
    let result = train_and_score(&config, &train, &test, &device, &run_dir);
    if result.is_err() && !had_checkpoint && checkpoint::latest(&run_dir)?.is_none() {
        run_dir.discard();
    }
    result
}

/// The method's training schedule and sampling range.
pub(crate) struct Method {
    name: String,
    /// diffusers' default DDPM schedule: linear betas 1e-4..0.02 over 1000 steps.
    discrete: DiscreteSchedule,
    /// The Karras grids' range.
    sigma_min: f64,
    sigma_max: f64,
}

impl Method {
    pub(crate) fn new(name: &str) -> Result<Self> {
        let discrete = DiscreteSchedule::new(BetaSchedule::Linear, 1000, 1e-4, 0.02)?;
        let table = discrete.sigmas();
        let (sigma_min, sigma_max) = match name {
            // The range the network was trained on: the schedule's own levels.
            "ddpm" => (table[0], table[table.len() - 1]),
            // EDM's sampling range [KARRAS22, Table 1]; flow uses the same.
            _ => (0.002, 80.0),
        };
        Ok(Self { name: name.into(), discrete, sigma_min, sigma_max })
    }

    /// `D(x; sigma, class)` through the method's parameterisation, from a network call
    /// `net(x, noise_cond, class)`.
    pub(crate) fn denoise(
        &self,
        net: &(impl Fn(Tensor<2>, Tensor<1>, Option<Tensor<1, Int>>) -> Tensor<2> + Clone),
        x: Tensor<2>,
        sigma: &[f64],
        labels: Option<Tensor<1, Int>>,
    ) -> stoke_diffusion::Result<Tensor<2>> {
        let net = ClassConditional::new(net.clone(), NULL_CLASS);
        match self.name.as_str() {
            "ddpm" => ScheduleDenoiser::discrete(net, self.discrete.clone(), Prediction::Eps)
                .denoise(x, sigma, labels),
            "edm" => EdmDenoiser::new(net, edm_preconditioning()).denoise(x, sigma, labels),
            _ => ScheduleDenoiser::new(net, Flow, Prediction::Velocity).denoise(x, sigma, labels),
        }
    }
}

/// The null class of the DiT's label embedding (10 real classes).
pub(crate) const NULL_CLASS: usize = 10;

fn edm_preconditioning() -> EdmPreconditioning {
    EdmPreconditioning::new(0.5).expect("0.5 is a valid sigma_data")
}

/// A DiT as a `stoke-diffusion` network call.
pub(crate) fn network(
    model: &Dit,
) -> impl Fn(Tensor<2>, Tensor<1>, Option<Tensor<1, Int>>) -> Tensor<2> + Clone + '_ {
    move |x: Tensor<2>, noise: Tensor<1>, labels: Option<Tensor<1, Int>>| {
        let [n, _] = x.dims();
        let labels =
            labels.unwrap_or_else(|| Tensor::<1, Int>::full([n], NULL_CLASS as i64, &x.device()));
        model.forward(x, noise, labels)
    }
}

/// The denoiser the samplers call.
pub(crate) struct DitDenoiser<'a> {
    pub(crate) model: &'a Dit,
    pub(crate) method: &'a Method,
}

impl Denoiser<2> for DitDenoiser<'_> {
    fn denoise(
        &self,
        x: Tensor<2>,
        sigma: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> stoke_diffusion::Result<Tensor<2>> {
        self.method.denoise(&network(self.model), x, sigma, class_labels)
    }
    fn null_class(&self) -> Option<usize> {
        Some(NULL_CLASS)
    }
}

pub(crate) fn scaled(images: &[[f32; PIXELS]]) -> Vec<f32> {
    images.iter().flatten().map(|&p| 2.0 * p - 1.0).collect()
}

struct Training<'a> {
    config: &'a DigitsDiffusionConfig,
    method: &'a Method,
    data: &'a [f32],
    labels: &'a [usize],
    run_dir: &'a RunDir,
    device: Device,
    model: Option<Dit>,
    optimizer: ModuleOptimizer,
    started: Instant,
    prior_seconds: f64,
}

impl Training<'_> {
    fn loss(&self, model: &Dit, rng: &mut StdRng) -> Result<Tensor<1>> {
        batch_loss(self.config, self.method, self.data, self.labels, model, &self.device, rng)
    }

    fn seconds(&self) -> f64 {
        self.prior_seconds + self.started.elapsed().as_secs_f64()
    }
}

/// One training batch's loss: `batch_size` images of `data` (with their `data_labels`) drawn with
/// replacement, labels dropped to the null class with probability `p_uncond`, then the
/// method's noise and loss.
///
/// # Errors
/// The loss's errors.
pub(crate) fn batch_loss(
    config: &DigitsDiffusionConfig,
    method: &Method,
    data: &[f32],
    data_labels: &[usize],
    model: &Dit,
    device: &Device,
    rng: &mut StdRng,
) -> Result<Tensor<1>> {
    let n = config.batch_size;
    let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..data_labels.len())).collect();
    let x0: Vec<f32> =
        picks.iter().flat_map(|&i| data[i * PIXELS..(i + 1) * PIXELS].to_vec()).collect();
    let x0 = Tensor::<2>::from_data(TensorData::new(x0, [n, PIXELS]), device);
    let labels: Vec<usize> = picks.iter().map(|&i| data_labels[i]).collect();
    let labels = drop_labels(&labels, config.p_uncond, NULL_CLASS, rng)?;
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    let eps: Vec<f32> = (0..n * PIXELS).map(|_| StandardNormal.sample(rng)).collect();
    let eps = Tensor::<2>::from_data(TensorData::new(eps, [n, PIXELS]), device);
    let net = ClassConditional::new(network(model), NULL_CLASS);
    let loss = match method.name.as_str() {
        "ddpm" => {
            // Integer timesteps k in 0..T, t = k / T: the schedule's own grid.
            let steps = method.discrete.len();
            let t: Vec<f64> =
                (0..n).map(|_| rng.random_range(0..steps) as f64 / steps as f64).collect();
            let denoiser =
                ScheduleDenoiser::discrete(net, method.discrete.clone(), Prediction::Eps);
            let weight = LossWeight::unweighted(Prediction::Eps, TimeDensity::Uniform);
            ddpm_loss(&denoiser, x0, eps, &t, Some(labels), &weight)?
        }
        "edm" => {
            let weight = LossWeight::edm();
            let (p_mean, p_std) = (-1.2, 1.2);
            let sigma: Vec<f64> = (0..n)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    (p_mean + p_std * z).exp()
                })
                .collect();
            let denoiser = EdmDenoiser::new(net, edm_preconditioning());
            edm_loss(&denoiser, x0, eps, &sigma, Some(labels), &weight)?
        }
        _ => {
            let t: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            let denoiser = ScheduleDenoiser::new(net, Flow, Prediction::Velocity);
            let weight = LossWeight::unweighted(Prediction::Velocity, TimeDensity::Uniform);
            flow_matching_loss(&denoiser, x0, eps, &t, Some(labels), &weight)?
        }
    };
    Ok(loss.mean)
}

impl Steps for Training<'_> {
    fn step(&mut self, step: usize) -> Result<f64> {
        let mut rng = step_rng(self.config.seed, step);
        let model = self.model.take().expect("the model is back after every step");
        let loss = self.loss(&model, &mut rng)?;
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            // Keep the model for the checkpoint that is already on disk; stop here.
            self.model = Some(model);
            return Ok(value);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = self.config.learning_rate_at(step);
        self.model = Some(self.optimizer.step(lr, model, grads));
        Ok(value)
    }

    fn checkpoint(&mut self, done: usize) -> Result<()> {
        let model = self.model.as_ref().expect("the model is back after every step");
        let state = json!({ "step": done, "train_seconds": self.seconds() });
        checkpoint::save(self.run_dir, done, model, &self.optimizer, &state, 2)
    }
}

fn train_and_score(
    config: &DigitsDiffusionConfig,
    train: &Digits,
    test: &Digits,
    device: &Device,
    run_dir: &RunDir,
) -> Result<()> {
    let method = Method::new(&config.method)?;
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let (model, optimizer, start, prior_seconds) =
        checkpoint::resume_latest(run_dir, config.model.init(&train_device)?, adam())?;
    let data = scaled(&train.images);
    let labels: Vec<usize> = train.labels.iter().map(|&l| usize::from(l)).collect();
    let mut training = Training {
        config,
        method: &method,
        data: &data,
        labels: &labels,
        run_dir,
        device: train_device,
        model: Some(model),
        optimizer,
        started: Instant::now(),
        prior_seconds,
    };
    let schedule = Schedule {
        start,
        total: config.steps,
        log_every: config.log_every,
        checkpoint_every: config.checkpoint_every,
    };
    progress::run(run_dir, schedule, &mut training)?;
    let train_seconds = training.seconds();
    let model = training.model.take().expect("the model is back after training").valid();
    super::flow_2d::save_loss_plot(run_dir)?;
    score(config, &method, &model, train, test, device, run_dir, train_seconds)
}

/// The noise levels a sampler walks, ending in 0.
pub(crate) fn grid(method: &Method, sampler: &str) -> Result<Vec<f64>> {
    let karras = |n: usize| sigmas_karras(n, method.sigma_min, method.sigma_max, 7.0);
    Ok(match sampler {
        "ddpm_ancestral_1000" => {
            let all = timesteps(1000, 1000, TimestepSpacing::Leading, 0)?;
            sigmas_for_timesteps(&method.discrete, &all)?
        }
        "ddim_50" => {
            let steps = timesteps(1000, 50, TimestepSpacing::Leading, 0)?;
            sigmas_for_timesteps(&method.discrete, &steps)?
        }
        "euler_50" => karras(50)?,
        // 18 levels: 17 Heun steps (2 calls) and a last Euler step to 0 -> 35 NFE.
        "heun_35" => karras(18)?,
        "dpmpp2m_20" => karras(20)?,
        other => return Err(TrainError::Invalid(format!("unknown sampler {other}"))),
    })
}

/// Samples `n` images of classes `0, 1, ..., 9, 0, ...` with `sampler`. Pixels in `[0, 1]`.
fn generate(
    config: &DigitsDiffusionConfig,
    method: &Method,
    model: &Dit,
    sampler: &str,
    device: &Device,
) -> Result<(Tensor<2>, Vec<usize>, usize)> {
    let n = config.n_samples;
    let classes: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let labels: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    let guidance = Guidance::classifier_free(labels, config.guidance_scale)?;
    let sigmas = grid(method, sampler)?;
    let mut noise = HostNoise::seeded(config.seed.wrapping_add(0x5A3D));
    let start: Vec<f32> = {
        let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(0x5EED));
        (0..n * PIXELS).map(|_| StandardNormal.sample(&mut rng)).collect()
    };
    let x =
        Tensor::<2>::from_data(TensorData::new(start, [n, PIXELS]), device).mul_scalar(sigmas[0]);
    let denoiser = DitDenoiser { model, method };
    let out = sample_with(sampler, &denoiser, x, &sigmas, &guidance, &mut noise)?;
    let pixels = out.x.clamp(-1.0, 1.0).add_scalar(1.0).mul_scalar(0.5);
    Ok((pixels, classes, out.nfe))
}

/// Runs the sampler named `sampler` (a key of [`SAMPLERS`]) on `sigmas`.
///
/// # Errors
/// The sampler's errors.
pub(crate) fn sample_with<M: Denoiser<2>, S: NoiseSource>(
    sampler: &str,
    denoiser: &M,
    x: Tensor<2>,
    sigmas: &[f64],
    guidance: &Guidance,
    noise: &mut S,
) -> stoke_diffusion::Result<Sampled<2>> {
    match sampler {
        "ddpm_ancestral_1000" => Ddpm::default().sample(denoiser, x, sigmas, guidance, noise),
        "ddim_50" => Ddim::default().sample(denoiser, x, sigmas, guidance, noise),
        "euler_50" => Euler::default().sample(denoiser, x, sigmas, guidance, noise),
        "heun_35" => Heun::default().sample(denoiser, x, sigmas, guidance, noise),
        _ => DpmSolverPp2m.sample(denoiser, x, sigmas, guidance, noise),
    }
}

#[allow(clippy::too_many_arguments)]
fn score(
    config: &DigitsDiffusionConfig,
    method: &Method,
    model: &Dit,
    train: &Digits,
    test: &Digits,
    device: &Device,
    run_dir: &RunDir,
    train_seconds: f64,
) -> Result<()> {
    let started = Instant::now();
    let classifier: Classifier = train_classifier(&config.classifier, train, device)?;
    let (test_x, test_labels) = images_and_labels(test, device);
    let classifier_accuracy = classifier.accuracy(test_x.clone(), &test_labels)?;
    let (train_x, _) = images_and_labels(train, device);
    let test_features = classifier.features(test_x);
    let fd_floor =
        frechet_distance_of_features(classifier.features(train_x), test_features.clone())?;
    let mut samplers = BTreeMap::new();
    for sampler in &config.samplers {
        let begun = Instant::now();
        let (pixels, classes, nfe) = generate(config, method, model, sampler, device)?;
        let seconds = begun.elapsed().as_secs_f64();
        let fd = frechet_distance_of_features(
            classifier.features(pixels.clone()),
            test_features.clone(),
        )?;
        let cond_acc = classifier.accuracy(pixels.clone(), &classes)?;
        save_grid(&pixels, run_dir, sampler)?;
        eprintln!(
            "  {sampler}: FD {fd:.3} (floor {fd_floor:.3}), cond. accuracy {cond_acc:.3}, {nfe} NFE, {seconds:.1} s"
        );
        samplers.insert(
            sampler.clone(),
            json!({ "fd": fd, "cond_acc": cond_acc, "nfe": nfe, "seconds": seconds }),
        );
    }
    let summary: Value = json!({
        "recipe": format!("{}-digits", config.method),
        "fd_floor": fd_floor,
        "classifier_test_accuracy": classifier_accuracy,
        "guidance_scale": config.guidance_scale,
        "samplers": samplers,
        "steps": config.steps,
        "final_loss": run_dir.read_metrics()?.last().and_then(|r| r["loss"].as_f64()),
        "train_seconds": train_seconds,
        "eval_seconds": started.elapsed().as_secs_f64(),
    });
    write_json_atomic(&run_dir.file("metrics.json"), &summary)?;
    eprintln!(
        "{}: fd_floor {fd_floor:.3}; wrote metrics.json, loss.png, samples_<sampler>.png",
        run_dir.path().display()
    );
    Ok(())
}

/// `samples_<sampler>.png`: one row per class (the first 10 samples of each class).
fn save_grid(pixels: &Tensor<2>, run_dir: &RunDir, sampler: &str) -> Result<()> {
    let values: Vec<f32> = pixels.clone().into_data().iter::<f32>().collect();
    let rows = values.len() / PIXELS;
    let per_class = (rows / 10).min(10);
    let mut images: Vec<&[f32]> = Vec::with_capacity(10 * per_class);
    for class in 0..10 {
        for j in 0..per_class {
            let i = class + 10 * j;
            images.push(&values[i * PIXELS..(i + 1) * PIXELS]);
        }
    }
    image::save_grid(
        run_dir.file(&format!("samples_{sampler}.png")),
        &images,
        SIDE,
        SIDE,
        per_class.max(1),
        4,
    )?;
    Ok(())
}
