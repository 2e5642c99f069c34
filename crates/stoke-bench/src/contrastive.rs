//! `cargo xtask bench contrastive`:
//!
//! 1. Peak memory of SigLIP forward + backward at `B = 8192`, `D = 256`, plain against
//!    chunked (blocks of 512 texts): the extra heap bytes live at the peak beyond the
//!    inputs, measured by a counting allocator (CPU backends only).
//! 2. CLIP and SigLIP loss forward + backward at `B = 1024`, `D = 256` against open_clip's
//!    `ClipLoss` and `SigLipLoss` (`bench/contrastive_torch.py --what loss`).
//! 3. One Adam step of a ViT classifier of Fashion-MNIST's shape (28x28, patch 7, width 64,
//!    2 blocks, 4 heads, mean pooling, batch 128) against the same ViT in PyTorch
//!    (`--what vit`).

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use stoke_contrastive::l2_normalize;
use stoke_contrastive::loss::{ContrastiveLossConfig, SiglipLossConfig};
use stoke_nn::{Vit, VitConfig, VitPooling};
use stoke_train::device::Backend;
use stoke_train::error::Result;

use crate::Options;
use crate::peak;
use crate::table::{alternate, outln, print_table, timed_steps};

const TWIN: &str = include_str!("../bench/contrastive_torch.py");
const MEMORY_BATCH: usize = 8192;
const LOSS_BATCH: usize = 1024;
const DIM: usize = 256;
const CHUNK: usize = 512;
const VIT_BATCH: usize = 128;

/// Runs the three benchmarks and prints their tables.
///
/// # Errors
/// A backend that fails to start; a failing twin.
pub fn run(options: &Options) -> Result<()> {
    for backend in options.backends.iter().filter(|_| !options.step_only) {
        if matches!(backend, Backend::Flex | Backend::Ndarray) {
            memory(&backend.device()?)?;
        }
    }
    let losses =
        [("clip", ContrastiveLossConfig::clip()), ("siglip", ContrastiveLossConfig::siglip())];
    for (name, loss) in losses.into_iter().filter(|_| !options.step_only) {
        let iters = options.steps.to_string();
        let batch = LOSS_BATCH.to_string();
        let (rows, torch) = alternate(
            options,
            Some(("contrastive", TWIN)),
            |device| loss_rate(&loss, options.steps, device),
            |twin, threads| {
                let args = ["--what", "loss", "--loss", name, "--batch", &batch, "--iters", &iters];
                twin.rate(&args, threads, "iters_per_sec")
            },
        )?;
        let title = format!(
            "{name} loss forward+backward, [{LOSS_BATCH}, {DIM}]: {} iterations x {} repeats",
            options.steps, options.repeats
        );
        print_table(&title, "iter/s", &rows, torch);
    }
    let iters = options.steps.to_string();
    let batch = VIT_BATCH.to_string();
    let (rows, torch) = alternate(
        options,
        Some(("contrastive", TWIN)),
        |device| vit_rate(options.steps, device),
        |twin, threads| {
            twin.rate(
                &["--what", "vit", "--batch", &batch, "--iters", &iters],
                threads,
                "iters_per_sec",
            )
        },
    )?;
    let title = format!(
        "ViT classifier Adam step (28x28, patch 7, width 64, 2 blocks, batch {VIT_BATCH}): {} \
         steps x {} repeats",
        options.steps, options.repeats
    );
    print_table(&title, "step/s", &rows, torch);
    for backend in &options.backends {
        let [forward, backward, step] = vit_phases(options.steps, &backend.device()?)?;
        outln!(
            "ViT step phases, stoke {backend} (medians of {} steps): forward {forward:.1} ms, \
             backward {backward:.1} ms, optimizer {step:.1} ms",
            options.steps
        );
    }
    if options.torch && crate::table::torch_available() {
        let twin = crate::table::Twin::new("contrastive", TWIN)?;
        let args = ["--what", "vit-phases", "--batch", &batch, "--iters", &iters];
        let phases = twin.json(&args, 1)?;
        outln!(
            "ViT step phases, pytorch cpu 1 thread: forward {:.1} ms, backward {:.1} ms, \
             optimizer {:.1} ms",
            phases["forward_ms"].as_f64().unwrap_or(f64::NAN),
            phases["backward_ms"].as_f64().unwrap_or(f64::NAN),
            phases["optimizer_ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Medians over `steps` of the ViT step's forward, backward and optimizer phases (ms),
/// each waited for by reading one value back.
fn vit_phases(steps: usize, device: &Device) -> Result<[f64; 3]> {
    let device = device.clone().autodiff();
    device.seed(0);
    let vit = VitConfig::new(1, 28, 7, 64, 2, 4).with_pooling(VitPooling::Mean).init(&device)?;
    let mut model = Classifier { head: LinearConfig::new(64, 10).init(&device), vit };
    let images = Tensor::<4>::random([VIT_BATCH, 1, 28, 28], Distribution::Default, &device);
    let labels: Vec<i64> = (0..VIT_BATCH as i64).map(|i| i % 10).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [VIT_BATCH]), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optimizer = AdamConfig::new().init();
    let mut phases: [Vec<f64>; 3] = Default::default();
    for i in 0..steps + 3 {
        let started = std::time::Instant::now();
        let loss = loss_fn
            .forward(model.head.forward(model.vit.forward(images.clone(), None)?), labels.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let forward = started.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward = started.elapsed().as_secs_f64();
        model = optimizer.step(1e-3, model, grads);
        let _ = model.head.weight.val().slice([0..1, 0..1]).into_scalar::<f32>();
        let total = started.elapsed().as_secs_f64();
        if i >= 3 {
            phases[0].push(forward * 1e3);
            phases[1].push((backward - forward) * 1e3);
            phases[2].push((total - backward) * 1e3);
        }
    }
    Ok(phases.map(|p| crate::table::median(&p)))
}

/// Unit rows on `device`.
fn unit_rows(batch: usize, device: &Device) -> Tensor<2> {
    l2_normalize(Tensor::random([batch, DIM], Distribution::Normal(0.0, 1.0), device))
}

/// Extra peak heap bytes of one SigLIP forward + backward, plain and chunked.
fn memory(device: &Device) -> Result<()> {
    let device = device.clone().autodiff();
    let measure = |chunk: Option<usize>| -> Result<(usize, f32)> {
        // The same inputs for both sides.
        device.seed(0);
        let loss = SiglipLossConfig { chunk, ..SiglipLossConfig::default() }.init(&device)?;
        let x = unit_rows(MEMORY_BATCH, &device).detach().require_grad();
        let y = unit_rows(MEMORY_BATCH, &device).detach().require_grad();
        let base = peak::reset();
        let value = loss.forward(x.clone(), y.clone())?;
        let grads = value.clone().backward();
        let grad =
            x.grad(&grads).map(|g| g.slice([0..1, 0..1]).into_scalar::<f32>()).unwrap_or(f32::NAN);
        let extra = peak::peak() - base;
        drop(grads);
        Ok((extra, value.into_scalar::<f32>() + 0.0 * grad))
    };
    let (plain, plain_value) = measure(None)?;
    let (chunked, chunked_value) = measure(Some(CHUNK))?;
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    outln!(
        "SigLIP forward+backward, B = {MEMORY_BATCH}, D = {DIM}, extra peak heap beyond the inputs:\n  \
         plain    {:>9.1} MiB (loss {plain_value:.6})\n  chunked  {:>9.1} MiB (chunk {CHUNK}, loss \
         {chunked_value:.6})\n  chunked / plain = {:.4} (B x B f32 alone is {:.0} MiB)\n",
        mib(plain),
        mib(chunked),
        chunked as f64 / plain as f64,
        mib(MEMORY_BATCH * MEMORY_BATCH * 4)
    );
    Ok(())
}

/// Loss forward + backward per second.
fn loss_rate(config: &ContrastiveLossConfig, iters: usize, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    device.seed(0);
    let loss = config.init(&device)?;
    let (x, y) = (unit_rows(LOSS_BATCH, &device), unit_rows(LOSS_BATCH, &device));
    let step = |()| -> Result<()> {
        let (x, y) = (x.clone().detach().require_grad(), y.clone().detach().require_grad());
        let grads = loss.forward(x.clone(), y)?.backward();
        // Reading one gradient value back waits for the queued work.
        let _ = x.grad(&grads).map(|g| g.slice([0..1, 0..1]).into_scalar::<f32>());
        Ok(())
    };
    timed_steps((), 3, iters, step, |_| {})
}

/// A ViT with a linear head.
#[derive(Module, Debug)]
struct Classifier {
    vit: Vit,
    head: Linear,
}

/// ViT classifier Adam steps per second.
fn vit_rate(steps: usize, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    device.seed(0);
    let vit = VitConfig::new(1, 28, 7, 64, 2, 4).with_pooling(VitPooling::Mean).init(&device)?;
    let model = Classifier { head: LinearConfig::new(64, 10).init(&device), vit };
    let images = Tensor::<4>::random([VIT_BATCH, 1, 28, 28], Distribution::Default, &device);
    let labels: Vec<i64> = (0..VIT_BATCH as i64).map(|i| i % 10).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [VIT_BATCH]), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optimizer = AdamConfig::new().init();
    let step = |model: Classifier| -> Result<Classifier> {
        let logits = model.head.forward(model.vit.forward(images.clone(), None)?);
        let grads = loss_fn.forward(logits, labels.clone()).backward();
        let grads = GradientsParams::from_grads(grads, &model);
        Ok(optimizer.step(1e-3, model, grads))
    };
    let sync = |m: &Classifier| {
        let _ = m.head.weight.val().slice([0..1, 0..1]).into_scalar::<f32>();
    };
    timed_steps(model, 3, steps, step, sync)
}
