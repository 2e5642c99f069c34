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
//! [KARRAS22, Eq. 5] between the model's own `sigma_min` and `sigma_max`; `--samplers` takes
//! any [`SamplerSpec`] (a short name such as `"heun_35"`, or `{"sampler": ..., "grid": ...}`).
//!
//! The digits are split into train / validation / test (fixed, seeded, stratified). The DiT
//! and the scoring classifier train on the training split; quality is measured on features
//! out of sample for both sides of every FD (`eval::digits::FdProtocol`): over `fd_draws`
//! rounds, `n_samples` fresh samples (classes cycling 0-9) against as many random test images,
//! and the floor, as many random validation images against the same test images.
//!
//! `metrics.json`: `fd_floor` (with `fd_floor_stderr`); `noise_baseline.{fd, cond_acc}` (uniform
//! noise images, what a sampler must beat); per sampler `samplers.<name>.{fd, fd_stderr,
//! cond_acc, cond_acc_stderr, nfe, seconds}` (the classifier's accuracy on the samples' intended
//! classes) and `memorisation.{sample_nn_median, test_nn_median, below_test_p05}` (each
//! sample's nearest training image against each test image's).

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::param::{EdmPreconditioning, Prediction};
use stoke_core::schedule::{BetaSchedule, DiscreteSchedule, Flow};
use stoke_core::validate::{finite, in_half_open, size};
use stoke_core::weight::TimeDensity;
use stoke_data::digits::{
    self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION, Digits,
    N_CLASSES, PIXELS, SIDE,
};
use stoke_diffusion::denoiser::{ClassConditional, Denoised, EdmDenoiser, Field, ScheduleDenoiser};
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::loss::{LossWeight, drop_labels, edm_loss, target_loss};
use stoke_diffusion::noise::HostNoise;
use stoke_diffusion::sampler::{NoiseLevels, Sampler, SamplerSpec};
use stoke_nn::dit::{Dit, DitConfig};

use crate::error::{Result, TrainError};
use crate::eval::digits::{ClassifierTraining, FdProtocol, images_and_labels, memorisation};
use crate::harness::{
    Batch, Entry, Family, Loss, LrSchedule, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json,
    launch, metrics_map,
};

/// The diffusion method a recipe trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Eps-prediction on diffusers' linear betas, `L_simple` [HO20, Eq. 14].
    Ddpm,
    /// EDM preconditioning and loss [KARRAS22, Table 1].
    Edm,
    /// Flow matching on the straight path [LIPMAN23, Eq. 23].
    Flow,
}

impl Method {
    /// The method's name (`ddpm`, `edm`, `flow`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ddpm => "ddpm",
            Self::Edm => "edm",
            Self::Flow => "flow",
        }
    }
}

/// The samplers scored by default (their short names, the `metrics.json` keys).
pub const SAMPLERS: [&str; 5] =
    ["ddpm_ancestral_1000", "ddim_50", "euler_50", "heun_35", "dpmpp2m_20"];

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsDiffusionConfig {
    /// `ddpm`, `edm` or `flow` (set by the recipe's name).
    pub method: Method,
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
    /// Samples (and test and validation images) on each side of every FD.
    pub n_samples: usize,
    /// FD rounds, each with fresh samples and fresh random subsets of the held-out splits.
    pub fd_draws: usize,
    /// Samplers scored, each with its grid.
    pub samplers: Vec<SamplerSpec>,
    /// The classifier used for the scores, trained in-process from this config.
    pub classifier: ClassifierTraining,
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
    pub fn for_method(method: Method) -> Self {
        // The DiT embeds `noise_scale * noise_cond`: DDPM's network sees timestep indices
        // 0..999 already, EDM's ln(sigma)/4 and flow's t in [0, 1] are spread by 1000.
        let noise_scale = if method == Method::Ddpm { 1.0 } else { 1000.0 };
        Self {
            method,
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
            n_samples: 180,
            fd_draws: 5,
            samplers: SAMPLERS.iter().map(|s| s.parse().expect("a known short name")).collect(),
            classifier: ClassifierTraining::default(),
            digits_file: None,
            seed: 0,
            log_every: 100,
            checkpoint_every: 1000,
        }
    }
}

/// The tiny config every method's entry shares.
const TINY: &[(&str, &str)] = &[
    ("steps", "30"),
    ("batch_size", "32"),
    ("log_every", "10"),
    ("checkpoint_every", "15"),
    ("n_samples", "20"),
    ("fd_draws", "2"),
    ("samplers", r#"["ddim_5", "heun_5"]"#),
    ("classifier", r#"{"steps": 60, "width": 32, "log_every": 30}"#),
];

/// The registry entries.
pub const ENTRIES: [Entry; 3] = [
    Entry {
        name: "ddpm-digits",
        family: Family::Diffusion,
        summary: "class-conditional DiT on the digits, DDPM (eps, linear betas) with CFG; FD and \
                  conditional accuracy per sampler (DDPM 1000, DDIM 50, Euler 50, Heun 35, DPM++ 20)",
        run: |args| launch(&DigitsDiffusion(Method::Ddpm), args),
        check: |args| check(&DigitsDiffusion(Method::Ddpm), args),
        defaults: || defaults_json(&DigitsDiffusion(Method::Ddpm)),
        tiny: TINY,
    },
    Entry {
        name: "edm-digits",
        family: Family::Diffusion,
        summary: "class-conditional DiT on the digits, EDM preconditioning and loss with CFG; FD \
                  and conditional accuracy per sampler",
        run: |args| launch(&DigitsDiffusion(Method::Edm), args),
        check: |args| check(&DigitsDiffusion(Method::Edm), args),
        defaults: || defaults_json(&DigitsDiffusion(Method::Edm)),
        tiny: TINY,
    },
    Entry {
        name: "flow-digits",
        family: Family::Diffusion,
        summary: "class-conditional DiT on the digits, flow matching (velocity) with CFG; FD and \
                  conditional accuracy per sampler",
        run: |args| launch(&DigitsDiffusion(Method::Flow), args),
        check: |args| check(&DigitsDiffusion(Method::Flow), args),
        defaults: || defaults_json(&DigitsDiffusion(Method::Flow)),
        tiny: TINY,
    },
];

/// One of the three recipes.
pub struct DigitsDiffusion(pub Method);

/// What `prepare` gives `run`: the data splits and the method's schedule.
pub struct Prepared {
    train: Digits,
    validation: Digits,
    test: Digits,
    setup: Setup,
}

impl Recipe for DigitsDiffusion {
    type Config = DigitsDiffusionConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        match self.0 {
            Method::Ddpm => ENTRIES[0].name,
            Method::Edm => ENTRIES[1].name,
            Method::Flow => ENTRIES[2].name,
        }
    }

    fn defaults(&self) -> DigitsDiffusionConfig {
        DigitsDiffusionConfig::for_method(self.0)
    }

    fn prepare(&self, c: &DigitsDiffusionConfig) -> Result<Prepared> {
        if c.method != self.0 {
            return Err(TrainError::Invalid(format!(
                "{} trains method '{}', not '{}'",
                self.name(),
                self.0.name(),
                c.method.name()
            )));
        }
        size("batch_size", c.batch_size)?;
        in_half_open("p_uncond", c.p_uncond, 0.0, 1.0, "[0, 1)")?;
        finite("guidance_scale", c.guidance_scale)?;
        if c.guidance_scale != 1.0 && c.p_uncond == 0.0 {
            return Err(TrainError::Invalid(format!(
                "guidance_scale {} needs an unconditional model: set p_uncond > 0",
                c.guidance_scale
            )));
        }
        for spec in &c.samplers {
            spec.validate()?;
        }
        c.model.validate()?;
        if (c.model.side, c.model.channels, c.model.n_classes) != (SIDE, 1, N_CLASSES) {
            return Err(TrainError::Invalid(format!(
                "the digits are {SIDE}x{SIDE}, one channel, {N_CLASSES} classes: model.side, \
                 model.channels and model.n_classes must be {SIDE}, 1 and {N_CLASSES}, got {}, {} \
                 and {}",
                c.model.side, c.model.channels, c.model.n_classes
            )));
        }
        c.classifier.validate()?;
        let all = match &c.digits_file {
            Some(path) => digits::load_from(path)
                .map_err(|e| TrainError::Invalid(format!("--digits-file {path}: {e}")))?,
            None => digits::load()?,
        };
        let (train, validation, test) =
            all.split3(DEFAULT_VALIDATION_FRACTION, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
        protocol(c).validate(validation.len(), test.len())?;
        Ok(Prepared { train, validation, test, setup: Setup::new(c.method)? })
    }

    fn training(&self, c: &DigitsDiffusionConfig) -> Vec<(String, TrainSpec)> {
        let schedule = LrSchedule::WarmupCosine { warmup_steps: c.warmup_steps, min_fraction: 0.1 };
        let spec = TrainSpec::adam(c.steps, c.learning_rate, c.seed)
            .with_schedule(schedule)
            .every(c.log_every, c.checkpoint_every);
        vec![(PRIMARY.into(), spec), ("classifier".into(), c.classifier.spec())]
    }

    fn run(
        &self,
        c: &DigitsDiffusionConfig,
        p: &Prepared,
        run: &mut Run,
    ) -> Result<Map<String, Value>> {
        let data = scaled(&p.train.images);
        let labels: Vec<usize> = p.train.labels.iter().map(|&l| usize::from(l)).collect();
        let model = run.fit(
            PRIMARY,
            |device| Ok(c.model.init(device)?),
            |model: &Dit, batch| {
                batch_loss(c, &p.setup, &data, &labels, model, batch).map(Loss::new)
            },
        )?;
        score(c, &p.setup, &model.valid(), p, run)
    }
}

/// The method's training schedule and sampling range.
pub struct Setup {
    method: Method,
    /// diffusers' default DDPM schedule: linear betas 1e-4..0.02 over 1000 steps.
    discrete: DiscreteSchedule,
    /// The Karras grids' range.
    sigma_min: f64,
    sigma_max: f64,
}

impl Setup {
    fn new(method: Method) -> Result<Self> {
        let discrete = DiscreteSchedule::new(BetaSchedule::Linear, 1000, 1e-4, 0.02)?;
        let table = discrete.sigmas();
        let (sigma_min, sigma_max) = match method {
            // The range the network was trained on: the schedule's own levels.
            Method::Ddpm => (table[0], table[table.len() - 1]),
            // EDM's sampling range [KARRAS22, Table 1]; flow uses the same.
            Method::Edm | Method::Flow => (0.002, 80.0),
        };
        Ok(Self { method, discrete, sigma_min, sigma_max })
    }

    fn levels(&self) -> NoiseLevels<'_> {
        NoiseLevels {
            discrete: Some(&self.discrete),
            sigma_min: self.sigma_min,
            sigma_max: self.sigma_max,
        }
    }
}

fn edm_preconditioning() -> EdmPreconditioning {
    EdmPreconditioning::new(0.5).expect("0.5 is a valid sigma_data")
}

/// The DiT as the method's denoiser `D(x; sigma)`, for the samplers.
struct DitDenoiser<'a> {
    model: &'a Dit,
    setup: &'a Setup,
}

impl Field<2, Denoised> for DitDenoiser<'_> {
    fn eval(
        &self,
        x: Tensor<2>,
        sigma: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> stoke_diffusion::Result<Tensor<2>> {
        let net = ClassConditional::new(self.model.as_network(), self.model.null_class());
        match self.setup.method {
            Method::Ddpm => ScheduleDenoiser::discrete(
                net,
                self.setup.discrete.clone(),
                Prediction::Eps,
            )
            .eval(x, sigma, class_labels),
            Method::Edm => {
                EdmDenoiser::new(net, edm_preconditioning()).eval(x, sigma, class_labels)
            }
            Method::Flow => {
                ScheduleDenoiser::new(net, Flow, Prediction::Velocity).eval(x, sigma, class_labels)
            }
        }
    }

    fn null_class(&self) -> Option<usize> {
        Some(self.model.null_class())
    }
}

/// Pixels in `[0, 1]` as the model's `[-1, 1]`.
fn scaled(images: &[[f32; PIXELS]]) -> Vec<f32> {
    images.iter().flatten().map(|&p| 2.0 * p - 1.0).collect()
}

/// One training batch's loss: `batch_size` images of `data` (with their `data_labels`) drawn
/// with replacement, labels dropped to the null class with probability `p_uncond`, then the
/// method's noise and loss.
fn batch_loss(
    c: &DigitsDiffusionConfig,
    setup: &Setup,
    data: &[f32],
    data_labels: &[usize],
    model: &Dit,
    batch: &mut Batch,
) -> Result<Tensor<1>> {
    let (n, device, rng) = (c.batch_size, batch.device, &mut batch.rng);
    // Everything is drawn for the global batch; this rank then computes its rows only.
    let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..data_labels.len())).collect();
    let x0: Vec<f32> =
        picks.iter().flat_map(|&i| data[i * PIXELS..(i + 1) * PIXELS].to_vec()).collect();
    let labels: Vec<usize> = picks.iter().map(|&i| data_labels[i]).collect();
    let null = model.null_class();
    let labels = drop_labels(&labels, c.p_uncond, null, rng)?;
    let eps = normal(n * PIXELS, rng);
    // The noise level per row: a DDPM timestep k / T on the schedule's own grid, an EDM
    // sigma (log-normal), or a flow time.
    let level: Vec<f64> = match setup.method {
        Method::Ddpm => {
            let steps = setup.discrete.len();
            (0..n).map(|_| rng.random_range(0..steps) as f64 / steps as f64).collect()
        }
        Method::Edm => {
            let (p_mean, p_std) = (-1.2, 1.2);
            (0..n)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    (p_mean + p_std * z).exp()
                })
                .collect()
        }
        Method::Flow => (0..n).map(|_| rng.random::<f64>()).collect(),
    };
    let rows = batch.share_rows(n)?;
    let m = rows.len();
    let pixels = rows.start * PIXELS..rows.end * PIXELS;
    let x0 =
        Tensor::<2>::from_data(TensorData::new(x0[pixels.clone()].to_vec(), [m, PIXELS]), device);
    let eps = Tensor::<2>::from_data(TensorData::new(eps[pixels].to_vec(), [m, PIXELS]), device);
    let labels: Vec<i64> = labels[rows.clone()].iter().map(|&l| l as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [m]), device);
    let level = &level[rows];
    let net = ClassConditional::new(model.as_network(), null);
    let loss = match setup.method {
        Method::Ddpm => {
            let denoiser = ScheduleDenoiser::discrete(net, setup.discrete.clone(), Prediction::Eps);
            let weight = LossWeight::unweighted(Prediction::Eps, TimeDensity::Uniform);
            target_loss(Prediction::Eps, &denoiser, x0, eps, level, Some(labels), &weight)?
        }
        Method::Edm => {
            let denoiser = EdmDenoiser::new(net, edm_preconditioning());
            edm_loss(&denoiser, x0, eps, level, Some(labels), &LossWeight::edm())?
        }
        Method::Flow => {
            let denoiser = ScheduleDenoiser::new(net, Flow, Prediction::Velocity);
            let weight = LossWeight::unweighted(Prediction::Velocity, TimeDensity::Uniform);
            target_loss(Prediction::Velocity, &denoiser, x0, eps, level, Some(labels), &weight)?
        }
    };
    Ok(loss.mean)
}

fn normal<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// The FD protocol of the config.
fn protocol(c: &DigitsDiffusionConfig) -> FdProtocol {
    FdProtocol { draws: c.fd_draws, size: c.n_samples, seed: c.seed }
}

/// Samples `fd_draws * n_samples` images of classes `0, 1, ..., 9, 0, ...` with `spec`.
/// Pixels in `[0, 1]`.
fn generate(
    c: &DigitsDiffusionConfig,
    setup: &Setup,
    model: &Dit,
    spec: &SamplerSpec,
    device: &Device,
) -> Result<(Tensor<2>, Vec<usize>, usize)> {
    let n = c.n_samples * c.fd_draws;
    let classes: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let labels: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    let guidance = Guidance::classifier_free(labels, c.guidance_scale)?;
    let sigmas = spec.grid.sigmas(&setup.levels())?;
    let mut noise = HostNoise::seeded(c.seed.wrapping_add(0x5A3D));
    let start = normal(n * PIXELS, &mut StdRng::seed_from_u64(c.seed.wrapping_add(0x5EED)));
    let x =
        Tensor::<2>::from_data(TensorData::new(start, [n, PIXELS]), device).mul_scalar(sigmas[0]);
    let denoiser = DitDenoiser { model, setup };
    let out = spec.sampler.sample(&denoiser, x, &sigmas, &guidance, &mut noise)?;
    let pixels = out.x.clamp(-1.0, 1.0).add_scalar(1.0).mul_scalar(0.5);
    Ok((pixels, classes, out.nfe))
}

fn score(
    c: &DigitsDiffusionConfig,
    setup: &Setup,
    model: &Dit,
    p: &Prepared,
    run: &mut Run,
) -> Result<Map<String, Value>> {
    let classifier = c.classifier.train(&p.train, run, "classifier")?;
    let device = run.device().clone();
    let (test_x, test_labels) = images_and_labels(&p.test, &device);
    let classifier_accuracy = classifier.accuracy(test_x, &test_labels)?;
    let protocol = protocol(c);
    let reference = protocol.reference(&classifier, &p.validation, &p.test, &device);
    let floor = reference.floor()?;
    // What a sampler must beat: uniform noise images, intended as the same classes.
    let n = c.n_samples * c.fd_draws;
    let noise_images =
        Tensor::<2>::random([n, PIXELS], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
    let classes: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let (noise_fd, noise_acc) = reference.score(&classifier, noise_images, &classes)?;
    let mut samplers = Map::new();
    for spec in &c.samplers {
        let name = spec.name();
        let begun = Instant::now();
        let (pixels, classes, nfe) = generate(c, setup, model, spec, &device)?;
        let seconds = begun.elapsed().as_secs_f64();
        let (fd, cond_acc) = reference.score(&classifier, pixels.clone(), &classes)?;
        let values: Vec<f32> = pixels.clone().into_data().iter::<f32>().collect();
        let copies = memorisation(&values, &p.train, &p.test);
        save_grid(&values, run, &name)?;
        eprintln!(
            "  {name}: FD {:.3} +- {:.3} (floor {:.3} +- {:.3}), cond. accuracy {:.3}, {nfe} NFE, {seconds:.1} s",
            fd.mean, fd.stderr, floor.mean, floor.stderr, cond_acc.mean
        );
        samplers.insert(
            name,
            json!({
                "fd": fd.mean,
                "fd_stderr": fd.stderr,
                "cond_acc": cond_acc.mean,
                "cond_acc_stderr": cond_acc.stderr,
                "nfe": nfe,
                "seconds": seconds,
                "memorisation": copies,
            }),
        );
    }
    eprintln!(
        "{}: fd_floor {:.3} +- {:.3} ({} rounds of {}); wrote metrics.json, loss.png, samples_<sampler>.png",
        run.dir().path().display(),
        floor.mean,
        floor.stderr,
        c.fd_draws,
        c.n_samples
    );
    Ok(metrics_map(json!({
        "fd_floor": floor.mean,
        "fd_floor_stderr": floor.stderr,
        "fd_draws": c.fd_draws,
        "fd_size": c.n_samples,
        "noise_baseline": {
            "fd": noise_fd.mean,
            "fd_stderr": noise_fd.stderr,
            "cond_acc": noise_acc.mean,
        },
        "classifier_test_accuracy": classifier_accuracy,
        "guidance_scale": c.guidance_scale,
        "samplers": samplers,
    })))
}

/// `samples_<sampler>.png`: one row per class (the first 10 samples of each class).
fn save_grid(values: &[f32], run: &Run, sampler: &str) -> Result<()> {
    let rows = values.len() / PIXELS;
    let per_class = (rows / 10).min(10);
    let mut images: Vec<&[f32]> = Vec::with_capacity(10 * per_class);
    for class in 0..10 {
        for j in 0..per_class {
            let i = class + 10 * j;
            images.push(&values[i * PIXELS..(i + 1) * PIXELS]);
        }
    }
    stoke_data::image::save_grid(
        run.dir().file(&format!("samples_{sampler}.png")),
        &images,
        SIDE,
        SIDE,
        per_class.max(1),
        4,
    )?;
    Ok(())
}
