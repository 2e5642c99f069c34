//! `cargo xtask bench <target>` ([`TARGETS`]): Stoke against a PyTorch twin of the same
//! computation (`bench/*.py`, embedded, run with `python3` or `$STOKE_PYTHON` when it imports
//! torch) on the same machine in the same command, PyTorch at 1 and 2 threads. Runs alternate
//! between the sides and the medians are compared, because timings on small shared machines
//! swing between runs.
//!
//! - `flow-2d`: training steps/s of the flow-2d MLP (`bench/flow_2d_torch.py`).
//! - `estimators`: Gumbel-softmax forward + backward (`bench/gumbel_softmax_torch.py`).
//! - `digits-nets`: the DiT against a convolution stack (no twin).
//! - `diffusion`: the digits DiT's sampler overhead and training step
//!   (`bench/dit_digits_torch.py`); see `diffusion.rs`.

use std::process::Command;
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use stoke_core::noise_level::NoiseLevelSampler;
use stoke_data::toy::{self, Toy};

use crate::device::Backend;
use crate::error::{Result, TrainError};
use crate::nn::TimeMlpConfig;
use crate::recipe::flow_2d::{Flow2dConfig, cfm_loss, gaussian, points_tensor};

const TORCH_TWIN: &str = include_str!("../bench/flow_2d_torch.py");
const GUMBEL_TWIN: &str = include_str!("../bench/gumbel_softmax_torch.py");
const WARMUP: usize = 20;

mod diffusion;

/// The benchmark targets, with their default timed steps and repeats.
pub const TARGETS: [(&str, usize, usize); 4] =
    [("flow-2d", 300, 5), ("estimators", 300, 5), ("digits-nets", 300, 5), ("diffusion", 10, 3)];

/// Runs the benchmark `target` and prints a table of medians and ratios; `steps` and
/// `repeats` default to the target's entry in [`TARGETS`].
///
/// # Errors
/// An unknown target, or a backend that fails to start.
pub fn run(
    target: &str,
    steps: Option<usize>,
    repeats: Option<usize>,
    backends: &[Backend],
    torch: bool,
) -> Result<()> {
    let Some(&(_, default_steps, default_repeats)) = TARGETS.iter().find(|t| t.0 == target) else {
        let known: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
        return Err(TrainError::Invalid(format!(
            "unknown benchmark '{target}' (known: {})",
            known.join(", ")
        )));
    };
    let (steps, repeats) = (steps.unwrap_or(default_steps), repeats.unwrap_or(default_repeats));
    match target {
        "estimators" => run_estimators(steps, repeats, backends, torch),
        "digits-nets" => run_digits_nets(steps, repeats, backends),
        "diffusion" => diffusion::run(steps, repeats, backends, torch),
        _ => run_flow_2d(steps, repeats, backends, torch),
    }
}

/// `cargo xtask bench flow-2d`.
fn run_flow_2d(steps: usize, repeats: usize, backends: &[Backend], torch: bool) -> Result<()> {
    let config = Flow2dConfig::default();
    let torch = torch && torch_available();
    let script = std::env::temp_dir().join(format!("stoke-flow2d-torch-{}.py", std::process::id()));
    if torch {
        std::fs::write(&script, TORCH_TWIN).map_err(crate::error::io_error(&script))?;
    }
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    let devices: Vec<(Backend, Device)> =
        backends.iter().map(|b| b.device().map(|d| (*b, d))).collect::<Result<_>>()?;
    for (backend, _) in &devices {
        rows.push((format!("stoke {backend}"), Vec::new()));
    }
    if torch {
        rows.push(("pytorch cpu, 1 thread".into(), Vec::new()));
        rows.push(("pytorch cpu, 2 threads".into(), Vec::new()));
    }
    for repeat in 0..repeats {
        eprintln!("repeat {}/{repeats}", repeat + 1);
        for (i, (_, device)) in devices.iter().enumerate() {
            rows[i].1.push(stoke_steps_per_sec(
                &config.model,
                config.batch_size,
                config.learning_rate,
                steps,
                device,
            ));
        }
        if torch {
            let n = devices.len();
            rows[n].1.push(torch_steps_per_sec(&script, steps, 1)?);
            rows[n + 1].1.push(torch_steps_per_sec(&script, steps, 2)?);
        }
    }
    let _ = std::fs::remove_file(&script);
    let title = format!(
        "flow-2d training step (batch 256, MLP 18-128-128-128-2, Adam): {steps} steps x {repeats} repeats"
    );
    print_table(&title, "step/s", &rows, torch);
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

/// Prints each side's median, min and max rate and every Stoke / PyTorch ratio of medians.
fn print_table(title: &str, unit: &str, rows: &[(String, Vec<f64>)], torch: bool) {
    outln!("{title}");
    outln!("{:<26} {:>14} {:>12} {:>12}", "side", format!("median {unit}"), "min", "max");
    for (name, values) in rows {
        let (min, max) =
            values.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        outln!("{name:<26} {:>14.2} {min:>12.2} {max:>12.2}", median(values));
    }
    if !torch {
        outln!("(PyTorch twin skipped: python3 with torch not found, or --no-torch)");
        return;
    }
    let torch_rows: Vec<&(String, Vec<f64>)> =
        rows.iter().filter(|(n, _)| n.starts_with("pytorch")).collect();
    for (name, values) in rows.iter().filter(|(n, _)| n.starts_with("stoke")) {
        for (torch_name, torch_values) in &torch_rows {
            outln!("ratio {name} / {torch_name}: {:.2}x", median(values) / median(torch_values));
        }
    }
}

fn stoke_steps_per_sec(
    model: &TimeMlpConfig,
    batch: usize,
    lr: f64,
    steps: usize,
    device: &Device,
) -> f64 {
    let device = device.clone().autodiff();
    device.seed(0);
    let mut net = model.init(&device);
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let times = NoiseLevelSampler::uniform();
    let mut rng = StdRng::seed_from_u64(0);
    let mut step = |net: crate::nn::TimeMlp| {
        let x0 = toy::sample(Toy::Moons, batch, &mut rng);
        let noise = gaussian(batch, &mut rng);
        let t = times.sample_tensor(batch, &device, &mut rng);
        let loss = cfm_loss(&net, points_tensor(&x0, &device), points_tensor(&noise, &device), t);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        optimizer.step(lr, net, grads)
    };
    for _ in 0..WARMUP {
        net = step(net);
    }
    let started = Instant::now();
    for _ in 0..steps {
        net = step(net);
    }
    // Reading an output back waits for any queued GPU work.
    let probe = net
        .forward(points_tensor(&[[0.0, 0.0]], &device), burn::tensor::Tensor::zeros([1], &device));
    let _ = probe.into_data();
    steps as f64 / started.elapsed().as_secs_f64()
}

/// The interpreter for the PyTorch twin: `$STOKE_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("STOKE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn torch_available() -> bool {
    Command::new(python())
        .args(["-c", "import torch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn torch_steps_per_sec(script: &std::path::Path, steps: usize, threads: usize) -> Result<f64> {
    torch_rate(script, &["--steps", &steps.to_string()], threads, "steps_per_sec")
}

/// Runs a PyTorch twin with `args` at `threads` threads and reads `key` from its JSON line.
fn torch_rate(script: &std::path::Path, args: &[&str], threads: usize, key: &str) -> Result<f64> {
    torch_json(script, args, threads)?[key]
        .as_f64()
        .ok_or_else(|| TrainError::Invalid(format!("the PyTorch twin printed no {key}")))
}

/// Runs a PyTorch twin with `args` at `threads` threads and parses its JSON line.
fn torch_json(
    script: &std::path::Path,
    args: &[&str],
    threads: usize,
) -> Result<serde_json::Value> {
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .args(["--threads", &threads.to_string()])
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .map_err(crate::error::io_error("python3"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).map_err(|_| {
        TrainError::Invalid(format!(
            "the PyTorch twin failed: {}",
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("no output")
        ))
    })
}

/// `cargo xtask bench estimators`: Gumbel-softmax forward + backward on `[4096, 1000]`
/// against `torch.nn.functional.gumbel_softmax`, alternating, medians of `repeats`.
fn run_estimators(iters: usize, repeats: usize, backends: &[Backend], torch: bool) -> Result<()> {
    let (batch, categories) = (4096, 1000);
    let torch = torch && torch_available();
    let script = std::env::temp_dir().join(format!("stoke-gumbel-torch-{}.py", std::process::id()));
    if torch {
        std::fs::write(&script, GUMBEL_TWIN).map_err(crate::error::io_error(&script))?;
    }
    let devices: Vec<(Backend, Device)> =
        backends.iter().map(|b| b.device().map(|d| (*b, d))).collect::<Result<_>>()?;
    let mut rows: Vec<(String, Vec<f64>)> =
        devices.iter().map(|(b, _)| (format!("stoke {b}"), Vec::new())).collect();
    if torch {
        rows.push(("pytorch cpu, 1 thread".into(), Vec::new()));
        rows.push(("pytorch cpu, 2 threads".into(), Vec::new()));
    }
    let args = ["--iters", &iters.to_string()];
    for repeat in 0..repeats {
        eprintln!("repeat {}/{repeats}", repeat + 1);
        for (i, (_, device)) in devices.iter().enumerate() {
            rows[i].1.push(gumbel_iters_per_sec(batch, categories, iters, device)?);
        }
        if torch {
            let n = devices.len();
            rows[n].1.push(torch_rate(&script, &args, 1, "iters_per_sec")?);
            rows[n + 1].1.push(torch_rate(&script, &args, 2, "iters_per_sec")?);
        }
    }
    let _ = std::fs::remove_file(&script);
    let title = format!(
        "Gumbel-softmax forward+backward, [{batch}, {categories}], tau 0.5: {iters} iterations x {repeats} repeats"
    );
    print_table(&title, "iter/s", &rows, torch);
    Ok(())
}

fn gumbel_iters_per_sec(
    batch: usize,
    categories: usize,
    iters: usize,
    device: &Device,
) -> Result<f64> {
    use burn::tensor::{Distribution, Tensor};
    use stoke_estimators::gumbel::{gumbel_softmax, sample_gumbel_on_device};
    let device = device.clone().autodiff();
    device.seed(0);
    let logits = Tensor::<2>::random([batch, categories], Distribution::Normal(0.0, 1.0), &device);
    let weights = Tensor::<2>::random([batch, categories], Distribution::Normal(0.0, 1.0), &device);
    let step = || -> Result<Option<Tensor<2>>> {
        let leaf = logits.clone().detach().require_grad();
        // Fresh noise each iteration, drawn on the device as PyTorch draws its own.
        let noise = sample_gumbel_on_device(batch, categories, &device);
        let y = gumbel_softmax(leaf.clone(), noise, 0.5, false)
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        let grads = (y * weights.clone()).sum().backward();
        Ok(leaf.grad(&grads))
    };
    // Reading one gradient value back waits for the queued work, as PyTorch's synchronize.
    let wait = |grad: Option<Tensor<2>>| grad.map(|g| g.slice([0..1, 0..1]).into_scalar::<f32>());
    for _ in 0..3 {
        wait(step()?);
    }
    let started = Instant::now();
    let mut last = None;
    for _ in 0..iters {
        last = step()?;
    }
    wait(last);
    Ok(iters as f64 / started.elapsed().as_secs_f64())
}

/// `cargo xtask bench digits-nets`: one Adam step (forward, backward, update) at batch 128 on
/// 8x8 digits of the conditional [`crate::nn::Dit`] and, as the cost of the UNet
/// alternative, of a plain stack of six 3x3 convolutions at 64 channels (a UNet's 8x8 level
/// without its skips, pooling and conditioning, so a lower bound on a UNet's step).
fn run_digits_nets(steps: usize, repeats: usize, backends: &[Backend]) -> Result<()> {
    use burn::module::Module;
    let devices: Vec<(Backend, Device)> =
        backends.iter().map(|b| b.device().map(|d| (*b, d))).collect::<Result<_>>()?;
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for (backend, _) in &devices {
        rows.push((format!("dit {backend}"), Vec::new()));
        rows.push((format!("conv stack {backend}"), Vec::new()));
    }
    for repeat in 0..repeats {
        eprintln!("repeat {}/{repeats}", repeat + 1);
        for (i, (_, device)) in devices.iter().enumerate() {
            rows[2 * i].1.push(digits_net_steps_per_sec(DigitsNet::Dit, steps, device)?);
            rows[2 * i + 1].1.push(digits_net_steps_per_sec(DigitsNet::ConvStack, steps, device)?);
        }
    }
    let dit_params = crate::nn::DitConfig::new().init(&devices[0].1)?.num_params();
    let conv_params = conv_stack(&devices[0].1).num_params();
    let title = format!(
        "8x8 digits network, Adam step at batch 128: DiT (default DitConfig, {dit_params} \
         parameters) vs conv stack ({conv_params} parameters); {steps} steps x {repeats} repeats"
    );
    print_table(&title, "step/s", &rows, false);
    Ok(())
}

#[derive(Clone, Copy)]
enum DigitsNet {
    Dit,
    ConvStack,
}

/// Six 3x3 convolutions `1 -> 64 -> ... -> 64 -> 1` at 8x8.
fn conv_stack(device: &Device) -> Vec<burn::nn::conv::Conv2d> {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    let channels = [1, 64, 64, 64, 64, 64, 1];
    channels
        .windows(2)
        .map(|c| {
            Conv2dConfig::new([c[0], c[1]], [3, 3]).with_padding(PaddingConfig2d::Same).init(device)
        })
        .collect()
}

fn digits_net_steps_per_sec(net: DigitsNet, steps: usize, device: &Device) -> Result<f64> {
    use burn::module::Module;
    use burn::tensor::{Distribution, Int, Tensor, TensorData};
    let batch = 128;
    let device = device.clone().autodiff();
    device.seed(0);
    let x = Tensor::<2>::random([batch, 64], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<2>::random([batch, 64], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::random([batch], Distribution::Uniform(0.0, 1.0), &device);
    let classes: Vec<i64> = (0..batch as i64).map(|i| i % 11).collect();
    let class = Tensor::<1, Int>::from_data(TensorData::new(classes, [batch]), &device);
    let mut optimizer = AdamConfig::new().init();
    // Reading the loss back waits for the step's work.
    let mut timed = |n: usize| -> Result<f64> {
        let started = Instant::now();
        match net {
            DigitsNet::Dit => {
                let mut model = crate::nn::DitConfig::new().init(&device)?;
                for _ in 0..n {
                    let out = model.forward(x.clone(), t.clone(), class.clone());
                    let loss = (out - target.clone()).powi_scalar(2).mean();
                    let _ = loss.clone().into_scalar::<f32>();
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = optimizer.step(1e-4, model, grads);
                }
                let _ = model.num_params();
            }
            DigitsNet::ConvStack => {
                let mut model = conv_stack(&device);
                for _ in 0..n {
                    let mut h = x.clone().reshape([batch, 1, 8, 8]);
                    for (i, conv) in model.iter().enumerate() {
                        h = conv.forward(h);
                        if i + 1 < model.len() {
                            h = burn::tensor::activation::silu(h);
                        }
                    }
                    let loss = (h.reshape([batch, 64]) - target.clone()).powi_scalar(2).mean();
                    let _ = loss.clone().into_scalar::<f32>();
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = optimizer.step(1e-4, model, grads);
                }
            }
        }
        Ok(started.elapsed().as_secs_f64())
    };
    timed(3)?;
    let seconds = timed(steps)?;
    Ok(steps as f64 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_target_is_refused_naming_the_known_ones() {
        let error = run("nope", Some(1), Some(1), &[], false).unwrap_err().to_string();
        for (target, _, _) in TARGETS {
            assert!(error.contains(target), "{error}");
        }
    }
}
