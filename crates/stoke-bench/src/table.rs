//! Medians, the result table, and running the PyTorch twins.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use stoke_train::error::{Result, TrainError, io_error};

/// A table's rows: each side's name and its rate per repeat.
pub type Rows = Vec<(String, Vec<f64>)>;

/// The median of `values`.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Training steps per second: `warmup` untimed calls of `step`, then `steps` timed ones,
/// then `sync` (which must wait for any queued device work) inside the timed interval.
///
/// # Errors
/// The first error of `step`.
pub fn timed_steps<M>(
    mut model: M,
    warmup: usize,
    steps: usize,
    mut step: impl FnMut(M) -> Result<M>,
    sync: impl FnOnce(&M),
) -> Result<f64> {
    for _ in 0..warmup {
        model = step(model)?;
    }
    let started = std::time::Instant::now();
    for _ in 0..steps {
        model = step(model)?;
    }
    sync(&model);
    Ok(steps as f64 / started.elapsed().as_secs_f64())
}

/// `println!` that ignores a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use outln;

/// Prints each side's median, min and max rate and every Stoke / PyTorch ratio of medians.
pub fn print_table(title: &str, unit: &str, rows: &[(String, Vec<f64>)], torch: bool) {
    outln!("{title}");
    outln!("{:<26} {:>14} {:>12} {:>12}", "side", format!("median {unit}"), "min", "max");
    for (name, values) in rows {
        let (min, max) =
            values.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        outln!("{name:<26} {:>14.2} {min:>12.2} {max:>12.2}", median(values));
    }
    if !torch {
        outln!("(PyTorch twin skipped: python3 with torch not found, or --no-torch)");
        return;
    }
    let torch_rows: Vec<&(String, Vec<f64>)> =
        rows.iter().filter(|(n, _)| n.starts_with("pytorch")).collect();
    for (name, values) in rows.iter().filter(|(n, _)| n.starts_with("stoke")) {
        for (torch_name, torch_values) in &torch_rows {
            outln!("ratio {name} / {torch_name}: {:.2}x", median(values) / median(torch_values));
        }
    }
}

/// Times Stoke on every backend of `options` (`stoke(device)` returns one repeat's rate) and,
/// when `twin` is given and torch is found, the twin at 1 and 2 threads (`torch(twin,
/// threads)`), alternating sides each repeat; returns the rows of [`print_table`] and whether
/// the twin ran.
///
/// # Errors
/// A backend that fails to start; either side's error.
pub fn alternate(
    options: &crate::Options,
    twin: Option<(&str, &str)>,
    mut stoke: impl FnMut(&burn::tensor::Device) -> Result<f64>,
    mut torch: impl FnMut(&Twin, usize) -> Result<f64>,
) -> Result<(Rows, bool)> {
    let twin = match twin {
        Some((name, source)) if options.torch && torch_available() => {
            Some(Twin::new(name, source)?)
        }
        _ => None,
    };
    let devices: Vec<_> =
        options.backends.iter().map(|b| b.device().map(|d| (*b, d))).collect::<Result<_>>()?;
    let mut rows: Rows = devices.iter().map(|(b, _)| (format!("stoke {b}"), Vec::new())).collect();
    if twin.is_some() {
        rows.push(("pytorch cpu, 1 thread".into(), Vec::new()));
        rows.push(("pytorch cpu, 2 threads".into(), Vec::new()));
    }
    for repeat in 0..options.repeats {
        eprintln!("repeat {}/{}", repeat + 1, options.repeats);
        for (i, (_, device)) in devices.iter().enumerate() {
            rows[i].1.push(stoke(device)?);
        }
        if let Some(twin) = &twin {
            let n = devices.len();
            rows[n].1.push(torch(twin, 1)?);
            rows[n + 1].1.push(torch(twin, 2)?);
        }
    }
    Ok((rows, twin.is_some()))
}

/// The interpreter for the PyTorch twins: `$STOKE_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("STOKE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the interpreter imports torch.
pub fn torch_available() -> bool {
    Command::new(python())
        .args(["-c", "import torch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A twin's script written to a temporary file, removed on drop.
pub struct Twin {
    path: PathBuf,
}

impl Twin {
    /// Writes `source` as `name`.
    ///
    /// # Errors
    /// I/O.
    pub fn new(name: &str, source: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("stoke-{name}-{}.py", std::process::id()));
        std::fs::write(&path, source).map_err(io_error(&path))?;
        Ok(Self { path })
    }

    /// Runs the twin with `args` at `threads` threads and parses its JSON line.
    ///
    /// # Errors
    /// The twin fails or prints no JSON.
    pub fn json(&self, args: &[&str], threads: usize) -> Result<Value> {
        run_json(&self.path, args, threads)
    }

    /// Runs the twin and reads `key` from its JSON line.
    ///
    /// # Errors
    /// As [`Twin::json`]; the key is missing.
    pub fn rate(&self, args: &[&str], threads: usize, key: &str) -> Result<f64> {
        self.json(args, threads)?[key]
            .as_f64()
            .ok_or_else(|| TrainError::Invalid(format!("the PyTorch twin printed no {key}")))
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn run_json(script: &Path, args: &[&str], threads: usize) -> Result<Value> {
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .args(["--threads", &threads.to_string()])
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .map_err(io_error("python3"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).map_err(|_| {
        TrainError::Invalid(format!(
            "the PyTorch twin failed: {}",
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("no output")
        ))
    })
}
