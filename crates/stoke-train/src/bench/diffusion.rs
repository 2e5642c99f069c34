//! `cargo xtask bench diffusion`: the digits DiT of `ddpm-digits` (the recipe's config).
//!
//! 1. **Sampler overhead.** Each sampler of the recipe runs its grid at the recipe's sampling
//!    batch (`n_samples` rows, doubled by classifier-free guidance) on a denoiser whose
//!    network is a stand-in returning a precomputed `[2 n, 64]` tensor: what remains is
//!    everything a sampling step does besides the network (guidance's batch doubling and
//!    combination, the eps -> x0 conversion, the finite check with its read-back, the
//!    update, host noise). Its time per step is divided by one real DiT forward at the same
//!    batch (ending in a read-back). As a check, DDIM's first steps also run with the real
//!    network.
//! 2. **Training steps/s.** The recipe's DDPM step (`batch_loss`, batch 128, Adam) against
//!    the PyTorch twin `bench/dit_digits_torch.py` (the same architecture, parameter counts
//!    compared), alternating, at 1 and 2 PyTorch threads.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, PIXELS};
use stoke_diffusion::denoiser::Denoiser;
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::noise::HostNoise;

use super::{median, print_table, torch_available, torch_json};
use crate::device::Backend;
use crate::error::{Result, TrainError};
use crate::nn::dit::Dit;
use crate::recipe::digits_diffusion::{
    DigitsDiffusionConfig, DitDenoiser, Method, NULL_CLASS, SAMPLERS, batch_loss, grid, network,
    sample_with, scaled,
};

const TORCH_TWIN: &str = include_str!("../../bench/dit_digits_torch.py");
/// Training steps before the timed ones (allocator and thread pools warm up).
const WARMUP: usize = 5;
/// Timed forwards per repeat.
const FORWARDS: usize = 3;
/// DDIM steps run with the real network, as a check of the overhead's arithmetic.
const CHECK_STEPS: usize = 10;

/// Runs both parts and prints their tables.
///
/// # Errors
/// A backend that fails to start, a sampler's error, a failing PyTorch twin or one whose
/// parameter count differs from the DiT's.
pub(super) fn run(steps: usize, repeats: usize, backends: &[Backend], torch: bool) -> Result<()> {
    let config = DigitsDiffusionConfig::for_method("ddpm");
    let method = Method::new("ddpm")?;
    let devices: Vec<(Backend, Device)> =
        backends.iter().map(|b| b.device().map(|d| (*b, d))).collect::<Result<_>>()?;
    for (backend, device) in &devices {
        sampler_overhead(&config, &method, repeats, *backend, device)?;
    }
    training(&config, &method, steps, repeats, &devices, torch)
}

/// A denoiser whose network is a stand-in returning `output` whatever its input.
struct StandIn<'a> {
    output: Tensor<2>,
    method: &'a Method,
}

impl Denoiser<2> for StandIn<'_> {
    fn denoise(
        &self,
        x: Tensor<2>,
        sigma: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> stoke_diffusion::Result<Tensor<2>> {
        let output = &self.output;
        let net = move |_: Tensor<2>, _: Tensor<1>, _: Option<Tensor<1, Int>>| output.clone();
        self.method.denoise(&net, x, sigma, class_labels)
    }
    fn null_class(&self) -> Option<usize> {
        Some(NULL_CLASS)
    }
}

/// Reading one value back waits for every queued operation that produced `x`.
fn wait(x: Tensor<2>) {
    let _ = x.slice([0..1, 0..1]).into_scalar::<f32>();
}

/// Seconds per step of `sampler` on `denoiser`, and its NFE.
fn seconds_per_step<M: Denoiser<2>>(
    sampler: &str,
    denoiser: &M,
    x: &Tensor<2>,
    sigmas: &[f64],
    guidance: &Guidance,
) -> Result<(f64, usize)> {
    let mut noise = HostNoise::seeded(0);
    let started = Instant::now();
    let out = sample_with(sampler, denoiser, x.clone(), sigmas, guidance, &mut noise)?;
    wait(out.x);
    Ok((started.elapsed().as_secs_f64() / (sigmas.len() - 1) as f64, out.nfe))
}

/// Part 1: prints each sampler's per-step cost without the network, against one forward.
fn sampler_overhead(
    config: &DigitsDiffusionConfig,
    method: &Method,
    repeats: usize,
    backend: Backend,
    device: &Device,
) -> Result<()> {
    device.seed(config.seed);
    let model = config.model.init(device)?;
    let n = config.n_samples;
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    let guidance = Guidance::classifier_free(labels.clone(), config.guidance_scale)?;
    // The guided batch the network sees: conditional rows, then null-class rows.
    let doubled = Tensor::cat(vec![labels, Tensor::full([n], NULL_CLASS as i64, device)], 0);
    let x2 = Tensor::<2>::random([2 * n, PIXELS], Distribution::Normal(0.0, 1.0), device);
    let noise_cond = Tensor::<1>::full([2 * n], 500.0, device);
    let forward = || {
        let started = Instant::now();
        wait(network(&model)(x2.clone(), noise_cond.clone(), Some(doubled.clone())));
        started.elapsed().as_secs_f64()
    };
    let stand_in = StandIn {
        output: Tensor::random([2 * n, PIXELS], Distribution::Normal(0.0, 1.0), device),
        method,
    };
    let real = DitDenoiser { model: &model, method };
    let grids: Vec<Vec<f64>> = SAMPLERS.iter().map(|s| grid(method, s)).collect::<Result<_>>()?;
    let start = |sigmas: &[f64]| x2.clone().narrow(0, 0, n).mul_scalar(sigmas[0]);
    // The real network's check runs DDIM's first `CHECK_STEPS` steps (its cost per step is
    // what is compared, and a whole grid takes a minute at two cores).
    let check = "ddim_50";
    let check_grid = grid(method, check)?[..=CHECK_STEPS].to_vec();
    forward();
    let mut forwards = Vec::new();
    let mut per_step: Vec<Vec<f64>> = vec![Vec::new(); SAMPLERS.len()];
    let mut nfe = vec![0; SAMPLERS.len()];
    let mut checks = Vec::new();
    for repeat in 0..repeats {
        eprintln!("sampler overhead, repeat {}/{repeats}", repeat + 1);
        forwards.extend((0..FORWARDS).map(|_| forward()));
        for (i, sampler) in SAMPLERS.iter().enumerate() {
            let (seconds, calls) =
                seconds_per_step(sampler, &stand_in, &start(&grids[i]), &grids[i], &guidance)?;
            per_step[i].push(seconds);
            nfe[i] = calls;
        }
        let x = start(&check_grid);
        checks.push(seconds_per_step(check, &real, &x, &check_grid, &guidance)?.0);
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
    for (i, sampler) in SAMPLERS.iter().enumerate() {
        let steps = grids[i].len() - 1;
        let ms = 1e3 * median(&per_step[i]);
        let per_nfe = ms * steps as f64 / nfe[i] as f64;
        outln!(
            "{sampler:<22} {steps:>6} {:>6} {ms:>12.3} {:>11.2}% {:>11.2}%",
            nfe[i],
            100.0 * ms / forward_ms,
            100.0 * per_nfe / forward_ms
        );
    }
    let ddim = SAMPLERS.iter().position(|s| *s == check).expect("ddim_50 is a sampler");
    outln!(
        "check: {check}'s first {CHECK_STEPS} steps with the real network {:.2} ms/step; \
         forward + overhead = {:.2} ms",
        1e3 * median(&checks),
        forward_ms + 1e3 * median(&per_step[ddim])
    );
    Ok(())
}

/// Part 2: the recipe's training step in Burn and in the PyTorch twin.
fn training(
    config: &DigitsDiffusionConfig,
    method: &Method,
    steps: usize,
    repeats: usize,
    devices: &[(Backend, Device)],
    torch: bool,
) -> Result<()> {
    let torch = torch && torch_available();
    let (train, _) = digits::load()?.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
    let data = scaled(&train.images);
    let labels: Vec<usize> = train.labels.iter().map(|&l| usize::from(l)).collect();
    let script = std::env::temp_dir().join(format!("stoke-dit-torch-{}.py", std::process::id()));
    let params = match devices.first() {
        Some((_, device)) => config.model.init(device)?.num_params(),
        None => 0,
    };
    let mut rows: Vec<(String, Vec<f64>)> =
        devices.iter().map(|(b, _)| (format!("stoke {b}"), Vec::new())).collect();
    if torch {
        std::fs::write(&script, TORCH_TWIN).map_err(crate::error::io_error(&script))?;
        rows.push(("pytorch cpu, 1 thread".into(), Vec::new()));
        rows.push(("pytorch cpu, 2 threads".into(), Vec::new()));
    }
    let mut torch_params = None;
    for repeat in 0..repeats {
        eprintln!("training, repeat {}/{repeats}", repeat + 1);
        for (i, (_, device)) in devices.iter().enumerate() {
            let rate = burn_steps_per_sec(config, method, &data, &labels, steps, device)?;
            rows[i].1.push(rate);
        }
        if torch {
            let n = devices.len();
            for (row, threads) in [(n, 1), (n + 1, 2)] {
                let (rate, count) = torch_steps(&script, config, steps, threads, params)?;
                rows[row].1.push(rate);
                torch_params = Some(count);
            }
        }
    }
    let _ = std::fs::remove_file(&script);
    let counts = match torch_params {
        Some(count) => format!("{params} parameters in Burn, {count} in PyTorch"),
        None => format!("{params} parameters"),
    };
    let title = format!(
        "digits DiT training step (DDPM eps loss, batch {}, Adam; {counts}): {steps} steps \
         after {WARMUP} warm-up x {repeats} repeats",
        config.batch_size
    );
    print_table(&title, "step/s", &rows, torch);
    Ok(())
}

fn burn_steps_per_sec(
    config: &DigitsDiffusionConfig,
    method: &Method,
    data: &[f32],
    labels: &[usize],
    steps: usize,
    device: &Device,
) -> Result<f64> {
    let device = device.clone().autodiff();
    device.seed(config.seed);
    let mut model = config.model.init(&device)?;
    let mut optimizer = crate::recipe::adam();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut step = |model: Dit| -> Result<Dit> {
        let loss = batch_loss(config, method, data, labels, &model, &device, &mut rng)?;
        // The recipe reads every loss back (for its log and divergence check).
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok(optimizer.step(config.learning_rate, model, grads))
    };
    for _ in 0..WARMUP {
        model = step(model)?;
    }
    let started = Instant::now();
    for _ in 0..steps {
        model = step(model)?;
    }
    let _ = model.num_params();
    Ok(steps as f64 / started.elapsed().as_secs_f64())
}

/// The twin's steps/s at `threads`, after checking that its network has `params` parameters.
fn torch_steps(
    script: &Path,
    config: &DigitsDiffusionConfig,
    steps: usize,
    threads: usize,
    params: usize,
) -> Result<(f64, usize)> {
    let model = &config.model;
    let args = [
        ("--steps", steps.to_string()),
        ("--warmup", WARMUP.to_string()),
        ("--batch", config.batch_size.to_string()),
        ("--lr", config.learning_rate.to_string()),
        ("--p-uncond", config.p_uncond.to_string()),
        ("--patch", model.patch.to_string()),
        ("--width", model.width.to_string()),
        ("--depth", model.depth.to_string()),
        ("--heads", model.n_heads.to_string()),
        ("--mlp-ratio", model.mlp_ratio.to_string()),
        ("--frequencies", model.n_frequencies.to_string()),
        ("--noise-scale", model.noise_scale.to_string()),
    ];
    let args: Vec<&str> = args.iter().flat_map(|(k, v)| [*k, v.as_str()]).collect();
    let value = torch_json(script, &args, threads)?;
    let count = value["params"].as_u64().unwrap_or(0) as usize;
    if count != params {
        return Err(TrainError::Invalid(format!(
            "the PyTorch DiT has {count} parameters, the Burn one {params}: not the same network"
        )));
    }
    let rate = value["steps_per_sec"]
        .as_f64()
        .ok_or_else(|| TrainError::Invalid("the PyTorch twin printed no steps_per_sec".into()))?;
    Ok((rate, count))
}
