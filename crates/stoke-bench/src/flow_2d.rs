//! `cargo xtask bench flow-2d`: training steps/s of the flow-2d step (batch 256, moons from
//! N(0, I), stoke-nn's `TimeMlp` 18-128-128-128-2, I-CFM loss, Adam with PyTorch's epsilon at
//! 2e-3) against `bench/flow_2d_torch.py`.

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use stoke_data::toy::{self, Toy};
use stoke_diffusion::flow_matching::{ConditionalFlowMatcher, IndependentCfm, cfm_loss};
use stoke_nn::mlp::{TimeMlp, TimeMlpConfig};
use stoke_train::error::Result;

use crate::Options;
use crate::table::{alternate, print_table, timed_steps};

const TWIN: &str = include_str!("../bench/flow_2d_torch.py");
const WARMUP: usize = 20;
const BATCH: usize = 256;
const LEARNING_RATE: f64 = 2e-3;

/// Runs the benchmark and prints its table.
///
/// # Errors
/// A backend that fails to start; a failing twin.
pub fn run(options: &Options) -> Result<()> {
    let steps = options.steps.to_string();
    let (rows, torch) = alternate(
        options,
        Some(("flow2d", TWIN)),
        |device| steps_per_sec(options.steps, device),
        |twin, threads| twin.rate(&["--steps", &steps], threads, "steps_per_sec"),
    )?;
    let title = format!(
        "flow-2d training step (batch {BATCH}, MLP 18-128-128-128-2, Adam): {} steps x {} repeats",
        options.steps, options.repeats
    );
    print_table(&title, "step/s", &rows, torch);
    Ok(())
}

fn points(points: &[[f32; 2]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [points.len(), 2]), device)
}

fn gaussian<R: Rng>(n: usize, rng: &mut R) -> Vec<[f32; 2]> {
    (0..n).map(|_| [StandardNormal.sample(rng), StandardNormal.sample(rng)]).collect()
}

fn steps_per_sec(steps: usize, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    device.seed(0);
    let model = TimeMlpConfig::new().init(&device)?;
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let matcher = IndependentCfm::new(0.0)?;
    let mut rng = StdRng::seed_from_u64(0);
    let step = |model: TimeMlp| -> Result<TimeMlp> {
        let x0 = points(&gaussian(BATCH, &mut rng), &device);
        let x1 = points(&toy::sample(Toy::Moons, BATCH, &mut rng), &device);
        let t: Vec<f64> = (0..BATCH).map(|_| rng.random::<f64>()).collect();
        let path = matcher.sample_location_and_conditional_flow(x0, x1, &t, &mut rng)?;
        let loss = cfm_loss(&model.as_network(), &path, None)?.mean;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok(optimizer.step(LEARNING_RATE, model, grads))
    };
    // Reading an output back waits for any queued GPU work.
    let sync = |model: &TimeMlp| {
        let probe = model.forward(points(&[[0.0, 0.0]], &device), Tensor::zeros([1], &device));
        let _ = probe.into_data();
    };
    timed_steps(model, WARMUP, steps, step, sync)
}
