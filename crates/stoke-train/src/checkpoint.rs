//! Atomic checkpoints: each is a folder `checkpoints/step-NNNNNNNN/` holding the model
//! (burnpack, which keeps parameter ids so the optimizer state lines up), the optimizer
//! state and the loop state. It is written as `.partial-...` and renamed when complete, so
//! a killed run resumes from the last complete one.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde_json::Value;

use crate::error::{Result, TrainError, io_error};
use crate::run_dir::{RunDir, write_atomic};

const MODEL: &str = "model.bpk";
const OPTIMIZER: &str = "optimizer.bin";
const STATE: &str = "state.json";

fn step_dir(run: &RunDir, step: usize) -> PathBuf {
    run.checkpoints().join(format!("step-{step:08}"))
}

/// Saves a checkpoint at `step` and keeps the newest `keep` of them.
///
/// # Errors
/// I/O or serialisation failure (the previous checkpoints stay intact).
pub fn save<M: Module + ModuleSnapshot>(
    run: &RunDir,
    step: usize,
    model: &M,
    optimizer: &ModuleOptimizer,
    state: &Value,
    keep: usize,
) -> Result<()> {
    let partial = run.checkpoints().join(format!(".partial-step-{step:08}"));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(io_error(&partial))?;
    }
    fs::create_dir_all(&partial).map_err(io_error(&partial))?;
    let mut store = BurnpackStore::from_file(partial.join(MODEL)).overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| TrainError::Checkpoint(format!("saving the model: {e:?}")))?;
    optimizer
        .save(partial.join(OPTIMIZER))
        .map_err(|e| TrainError::Checkpoint(format!("saving the optimizer: {e:?}")))?;
    write_atomic(&partial.join(STATE), state.to_string().as_bytes())?;
    let done = step_dir(run, step);
    if done.exists() {
        fs::remove_dir_all(&done).map_err(io_error(&done))?;
    }
    fs::rename(&partial, &done).map_err(io_error(&done))?;
    prune(run, keep)
}

fn complete_checkpoints(run: &RunDir) -> Result<Vec<(usize, PathBuf)>> {
    let dir = run.checkpoints();
    let mut found: Vec<(usize, PathBuf)> = fs::read_dir(&dir)
        .map_err(io_error(&dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, e.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

fn prune(run: &RunDir, keep: usize) -> Result<()> {
    let found = complete_checkpoints(run)?;
    for (_, path) in found.iter().take(found.len().saturating_sub(keep.max(1))) {
        fs::remove_dir_all(path).map_err(io_error(path))?;
    }
    Ok(())
}

/// The newest complete checkpoint, if any.
///
/// # Errors
/// The checkpoints folder cannot be read.
pub fn latest(run: &RunDir) -> Result<Option<(usize, PathBuf)>> {
    Ok(complete_checkpoints(run)?.pop())
}

/// Where training starts: the latest complete checkpoint loaded into the fresh `model` and
/// `optimizer` (metrics after it dropped, so a resumed run rewrites them), or the fresh pair
/// at step 0. Returns `(model, optimizer, start step, training seconds before it)`.
///
/// # Errors
/// As [`load`]; I/O on the metrics file.
pub fn resume_latest<M: Module + ModuleSnapshot>(
    run: &RunDir,
    model: M,
    optimizer: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, usize, f64)> {
    let Some((step, dir)) = latest(run)? else {
        return Ok((model, optimizer, 0, 0.0));
    };
    let (model, optimizer, state) = load(&dir, model, optimizer)?;
    run.truncate_metrics_after(step)?;
    eprintln!("resuming {} from step {step}", run.path().display());
    Ok((model, optimizer, step, state["train_seconds"].as_f64().unwrap_or(0.0)))
}

/// Loads a checkpoint into a freshly initialised model and optimizer.
///
/// # Errors
/// Missing or corrupt files, or a model of another shape.
pub fn load<M: Module + ModuleSnapshot>(
    dir: &Path,
    mut model: M,
    optimizer: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, Value)> {
    let mut store = BurnpackStore::from_file(dir.join(MODEL));
    model
        .load_from(&mut store)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e:?}", dir.join(MODEL).display())))?;
    let path = dir.join(OPTIMIZER);
    let optimizer = optimizer
        .load(&path)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e:?}", path.display())))?;
    let path = dir.join(STATE);
    let text = fs::read_to_string(&path).map_err(io_error(&path))?;
    let state = serde_json::from_str(&text)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", path.display())))?;
    Ok((model, optimizer, state))
}
