//! # stoke-train
//!
//! Stoke's trainer: the recipes, their run directories (config, metrics, atomic
//! checkpoints, pictures), and the `stoke` binary that `cargo xtask` calls.
//!
//! Design decision: this is the only crate that turns Burn backends on (`flex` by default;
//! `ndarray`, `wgpu`, `vulkan`, `libtorch` opt-in), and the only one that touches files and the
//! environment. It is a binary's library, not an API: its modules are crate-private, and
//! [`cli::main`] is the entry point (binary -> `cli` -> `recipes::RECIPES` -> `harness`). Every
//! recipe runs on one harness (`harness::launch`): config resolution, a `Trainer` that owns
//! the model, optimizer, exact resume and checkpoints and hands each step an RNG that is a
//! pure function of `(seed, step)`, and the common `metrics.json` keys (see ARCHITECTURE.md).
//!
//! ```no_run
//! // What `cargo xtask train flow-2d --steps 200 --out runs/demo` runs.
//! let args: Vec<String> =
//!     ["train", "flow-2d", "--steps", "200", "--out", "runs/demo"].map(String::from).into();
//! stoke_train::cli::main(&args)?;
//! # Ok::<(), stoke_train::error::TrainError>(())
//! ```

/// `println!` that ignores a closed pipe (`stoke schedule ... | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod cli;
pub mod device;
pub mod error;
pub(crate) mod eval;
pub(crate) mod harness;
pub(crate) mod recipes;

/// Burn seeds a device's generator per process: unit tests that train take turns, so that
/// two initialisations never interleave their draws.
#[cfg(test)]
pub(crate) static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `stoke train <recipe> <args>` for a unit test, one at a time.
#[cfg(test)]
pub(crate) fn train_for_test(recipe: &str, args: &[&str]) -> error::Result<()> {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["train".to_string(), recipe.to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    cli::main(&all)
}
