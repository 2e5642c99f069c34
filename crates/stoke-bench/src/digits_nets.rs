//! `cargo xtask bench digits-nets`: one Adam step (forward, backward, update) at batch 128 on
//! 8x8 digits of stoke-nn's conditional DiT (default config) and, as the cost of the UNet
//! alternative, of a plain stack of six 3x3 convolutions at 64 channels (a UNet's 8x8 level
//! without its skips, pooling and conditioning, so a lower bound on a UNet's step).

use std::time::Instant;

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use stoke_nn::dit::DitConfig;
use stoke_train::device::Backend;
use stoke_train::error::Result;

use crate::Options;
use crate::table::print_table;

const BATCH: usize = 128;

/// Runs the benchmark and prints its table.
///
/// # Errors
/// A backend that fails to start.
pub fn run(options: &Options) -> Result<()> {
    let devices: Vec<(Backend, Device)> =
        options.backends.iter().map(|b| b.device().map(|d| (*b, d))).collect::<Result<_>>()?;
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for (backend, _) in &devices {
        rows.push((format!("dit {backend}"), Vec::new()));
        rows.push((format!("conv stack {backend}"), Vec::new()));
    }
    for repeat in 0..options.repeats {
        eprintln!("repeat {}/{}", repeat + 1, options.repeats);
        for (i, (_, device)) in devices.iter().enumerate() {
            rows[2 * i].1.push(steps_per_sec(Net::Dit, options.steps, device)?);
            rows[2 * i + 1].1.push(steps_per_sec(Net::ConvStack, options.steps, device)?);
        }
    }
    let Some((_, device)) = devices.first() else { return Ok(()) };
    let dit_params = DitConfig::new().init(device)?.num_params();
    let conv_params = conv_stack(device).num_params();
    let title = format!(
        "8x8 digits network, Adam step at batch {BATCH}: DiT (default DitConfig, {dit_params} \
         parameters) vs conv stack ({conv_params} parameters); {} steps x {} repeats",
        options.steps, options.repeats
    );
    print_table(&title, "step/s", &rows, false);
    Ok(())
}

#[derive(Clone, Copy)]
enum Net {
    Dit,
    ConvStack,
}

/// Six 3x3 convolutions `1 -> 64 -> ... -> 64 -> 1` at 8x8.
fn conv_stack(device: &Device) -> Vec<Conv2d> {
    let channels = [1, 64, 64, 64, 64, 64, 1];
    channels
        .windows(2)
        .map(|c| {
            Conv2dConfig::new([c[0], c[1]], [3, 3]).with_padding(PaddingConfig2d::Same).init(device)
        })
        .collect()
}

fn steps_per_sec(net: Net, steps: usize, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    device.seed(0);
    let x = Tensor::<2>::random([BATCH, 64], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<2>::random([BATCH, 64], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::random([BATCH], Distribution::Uniform(0.0, 1.0), &device);
    let classes: Vec<i64> = (0..BATCH as i64).map(|i| i % 11).collect();
    let class = Tensor::<1, Int>::from_data(TensorData::new(classes, [BATCH]), &device);
    let mut optimizer = AdamConfig::new().init();
    // Reading the loss back waits for the step's work.
    let mut timed = |n: usize| -> Result<f64> {
        let started = Instant::now();
        match net {
            Net::Dit => {
                let mut model = DitConfig::new().init(&device)?;
                for _ in 0..n {
                    let out = model.forward(x.clone(), t.clone(), class.clone());
                    let loss = (out - target.clone()).powi_scalar(2).mean();
                    let _ = loss.clone().into_scalar::<f32>();
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = optimizer.step(1e-4, model, grads);
                }
            }
            Net::ConvStack => {
                let mut model = conv_stack(&device);
                for _ in 0..n {
                    let mut h = x.clone().reshape([BATCH, 1, 8, 8]);
                    for (i, conv) in model.iter().enumerate() {
                        h = conv.forward(h);
                        if i + 1 < model.len() {
                            h = silu(h);
                        }
                    }
                    let loss = (h.reshape([BATCH, 64]) - target.clone()).powi_scalar(2).mean();
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
