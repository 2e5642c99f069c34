//! Atomic checkpoints: each is a folder `checkpoints/step-NNNNNNNN/` holding the model
//! (burnpack, which keeps parameter ids so the optimizer state lines up), the optimizer
//! state and the loop state. It is written into a temporary folder and renamed when
//! complete, so a killed run resumes from the last complete one.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde_json::Value;

use super::run_dir::{RunDir, write_atomic};
use crate::error::{Result, TrainError, io_error};

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
    let dir = run.checkpoints();
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let partial =
        tempfile::Builder::new().prefix(".partial-").tempdir_in(&dir).map_err(io_error(&dir))?;
    let mut store = BurnpackStore::from_file(partial.path().join(MODEL)).overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| TrainError::Checkpoint(format!("saving the model: {e:?}")))?;
    optimizer
        .save(partial.path().join(OPTIMIZER))
        .map_err(|e| TrainError::Checkpoint(format!("saving the optimizer: {e:?}")))?;
    write_atomic(&partial.path().join(STATE), state.to_string().as_bytes())?;
    let done = step_dir(run, step);
    if done.exists() {
        fs::remove_dir_all(&done).map_err(io_error(&done))?;
    }
    let partial = partial.keep();
    fs::rename(&partial, &done).map_err(io_error(&done))?;
    prune(run, keep)
}

fn entries(run: &RunDir) -> Result<Vec<(String, PathBuf)>> {
    let dir = run.checkpoints();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    Ok(fs::read_dir(&dir)
        .map_err(io_error(&dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect())
}

fn complete_checkpoints(run: &RunDir) -> Result<Vec<(usize, PathBuf)>> {
    let mut found: Vec<(usize, PathBuf)> = entries(run)?
        .into_iter()
        .filter_map(|(name, path)| Some((name.strip_prefix("step-")?.parse().ok()?, path)))
        .collect();
    found.sort();
    Ok(found)
}

/// Keeps the newest `keep` checkpoints and removes folders a killed save left half-written.
fn prune(run: &RunDir, keep: usize) -> Result<()> {
    for (name, path) in entries(run)? {
        if name.starts_with(".partial-") {
            fs::remove_dir_all(&path).map_err(io_error(&path))?;
        }
    }
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

/// The checkpoint in `dir` as one message: its step and its files, for ranks that cannot
/// read rank 0's disk.
///
/// # Errors
/// A file cannot be read.
pub fn pack(step: usize, dir: &Path) -> Result<Vec<u8>> {
    let mut bytes = (step as u64).to_le_bytes().to_vec();
    for name in [MODEL, OPTIMIZER, STATE] {
        let path = dir.join(name);
        let file = fs::read(&path).map_err(io_error(&path))?;
        bytes.extend((file.len() as u64).to_le_bytes());
        bytes.extend(file);
    }
    Ok(bytes)
}

/// Writes a [`pack`]ed checkpoint into `run` as a complete checkpoint; returns its step and
/// folder.
///
/// # Errors
/// A truncated message; I/O.
pub fn unpack(run: &RunDir, bytes: &[u8]) -> Result<(usize, PathBuf)> {
    fn take<'b>(rest: &mut &'b [u8], n: usize) -> Result<&'b [u8]> {
        let (head, tail) = rest.split_at_checked(n).ok_or_else(|| {
            TrainError::Checkpoint("the checkpoint rank 0 sent is truncated".into())
        })?;
        *rest = tail;
        Ok(head)
    }
    fn word(rest: &mut &[u8]) -> Result<usize> {
        Ok(u64::from_le_bytes(take(rest, 8)?.try_into().expect("eight bytes")) as usize)
    }
    let mut rest = bytes;
    let step = word(&mut rest)?;
    let dir = step_dir(run, step);
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    for name in [MODEL, OPTIMIZER, STATE] {
        let len = word(&mut rest)?;
        write_atomic(&dir.join(name), take(&mut rest, len)?)?;
    }
    Ok((step, dir))
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
