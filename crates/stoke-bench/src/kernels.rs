//! `cargo xtask bench kernels`: where a training step's time goes. The single operations
//! Stoke's steps are made of (matmul, elementwise activations, softmax, attention, a linear
//! layer's forward and backward) and the phases of a small MLP's Adam step (forward, backward,
//! optimizer), each as microseconds per call, against the same calls in PyTorch
//! (`bench/kernels_torch.py`, same shapes, same case names). These are the minimal
//! reproductions behind docs/benchmarks.md's account of the gap.

use std::time::{Duration, Instant};

use burn::nn::{LayerNormConfig, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{gelu, sigmoid, silu, softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use serde_json::Value;
use stoke_train::error::{Result, TrainError};

use crate::Options;
use crate::table::{Twin, median, outln, torch_available};

const TWIN: &str = include_str!("../bench/kernels_torch.py");
/// Each case is called until about this long has passed (at least three calls).
const BUDGET: Duration = Duration::from_millis(250);

/// A case's name and its microseconds per call.
type Timing = (String, f64);

/// Runs the benchmark and prints its table.
///
/// # Errors
/// A backend that fails to start; a failing twin.
pub fn run(options: &Options) -> Result<()> {
    let twin =
        if options.torch && torch_available() { Some(Twin::new("kernels", TWIN)?) } else { None };
    let devices: Vec<_> =
        options.backends.iter().map(|b| b.device().map(|d| (*b, d))).collect::<Result<_>>()?;
    // Per side: per case, one timing per repeat.
    let mut sides: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for repeat in 0..options.repeats {
        eprintln!("repeat {}/{}", repeat + 1, options.repeats);
        let mut column = 0;
        for (backend, device) in &devices {
            record(&mut sides, &mut names, column, &format!("stoke {backend}"), cases(device)?);
            column += 1;
        }
        if let Some(twin) = &twin {
            for threads in [1, 2] {
                let timings = parse_twin(twin.json(&[], threads)?)?;
                let side = format!("pytorch {threads}t");
                record(&mut sides, &mut names, column, &side, timings);
                column += 1;
            }
        }
    }
    print(&names, &sides);
    if twin.is_none() {
        outln!("(PyTorch twin skipped: python3 with torch not found, or --no-torch)");
    }
    Ok(())
}

/// Appends one repeat's `timings` to the `column`-th side.
fn record(
    sides: &mut Vec<(String, Vec<Vec<f64>>)>,
    names: &mut Vec<String>,
    column: usize,
    side: &str,
    timings: Vec<Timing>,
) {
    if sides.len() == column {
        sides.push((side.to_string(), Vec::new()));
    }
    for (name, micros) in timings {
        let i = match names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        let cells = &mut sides[column].1;
        if cells.len() <= i {
            cells.resize(i + 1, Vec::new());
        }
        cells[i].push(micros);
    }
}

fn print(names: &[String], sides: &[(String, Vec<Vec<f64>>)]) {
    outln!(
        "kernels: median microseconds per call (lower is faster); speed = PyTorch 1t time / Stoke time"
    );
    let mut header = format!("{:<40}", "case");
    for (side, _) in sides {
        header.push_str(&format!(" {side:>14}"));
    }
    let stoke_sides: Vec<&String> =
        sides.iter().map(|(s, _)| s).filter(|s| s.starts_with("stoke")).collect();
    let torch_1 = sides.iter().position(|(s, _)| s == "pytorch 1t");
    if torch_1.is_some() {
        for side in &stoke_sides {
            header.push_str(&format!(" {:>14}", format!("speed {}", &side[6..])));
        }
    }
    outln!("{header}");
    let cell = |side: &(String, Vec<Vec<f64>>), i: usize| side.1.get(i).map(|v| median(v));
    for (i, name) in names.iter().enumerate() {
        let mut line = format!("{name:<40}");
        for side in sides {
            match cell(side, i) {
                Some(us) => line.push_str(&format!(" {us:>14.1}")),
                None => line.push_str(&format!(" {:>14}", "-")),
            }
        }
        if let Some(t) = torch_1 {
            for side in sides.iter().filter(|(s, _)| s.starts_with("stoke")) {
                match (cell(&sides[t], i), cell(side, i)) {
                    (Some(torch), Some(stoke)) => {
                        line.push_str(&format!(" {:>14}", format!("{:.2}x", torch / stoke)))
                    }
                    _ => line.push_str(&format!(" {:>14}", "-")),
                }
            }
        }
        outln!("{line}");
    }
}

fn parse_twin(value: Value) -> Result<Vec<Timing>> {
    let object = value
        .get("micros")
        .and_then(Value::as_object)
        .ok_or_else(|| TrainError::Invalid("the PyTorch twin printed no micros".into()))?;
    Ok(object.iter().filter_map(|(k, v)| v.as_f64().map(|us| (k.clone(), us))).collect())
}

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Microseconds per call of `call`: one warm-up call, then calls until [`BUDGET`] has passed;
/// the last output is read back inside the timed interval (it waits for queued GPU work).
fn per_call<const D: usize>(mut call: impl FnMut() -> Tensor<D>) -> f64 {
    let _ = call().sum().into_data();
    let started = Instant::now();
    let mut calls = 0usize;
    loop {
        let out = call();
        calls += 1;
        if calls >= 3 && started.elapsed() >= BUDGET {
            let _ = out.sum().into_data();
            break;
        }
    }
    started.elapsed().as_secs_f64() * 1e6 / calls as f64
}

/// Every case on `device`, in the order the twin prints them.
fn cases(device: &Device) -> Result<Vec<Timing>> {
    let mut out: Vec<Timing> = Vec::new();
    let mut case = |name: &str, micros: f64| out.push((name.to_string(), micros));
    for (m, k, n) in [(256, 128, 128), (1024, 512, 512)] {
        let (a, b) = (normal([m, k], device), normal([k, n], device));
        case(&format!("matmul {m}x{k} @ {k}x{n}"), per_call(|| a.clone().matmul(b.clone())));
    }
    let x = normal([256, 128], device);
    let y = normal([256, 128], device);
    case("add [256, 128]", per_call(|| x.clone() + y.clone()));
    let bias = normal([1, 128], device);
    case("add bias [256, 128] + [1, 128]", per_call(|| x.clone() + bias.clone()));
    case("mul [256, 128]", per_call(|| x.clone() * y.clone()));
    case("exp [256, 128]", per_call(|| x.clone().exp()));
    case("sigmoid [256, 128]", per_call(|| sigmoid(x.clone())));
    case("silu [256, 128]", per_call(|| silu(x.clone())));
    let wide = normal([2048, 384], device);
    case("gelu [2048, 384]", per_call(|| gelu(wide.clone())));
    let tokens = normal([2048, 96], device);
    let norm = LayerNormConfig::new(96).init(device);
    case("layer_norm [2048, 96]", per_call(|| norm.forward(tokens.clone())));
    let one = normal([1], device);
    case("add [1] (per-op cost)", per_call(|| one.clone() + one.clone()));
    let logits = normal([4096, 1000], device);
    case("softmax [4096, 1000]", per_call(|| softmax(logits.clone(), 1)));
    let [q, k, v] = [0, 1, 2].map(|_| normal([64, 4, 64, 32], device));
    let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: false };
    case(
        "attention fwd [64, 4, 64, 32]",
        per_call(|| attention(q.clone(), k.clone(), v.clone(), None, None, options)),
    );

    let ad = device.clone().autodiff();
    let x = normal([256, 128], &ad).require_grad();
    case(
        "silu fwd+bwd [256, 128]",
        per_call(|| {
            let grads = silu(x.clone()).sum().backward();
            x.grad(&grads).expect("x requires its gradient")
        }),
    );
    let linear = LinearConfig::new(128, 128).init(&ad);
    case(
        "linear+silu fwd+bwd 256x128x128",
        per_call(|| {
            let grads = silu(linear.forward(x.clone())).sum().backward();
            linear.weight.val().grad(&grads).expect("the weight requires its gradient")
        }),
    );
    let [q, k, v] = [0, 1, 2].map(|_| normal([64, 4, 64, 32], &ad).require_grad());
    case(
        "attention fwd+bwd [64, 4, 64, 32]",
        per_call(|| {
            let out = attention(q.clone(), k.clone(), v.clone(), None, None, options);
            let grads = out.sum().backward();
            q.grad(&grads).expect("q requires its gradient")
        }),
    );
    for (name, micros) in mlp_phases(&ad)? {
        case(&name, micros);
    }
    Ok(out)
}

/// The flow-2d network's shape without its embedding: Linear 18-128-128-128-2 with SiLU,
/// batch 256, MSE to a fixed target, Adam (lr 2e-3, eps 1e-8).
#[derive(burn::module::Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn forward(&self, mut h: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = silu(h);
            }
        }
        h
    }
}

/// The three phases of the MLP's training step, each in microseconds per step.
fn mlp_phases(device: &Device) -> Result<Vec<Timing>> {
    let widths = [18, 128, 128, 128, 2];
    let layers = widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
    let mut model = Mlp { layers };
    let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let (x, target) = (normal([256, 18], device), normal([256, 2], device));
    let mut step = |model: Mlp, clocks: &mut [Duration; 3]| {
        let t0 = Instant::now();
        let loss = (model.forward(x.clone()) - target.clone()).powi_scalar(2).mean();
        let t1 = Instant::now();
        let grads = loss.backward();
        let t2 = Instant::now();
        let grads = GradientsParams::from_grads(grads, &model);
        let model = optimizer.step(2e-3, model, grads);
        let t3 = Instant::now();
        for (clock, (a, b)) in clocks.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3)]) {
            *clock += b - a;
        }
        model
    };
    let mut clocks = [Duration::ZERO; 3];
    for _ in 0..5 {
        model = step(model, &mut clocks);
    }
    clocks = [Duration::ZERO; 3];
    let started = Instant::now();
    let mut steps = 0usize;
    while steps < 3 || started.elapsed() < 2 * BUDGET {
        model = step(model, &mut clocks);
        steps += 1;
    }
    let _ = model.layers[0].weight.val().sum().into_data();
    let names = ["mlp step: forward+loss", "mlp step: backward", "mlp step: adam"];
    Ok(names
        .iter()
        .zip(clocks)
        .map(|(name, clock)| (name.to_string(), clock.as_secs_f64() * 1e6 / steps as f64))
        .collect())
}
