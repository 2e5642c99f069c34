//! # stoke-train
//!
//! Stoke's trainer: the recipes, their run directories (config, metrics, atomic
//! checkpoints, pictures), and the `stoke` binary that `cargo xtask` calls.
//!
//! Design decision: this is the only crate that turns Burn backends on (`flex` by default;
//! `ndarray`, `wgpu`, `vulkan` opt-in), and the only one that touches files and the
//! environment. Recipes share one small loop ([`progress::run`]) instead of burn-train's
//! `Learner`: every recipe here draws fresh data each step from a seeded stream keyed by the
//! step, which makes resume exact without saving RNG state, and keeps the trainer's build
//! free of burn-train's dashboard and dataset stack (see ARCHITECTURE.md).
//!
//! ```no_run
//! use stoke_train::device::Backend;
//! use stoke_train::recipe::{TrainArgs, find};
//!
//! let args = TrainArgs {
//!     backend: Backend::Flex,
//!     out: Some("runs/demo".into()),
//!     config_file: None,
//!     resume: None,
//!     overrides: vec![("steps".into(), "200".into())],
//! };
//! (find("flow-2d")?.run)(&args)?;
//! # Ok::<(), stoke_train::error::TrainError>(())
//! ```

/// `println!` that ignores a closed pipe (`stoke schedule ... | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod device;
pub mod error;
pub mod nn;
pub mod progress;
pub mod recipe;
pub mod run_dir;
pub mod sample_quality;
