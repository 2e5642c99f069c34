//! `cargo xtask bench estimators`: Gumbel-softmax forward + backward on `[4096, 1000]`
//! (tau 0.5, soft, fresh device noise each iteration) against
//! `torch.nn.functional.gumbel_softmax` (`bench/gumbel_softmax_torch.py`).

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use stoke_estimators::gumbel::{gumbel_softmax, sample_gumbel_on_device};
use stoke_train::error::Result;

use crate::Options;
use crate::table::{alternate, print_table};

const TWIN: &str = include_str!("../bench/gumbel_softmax_torch.py");
const BATCH: usize = 4096;
const CATEGORIES: usize = 1000;

/// Runs the benchmark and prints its table.
///
/// # Errors
/// A backend that fails to start; a failing twin.
pub fn run(options: &Options) -> Result<()> {
    let iters = options.steps.to_string();
    let (rows, torch) = alternate(
        options,
        Some(("gumbel", TWIN)),
        |device| iters_per_sec(options.steps, device),
        |twin, threads| twin.rate(&["--iters", &iters], threads, "iters_per_sec"),
    )?;
    let title = format!(
        "Gumbel-softmax forward+backward, [{BATCH}, {CATEGORIES}], tau 0.5: {} iterations x {} repeats",
        options.steps, options.repeats
    );
    print_table(&title, "iter/s", &rows, torch);
    Ok(())
}

fn iters_per_sec(iters: usize, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    device.seed(0);
    let logits = Tensor::<2>::random([BATCH, CATEGORIES], Distribution::Normal(0.0, 1.0), &device);
    let weights = Tensor::<2>::random([BATCH, CATEGORIES], Distribution::Normal(0.0, 1.0), &device);
    let step = || -> Result<Option<Tensor<2>>> {
        let leaf = logits.clone().detach().require_grad();
        // Fresh noise each iteration, drawn on the device as PyTorch draws its own.
        let noise = sample_gumbel_on_device(BATCH, CATEGORIES, &device);
        let y = gumbel_softmax(leaf.clone(), noise, 0.5, false)?;
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
