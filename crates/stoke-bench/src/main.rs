//! `cargo xtask bench <target>`: Stoke against a PyTorch twin of the same computation
//! (`bench/*.py`, embedded, run with `python3` or `$STOKE_PYTHON` when it imports torch) on
//! the same machine in the same command, PyTorch at 1 and 2 threads. Runs alternate between
//! the sides and the medians are compared, because timings on small shared machines swing
//! between runs.
//!
//! - `flow-2d`: the flow-2d training step (stoke-nn's `TimeMlp`, stoke-diffusion's I-CFM
//!   loss, Adam) against `bench/flow_2d_torch.py`.
//! - `estimators`: Gumbel-softmax forward + backward against `bench/gumbel_softmax_torch.py`.
//! - `digits-nets`: the digits DiT against a convolution stack (no twin).
//! - `diffusion`: sampler overhead without the network, and the digits DiT's DDPM step
//!   against `bench/dit_digits_torch.py`.
//!
//! - `contrastive`: SigLIP's peak memory plain vs chunked (measured by a counting global
//!   allocator), CLIP and SigLIP losses against open_clip's, and a ViT training step against
//!   the same ViT in PyTorch (`bench/contrastive_torch.py`).
//! - `discrete`: MDLM's ancestral sampler with and without its cached predictor, BD3-LM's
//!   block sampler with and without its key-value cache, and the MDLM training step against
//!   the same text transformer in PyTorch (`bench/discrete_torch.py`).
//! - `distributed`: data-parallel training of the digits DiT on 1, 2 (4) MPI ranks against
//!   PyTorch DDP with gloo (`bench/dit_digits_torch.py --ranks N`).
//!
//! - `kernels`: the single operations and MLP step phases that a training step's time goes
//!   to, microseconds per call, against the same calls in PyTorch (`bench/kernels_torch.py`).
//!
//! `--step-only` runs only the training-step part of `diffusion`, `discrete` and
//! `contrastive` (the part the performance work compares across builds).
//!
//! Built on the libraries and `stoke-nn` (and the trainer's device choice), never on recipes.

mod blip;
mod contrastive;
mod diffusion;
mod digits_nets;
mod discrete;
mod distributed;
mod estimators;
mod flow_2d;
mod kernels;
mod peak;
mod table;

/// Every allocation is counted, so the memory benchmarks measure peaks instead of estimating them.
#[global_allocator]
static ALLOCATOR: peak::Counting = peak::Counting;

use lexopt::Arg::{Long, Value};
use stoke_train::device::Backend;
use stoke_train::error::{Result, TrainError};

/// The benchmark targets, with their default timed steps and repeats.
const TARGETS: [(&str, usize, usize); 9] = [
    ("flow-2d", 300, 5),
    ("estimators", 300, 5),
    ("digits-nets", 300, 5),
    ("diffusion", 10, 3),
    ("contrastive", 20, 5),
    ("blip", 10, 3),
    ("discrete", 20, 3),
    ("distributed", 40, 3),
    ("kernels", 1, 3),
];

const USAGE: &str = "usage: stoke-bench flow-2d|estimators|digits-nets|diffusion|contrastive|blip|discrete|distributed|kernels \
                     [--steps N] [--repeats R] [--device flex|ndarray|wgpu|vulkan|libtorch] [--no-torch] \
                     [--step-only]";

/// What a benchmark run was asked for.
pub struct Options {
    /// Timed steps (or iterations) per repeat.
    pub steps: usize,
    /// Repeats, alternating between the sides.
    pub repeats: usize,
    /// The Burn backends to time.
    pub backends: Vec<Backend>,
    /// Whether to run the PyTorch twin (when python3 with torch is found).
    pub torch: bool,
    /// Only the training-step part of `diffusion`, `discrete` and `contrastive`.
    pub step_only: bool,
}

fn invalid(e: lexopt::Error) -> TrainError {
    TrainError::Invalid(e.to_string())
}

fn count(name: &str, value: String) -> Result<usize> {
    match value.parse::<usize>() {
        Ok(0) => Err(TrainError::Invalid(format!("--{name} must be at least 1, got 0"))),
        Ok(n) => Ok(n),
        Err(_) => Err(TrainError::Invalid(format!("--{name}: '{value}' is not a whole number"))),
    }
}

fn parse(raw: Vec<String>) -> Result<(String, Options)> {
    let mut parser = lexopt::Parser::from_args(raw);
    let (mut target, mut steps, mut repeats, mut backends, mut torch, mut step_only) =
        (None, None, None, Backend::compiled_backends(), true, false);
    let text =
        |v: std::ffi::OsString| v.into_string().map_err(|v| TrainError::Invalid(format!("{v:?}")));
    while let Some(arg) = parser.next().map_err(invalid)? {
        match arg {
            Value(v) if target.is_none() => target = Some(text(v)?),
            Long("steps") => steps = Some(count("steps", text(parser.value().map_err(invalid)?)?)?),
            Long("repeats") => {
                repeats = Some(count("repeats", text(parser.value().map_err(invalid)?)?)?)
            }
            Long("device") => backends = vec![text(parser.value().map_err(invalid)?)?.parse()?],
            Long("no-torch") => torch = false,
            Long("step-only") => step_only = true,
            other => return Err(invalid(other.unexpected())),
        }
    }
    let target = target.unwrap_or_else(|| TARGETS[0].0.to_string());
    let Some(&(_, default_steps, default_repeats)) = TARGETS.iter().find(|t| t.0 == target) else {
        let known: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
        return Err(TrainError::Invalid(format!(
            "unknown benchmark '{target}' (known: {})",
            known.join(", ")
        )));
    };
    let options = Options {
        steps: steps.unwrap_or(default_steps),
        repeats: repeats.unwrap_or(default_repeats),
        backends,
        torch,
        step_only,
    };
    Ok((target, options))
}

fn run(raw: Vec<String>) -> Result<()> {
    let (target, options) = parse(raw)?;
    match target.as_str() {
        "estimators" => estimators::run(&options),
        "digits-nets" => digits_nets::run(&options),
        "diffusion" => diffusion::run(&options),
        "contrastive" => contrastive::run(&options),
        "blip" => blip::run(&options),
        "discrete" => discrete::run(&options),
        "distributed" => distributed::run(&options),
        "kernels" => kernels::run(&options),
        _ => flow_2d::run(&options),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--help" || a == "help") {
        println!("{USAGE}");
        return;
    }
    if let Err(e) = run(args) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
