//! The one small training loop every recipe shares: step, log, checkpoint, report.
//!
//! A progress bar with loss and steps/s on a terminal; a plain line per logging step when
//! not on one (CI logs, pipes).

use std::io::{IsTerminal, Write};
use std::time::Instant;

use serde_json::json;

use crate::error::{Result, TrainError};
use crate::run_dir::RunDir;

/// How often the loop logs and checkpoints.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The step to start from (0, or the resumed checkpoint's step).
    pub start: usize,
    /// The total number of steps.
    pub total: usize,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

/// What a recipe's training state does at each step of the loop.
pub trait Steps {
    /// Runs optimisation step `step` (0-based) and returns its loss.
    ///
    /// # Errors
    /// Whatever stops the step.
    fn step(&mut self, step: usize) -> Result<f64>;

    /// Saves a checkpoint after `done` steps.
    ///
    /// # Errors
    /// I/O failure.
    fn checkpoint(&mut self, done: usize) -> Result<()>;
}

/// Runs `steps.step(i)` for `i in start..total`. Every `log_every` steps the mean loss goes
/// to `metrics.jsonl`; every `checkpoint_every` steps, and at the end,
/// `steps.checkpoint(i + 1)` is called.
///
/// # Errors
/// A step's error, or [`TrainError::Diverged`] on a non-finite loss (no checkpoint is
/// written after it, so the last good one is kept).
pub fn run(run_dir: &RunDir, schedule: Schedule, steps: &mut impl Steps) -> Result<()> {
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut window_start = Instant::now();
    let (mut window_loss, mut window_steps) = (0.0, 0usize);
    for i in schedule.start..schedule.total {
        let loss = steps.step(i)?;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { step: i, loss });
        }
        window_loss += loss;
        window_steps += 1;
        let done = i + 1;
        if done % schedule.log_every == 0 || done == schedule.total {
            let rate = window_steps as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
            let mean = window_loss / window_steps as f64;
            run_dir.append_metrics(&json!({
                "step": done,
                "loss": mean,
                "steps_per_sec": rate,
                "elapsed_s": started.elapsed().as_secs_f64(),
            }))?;
            report(terminal, done, schedule.total, mean, rate);
            window_start = Instant::now();
            (window_loss, window_steps) = (0.0, 0);
        }
        if done % schedule.checkpoint_every == 0 || done == schedule.total {
            steps.checkpoint(done)?;
        }
    }
    if terminal {
        eprintln!();
    }
    Ok(())
}

fn report(terminal: bool, done: usize, total: usize, loss: f64, rate: f64) {
    if terminal {
        let width = 30;
        let filled = done * width / total.max(1);
        eprint!(
            "\r[{}{}] {done}/{total}  loss {loss:.4}  {rate:.0} steps/s ",
            "#".repeat(filled),
            ".".repeat(width - filled)
        );
        let _ = std::io::stderr().flush();
    } else {
        eprintln!("step {done}/{total}  loss {loss:.5}  {rate:.1} steps/s");
    }
}
