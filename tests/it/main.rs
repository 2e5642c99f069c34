//! Cross-crate integration tests, one binary: the trainer end to end through its command line
//! at toy sizes (run directories, exact resume, bad input), and the tidy checks.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use stoke_train::cli;

mod contrastive;
mod digits;
mod discrete;
mod flow;
mod recipes;
mod tidy;

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stoke-it-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Burn seeds a device's generator per process, so two trainings initialising networks at
/// once in one test binary would interleave draws; runs take turns.
pub static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `stoke train <recipe> <args>` in this process.
pub fn train(recipe: &str, args: &[&str]) -> Result<(), String> {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["train".to_string(), recipe.to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    cli::main(&all).map_err(|e| e.to_string())
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The `loss` of every record of `dir/metrics.jsonl`.
pub fn losses(dir: &Path) -> Vec<f64> {
    fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["loss"].as_f64().unwrap())
        .collect()
}
