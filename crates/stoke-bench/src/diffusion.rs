//! `cargo xtask bench diffusion`: the digits DiT at `ddpm-digits`' settings (4x4 patches,
//! width 48, 3 blocks; 1000 samples with classifier-free guidance at scale 2; batch 128).
//!
//! 1. **Sampler overhead.** Each default sampler runs its grid at the sampling batch
//!    (`n` rows, doubled by guidance) on a denoiser whose network is a stand-in returning a
//!    precomputed `[2 n, 64]` tensor: what remains is everything a sampling step does besides
//!    the network (guidance's batch doubling and combination, the eps -> x0 conversion, the
//!    finite check with its read-back, the update, host noise). Its time per step is divided
//!    by one real DiT forward at the same batch. As a check, DDIM's first steps also run with
//!    the real network.
//! 2. **Training steps/s.** The DDPM step (eps `L_simple` with label dropout, Adam with
//!    PyTorch's epsilon, the loss read back each step as the trainer does) against the
//!    PyTorch twin `bench/dit_digits_torch.py` (the same architecture, parameter counts
//!    compared), alternating, at 1 and 2 PyTorch threads.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution as _, StandardNormal};
use stoke_core::param::Prediction;
use stoke_core::schedule::{BetaSchedule, DiscreteSchedule};
use stoke_core::weight::TimeDensity;
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, PIXELS};
use stoke_diffusion::denoiser::{ClassConditional, Denoiser, ScheduleDenoiser};
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::loss::{LossWeight, drop_labels, target_loss};
use stoke_diffusion::noise::HostNoise;
use stoke_diffusion::sampler::{NoiseLevels, Sampler, SamplerSpec};
use stoke_nn::dit::{Dit, DitConfig};
use stoke_train::device::Backend;
use stoke_train::error::{Result, TrainError};

use crate::Options;
use crate::table::{alternate, median, outln, print_table, timed_steps};

pub(crate) const TWIN: &str = include_str!("../bench/dit_digits_torch.py");
/// The samplers `ddpm-digits` scores.
const SAMPLERS: [&str; 5] = ["ddpm_ancestral_1000", "ddim_50", "euler_50", "heun_35", "dpmpp2m_20"];
/// Training steps before the timed ones (allocator and thread pools warm up).
const WARMUP: usize = 5;
/// Timed forwards per repeat.
const FORWARDS: usize = 3;
/// DDIM steps run with the real network, as a check of the overhead's arithmetic.
const CHECK_STEPS: usize = 10;
const SAMPLES: usize = 1000;
const GUIDANCE_SCALE: f64 = 2.0;
pub(crate) const BATCH: usize = 128;
pub(crate) const LEARNING_RATE: f64 = 1e-3;
pub(crate) const P_UNCOND: f64 = 0.1;

pub(crate) fn dit() -> DitConfig {
    DitConfig::new().with_patch(4).with_width(48).with_depth(3).with_noise_scale(1.0)
}

/// diffusers' default DDPM schedule.
fn schedule() -> Result<DiscreteSchedule> {
    Ok(DiscreteSchedule::new(BetaSchedule::Linear, 1000, 1e-4, 0.02)?)
}

/// Runs both parts and prints their tables.
///
/// # Errors
/// A backend that fails to start, a sampler's error, a failing PyTorch twin or one whose
/// parameter count differs from the DiT's.
pub fn run(options: &Options) -> Result<()> {
    for backend in options.backends.iter().filter(|_| !options.step_only) {
        sampler_overhead(options.repeats, *backend, &backend.device()?)?;
    }
    training(options)
}

/// Reading one value back waits for every queued operation that produced `x`.
fn wait(x: Tensor<2>) {
    let _ = x.slice([0..1, 0..1]).into_scalar::<f32>();
}

/// Seconds per step of `spec` on `denoiser`, and its NFE.
fn seconds_per_step<M: Denoiser<2>>(
    spec: &SamplerSpec,
    denoiser: &M,
    x: &Tensor<2>,
    sigmas: &[f64],
    guidance: &Guidance,
) -> Result<(f64, usize)> {
    let started = Instant::now();
    let out =
        spec.sampler.sample(denoiser, x.clone(), sigmas, guidance, &mut HostNoise::seeded(0))?;
    wait(out.x);
    Ok((started.elapsed().as_secs_f64() / (sigmas.len() - 1) as f64, out.nfe))
}

/// Part 1: prints each sampler's per-step cost without the network, against one forward.
fn sampler_overhead(repeats: usize, backend: Backend, device: &Device) -> Result<()> {
    device.seed(0);
    let model = dit().init(device)?;
    let discrete = schedule()?;
    let table = discrete.sigmas();
    let levels = NoiseLevels {
        discrete: Some(&discrete),
        sigma_min: table[0],
        sigma_max: table[table.len() - 1],
    };
    let n = SAMPLES;
    let null = model.null_class();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    let guidance = Guidance::classifier_free(labels.clone(), GUIDANCE_SCALE)?;
    // The guided batch the network sees: conditional rows, then null-class rows.
    let doubled = Tensor::cat(vec![labels, Tensor::full([n], null as i64, device)], 0);
    let x2 = Tensor::<2>::random([2 * n, PIXELS], Distribution::Normal(0.0, 1.0), device);
    let noise_cond = Tensor::<1>::full([2 * n], 500.0, device);
    let forward = || {
        let started = Instant::now();
        wait(model.forward(x2.clone(), noise_cond.clone(), doubled.clone()));
        started.elapsed().as_secs_f64()
    };
    let output = Tensor::<2>::random([2 * n, PIXELS], Distribution::Normal(0.0, 1.0), device);
    let stand_in = move |_: Tensor<2>, _: Tensor<1>, _: Option<Tensor<1, Int>>| output.clone();
    let stand_in = eps_denoiser(stand_in, null, &discrete);
    let real = eps_denoiser(model.as_network(), null, &discrete);
    let specs: Vec<SamplerSpec> =
        SAMPLERS.iter().map(|s| s.parse()).collect::<std::result::Result<_, _>>()?;
    let grids: Vec<Vec<f64>> =
        specs.iter().map(|s| s.grid.sigmas(&levels)).collect::<std::result::Result<_, _>>()?;
    let start = |sigmas: &[f64]| x2.clone().narrow(0, 0, n).mul_scalar(sigmas[0]);
    // The real network's check runs DDIM's first `CHECK_STEPS` steps (its cost per step is
    // what is compared, and a whole grid takes a minute at two cores).
    let check: SamplerSpec = "ddim_50".parse()?;
    let check_grid = check.grid.sigmas(&levels)?[..=CHECK_STEPS].to_vec();
    forward();
    let mut forwards = Vec::new();
    let mut per_step: Vec<Vec<f64>> = vec![Vec::new(); specs.len()];
    let mut nfe = vec![0; specs.len()];
    let mut checks = Vec::new();
    for repeat in 0..repeats {
        eprintln!("sampler overhead, repeat {}/{repeats}", repeat + 1);
        forwards.extend((0..FORWARDS).map(|_| forward()));
        for (i, spec) in specs.iter().enumerate() {
            let (seconds, calls) =
                seconds_per_step(spec, &stand_in, &start(&grids[i]), &grids[i], &guidance)?;
            per_step[i].push(seconds);
            nfe[i] = calls;
        }
        let x = start(&check_grid);
        checks.push(seconds_per_step(&check, &real, &x, &check_grid, &guidance)?.0);
    }
    let forward_ms = 1e3 * median(&forwards);
    outln!(
        "Sampler overhead without the network, digits DiT ({} parameters), {n} samples with \
         guidance (batch {}), {backend}, medians of {repeats} repeats",
        model.num_params(),
        2 * n
    );
    outln!("one DiT forward at batch {}: {forward_ms:.2} ms", 2 * n);
    outln!(
        "{:<22} {:>6} {:>6} {:>12} {:>12} {:>12}",
        "sampler",
        "steps",
        "NFE",
        "ms/step",
        "/forward",
        "per NFE"
    );
    for (i, spec) in specs.iter().enumerate() {
        let steps = grids[i].len() - 1;
        let ms = 1e3 * median(&per_step[i]);
        let per_nfe = ms * steps as f64 / nfe[i] as f64;
        outln!(
            "{:<22} {steps:>6} {:>6} {ms:>12.3} {:>11.2}% {:>11.2}%",
            spec.name(),
            nfe[i],
            100.0 * ms / forward_ms,
            100.0 * per_nfe / forward_ms
        );
    }
    let ddim = specs.iter().position(|s| *s == check).expect("ddim_50 is a sampler");
    outln!(
        "check: {check}'s first {CHECK_STEPS} steps with the real network {:.2} ms/step; \
         forward + overhead = {:.2} ms",
        1e3 * median(&checks),
        forward_ms + 1e3 * median(&per_step[ddim])
    );
    Ok(())
}

/// The PyTorch twin's options for the DiT of [`dit`] and the step's settings.
pub(crate) fn twin_args(steps: usize) -> Vec<String> {
    let model = dit();
    [
        ("--steps", steps.to_string()),
        ("--warmup", WARMUP.to_string()),
        ("--batch", BATCH.to_string()),
        ("--lr", LEARNING_RATE.to_string()),
        ("--p-uncond", P_UNCOND.to_string()),
        ("--patch", model.patch.to_string()),
        ("--width", model.width.to_string()),
        ("--depth", model.depth.to_string()),
        ("--heads", model.n_heads.to_string()),
        ("--mlp-ratio", model.mlp_ratio.to_string()),
        ("--frequencies", model.n_frequencies.to_string()),
        ("--noise-scale", model.noise_scale.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

/// Part 2: the DDPM training step in Burn and in the PyTorch twin.
fn training(options: &Options) -> Result<()> {
    let (train, _) = digits::load()?.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
    let data: Vec<f32> = train.images.iter().flatten().map(|&p| 2.0 * p - 1.0).collect();
    let labels: Vec<usize> = train.labels.iter().map(|&l| usize::from(l)).collect();
    let params = dit().init(&Device::flex())?.num_params();
    let args = twin_args(options.steps);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rows, torch) = alternate(
        options,
        Some(("dit", TWIN)),
        |device| steps_per_sec(&data, &labels, options.steps, device),
        |twin, threads| {
            let value = twin.json(&args, threads)?;
            let count = value["params"].as_u64().unwrap_or(0) as usize;
            if count != params {
                return Err(TrainError::Invalid(format!(
                    "the PyTorch DiT has {count} parameters, the Burn one {params}: not the same network"
                )));
            }
            value["steps_per_sec"].as_f64().ok_or_else(|| {
                TrainError::Invalid("the PyTorch twin printed no steps_per_sec".into())
            })
        },
    )?;
    let title = format!(
        "digits DiT training step (DDPM eps loss, batch {BATCH}, Adam; {params} parameters): {} \
         steps after {WARMUP} warm-up x {} repeats",
        options.steps, options.repeats
    );
    print_table(&title, "step/s", &rows, torch);
    Ok(())
}

/// A network call as the eps denoiser of the DDPM schedule, class-conditional.
fn eps_denoiser<N>(
    net: N,
    null: usize,
    discrete: &DiscreteSchedule,
) -> ScheduleDenoiser<ClassConditional<N>, DiscreteSchedule> {
    ScheduleDenoiser::discrete(ClassConditional::new(net, null), discrete.clone(), Prediction::Eps)
}

fn steps_per_sec(
    data: &[f32],
    data_labels: &[usize],
    steps: usize,
    device: &Device,
) -> Result<f64> {
    let device = device.clone().autodiff();
    device.seed(0);
    let model = dit().init(&device)?;
    let discrete = schedule()?;
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = StdRng::seed_from_u64(0);
    let weight = LossWeight::unweighted(Prediction::Eps, TimeDensity::Uniform);
    let step = |model: Dit| -> Result<Dit> {
        let picks: Vec<usize> =
            (0..BATCH).map(|_| rng.random_range(0..data_labels.len())).collect();
        let x0: Vec<f32> =
            picks.iter().flat_map(|&i| data[i * PIXELS..(i + 1) * PIXELS].to_vec()).collect();
        let x0 = Tensor::<2>::from_data(TensorData::new(x0, [BATCH, PIXELS]), &device);
        let labels: Vec<usize> = picks.iter().map(|&i| data_labels[i]).collect();
        let labels = drop_labels(&labels, P_UNCOND, model.null_class(), &mut rng)?;
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [BATCH]), &device);
        let eps: Vec<f32> = (0..BATCH * PIXELS).map(|_| StandardNormal.sample(&mut rng)).collect();
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [BATCH, PIXELS]), &device);
        let t: Vec<f64> = (0..BATCH).map(|_| rng.random_range(0..1000) as f64 / 1000.0).collect();
        let loss = {
            let denoiser = eps_denoiser(model.as_network(), model.null_class(), &discrete);
            target_loss(Prediction::Eps, &denoiser, x0, eps, &t, Some(labels), &weight)?.mean
        };
        // The trainer reads every loss back (for its log and divergence check).
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok(optimizer.step(LEARNING_RATE, model, grads))
    };
    // Every step already read its loss back, so the device is idle when the loop ends.
    timed_steps(model, WARMUP, steps, step, |model: &Dit| {
        let _ = model.num_params();
    })
}
