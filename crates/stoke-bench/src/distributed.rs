//! `distributed`: data-parallel training of the digits DiT (the `ddpm-digits` recipe, its
//! network as `diffusion`'s table has it) at a fixed global batch on 1, 2 and, where the
//! machine has 4 cores, 4 MPI ranks on this machine, one thread (one core) per rank, so the
//! ideal is N times one rank's steps/s;
//! PyTorch DDP (gloo backend) on the same network, batch and optimizer in the same command
//! as the anchor.
//!
//! Stoke's side is the real trainer under `mpirun` (`$STOKE_MPI_BINARY`, the `stoke` binary
//! built with the `mpi` feature, which `cargo xtask bench distributed` builds); its rate is
//! read from the run's `metrics.jsonl` over the second half of the steps (the first half
//! warms up), and the `exchange_s` it logs splits each step into compute and the gradient
//! average (reading the gradients back, the all-reduce, rebuilding them). PyTorch's split is
//! the same steps under DDP's `no_sync()` (compute only) against synced ones.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use stoke_train::error::{Result, TrainError, io_error};

use crate::Options;
use crate::diffusion::{BATCH, LEARNING_RATE, P_UNCOND, TWIN, dit, twin_args};
use crate::table::{Twin, median, outln, torch_available};

/// One side's timing at one rank count: steps per second and the share of a step spent
/// exchanging gradients.
#[derive(Default, Clone)]
struct Timing {
    rate: Vec<f64>,
    exchange: Vec<f64>,
}

fn binary() -> Result<PathBuf> {
    let path = std::env::var_os("STOKE_MPI_BINARY").map(PathBuf::from).ok_or_else(|| {
        TrainError::Invalid(
            "bench distributed: run it as `cargo xtask bench distributed` (it builds stoke with \
             the `mpi` feature and sets STOKE_MPI_BINARY)"
                .into(),
        )
    })?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(TrainError::Invalid(format!("STOKE_MPI_BINARY={}: no such file", path.display())))
    }
}

/// One Stoke run on `ranks` MPI ranks: (steps/s over the second half, exchange share).
fn stoke(binary: &PathBuf, ranks: usize, threads: usize, steps: usize) -> Result<(f64, f64)> {
    let scratch = tempfile::tempdir().map_err(io_error(std::env::temp_dir()))?;
    let out = scratch.path().join("run");
    let half = (steps / 2).max(1);
    let model = serde_json::to_string(&dit()).unwrap_or_default();
    let classifier = json!({"steps": 1, "width": 8, "log_every": 1}).to_string();
    let output = Command::new("mpirun")
        .args(["--oversubscribe", "--bind-to", "none", "-np", &ranks.to_string()])
        .args(["-x", &format!("RAYON_NUM_THREADS={threads}")])
        .arg(binary)
        .args(["train", "ddpm-digits", "--distributed", "mpi", "--out"])
        .arg(&out)
        .args(["--steps", &(2 * half).to_string(), "--log-every", &half.to_string()])
        .args(["--checkpoint-every", &(2 * half).to_string()])
        .args(["--batch-size", &BATCH.to_string(), "--learning-rate", &LEARNING_RATE.to_string()])
        .args(["--p-uncond", &P_UNCOND.to_string(), "--model", &model])
        .args(["--n-samples", "20", "--fd-draws", "2", "--samplers", r#"["ddim_5"]"#])
        .args(["--classifier", &classifier])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .map_err(io_error("mpirun"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rfind(|l| l.contains("error")).unwrap_or("no output");
        return Err(TrainError::Invalid(format!("mpirun -np {ranks} stoke failed: {last}")));
    }
    let path = out.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    let records: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let [first, second] = records.as_slice() else {
        return Err(TrainError::Invalid(format!("{}: expected two records", path.display())));
    };
    let seconds =
        second["elapsed_s"].as_f64().unwrap_or(0.0) - first["elapsed_s"].as_f64().unwrap_or(0.0);
    let exchange = second["exchange_s"].as_f64().unwrap_or(0.0);
    Ok((half as f64 / seconds.max(1e-9), exchange / seconds.max(1e-9)))
}

/// One PyTorch DDP run: (steps/s, the share of a step that `no_sync()` saves).
fn torch(twin: &Twin, ranks: usize, threads: usize, steps: usize) -> Result<(f64, f64)> {
    let mut args = twin_args(steps);
    args.extend(["--ranks".to_string(), ranks.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let value = twin.json(&args, threads)?;
    let rate = value["steps_per_sec"].as_f64().unwrap_or(f64::NAN);
    let exchange = match value["compute_steps_per_sec"].as_f64() {
        Some(compute) => (1.0 - rate / compute).max(0.0),
        None => 0.0,
    };
    Ok((rate, exchange))
}

/// Runs the table.
///
/// # Errors
/// No MPI binary; a failing run or twin.
pub fn run(options: &Options) -> Result<()> {
    let binary = binary()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let counts: Vec<usize> = [1, 2, 4].into_iter().filter(|&n| n == 1 || n <= cores).collect();
    let twin = if options.torch && torch_available() {
        Some(Twin::new("dit-ddp", TWIN)?)
    } else {
        eprintln!("note: no python3 with torch ($STOKE_PYTHON); Stoke's side only");
        None
    };
    let mut stoke_t = vec![Timing::default(); counts.len()];
    let mut torch_t = vec![Timing::default(); counts.len()];
    for repeat in 0..options.repeats {
        eprintln!("repeat {}/{}", repeat + 1, options.repeats);
        for (i, &ranks) in counts.iter().enumerate() {
            let threads = 1;
            let (rate, exchange) = stoke(&binary, ranks, threads, options.steps)?;
            stoke_t[i].rate.push(rate);
            stoke_t[i].exchange.push(exchange);
            if let Some(twin) = &twin {
                let (rate, exchange) = torch(twin, ranks, threads, options.steps)?;
                torch_t[i].rate.push(rate);
                torch_t[i].exchange.push(exchange);
            }
        }
    }
    outln!(
        "digits DiT, data parallel on this machine ({cores} cores; global batch {BATCH}, Adam; \
         {} steps x {} repeats, medians; one thread per rank)",
        options.steps,
        options.repeats
    );
    outln!(
        "{:>6} {:>14} {:>11} {:>10} {:>15} {:>11} {:>10} {:>14}",
        "ranks",
        "stoke step/s",
        "efficiency",
        "exchange",
        "torch step/s",
        "efficiency",
        "allreduce",
        "stoke / torch"
    );
    let base_s = median(&stoke_t[0].rate);
    let base_t = twin.as_ref().map(|_| median(&torch_t[0].rate));
    for (i, &ranks) in counts.iter().enumerate() {
        let s = median(&stoke_t[i].rate);
        let torch_cols = match base_t {
            Some(base) => {
                let t = median(&torch_t[i].rate);
                format!(
                    "{t:>15.2} {:>10.0}% {:>9.0}% {:>14.2}",
                    100.0 * t / base / ranks as f64,
                    100.0 * median(&torch_t[i].exchange),
                    s / t
                )
            }
            None => String::new(),
        };
        outln!(
            "{ranks:>6} {s:>14.2} {:>10.0}% {:>9.0}% {torch_cols}",
            100.0 * s / base_s / ranks as f64,
            100.0 * median(&stoke_t[i].exchange)
        );
    }
    outln!(
        "(efficiency: steps/s over N times one rank's at the same global batch; exchange / \
         allreduce: the share of a step spent averaging gradients)"
    );
    Ok(())
}
