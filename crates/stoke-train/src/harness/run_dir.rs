//! Run directories: `config.json` before step 0, `metrics.jsonl` per logging step,
//! `metrics.json` at the end, atomic checkpoints, and the recipe's pictures. Every file a
//! reader might see half-done is written through [`write_atomic`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, TrainError, io_error};

/// Writes `bytes` to `path` atomically (`stoke_data::atomic`: a temporary file in the same
/// folder, then a rename), so a killed process leaves either the old file or the new one.
///
/// # Errors
/// I/O failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(stoke_data::atomic::write_bytes(path, bytes)?)
}

/// Writes pretty JSON atomically.
///
/// # Errors
/// Serialisation or I/O failure.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| TrainError::Invalid(format!("cannot serialise {}: {e}", path.display())))?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// A run directory (or a sub-run inside one).
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates a new run directory. `path = None` picks the first free `runs/<recipe>-N`.
    ///
    /// # Errors
    /// `path` exists and is not an empty directory (use `--resume` to continue a run).
    pub fn create(path: Option<&Path>, recipe: &str) -> Result<Self> {
        let root = match path {
            Some(p) => p.to_path_buf(),
            None => (1..)
                .map(|i| PathBuf::from("runs").join(format!("{recipe}-{i}")))
                .find(|p| !p.exists())
                .expect("an unbounded range has a free name"),
        };
        if root.exists() {
            let empty = fs::read_dir(&root).map_err(io_error(&root))?.next().is_none();
            if !root.is_dir() || !empty {
                return Err(TrainError::Invalid(format!(
                    "--out {}: already exists and is not empty (pass --resume {} to continue it)",
                    root.display(),
                    root.display()
                )));
            }
        }
        fs::create_dir_all(root.join("checkpoints")).map_err(io_error(&root))?;
        Ok(Self { root })
    }

    /// A sub-run inside this run (its own `metrics.jsonl` and checkpoints), created if
    /// absent.
    ///
    /// # Errors
    /// I/O failure.
    pub fn child(&self, name: &str) -> Result<Self> {
        let root = self.root.join(name);
        fs::create_dir_all(root.join("checkpoints")).map_err(io_error(&root))?;
        Ok(Self { root })
    }

    /// Opens an existing run for `--resume`.
    ///
    /// # Errors
    /// No `config.json` inside.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.json").is_file() {
            return Err(TrainError::Invalid(format!(
                "--resume {}: not a run directory (no config.json)",
                path.display()
            )));
        }
        Ok(Self { root: path.to_path_buf() })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A file inside the run.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Reads `config.json`.
    ///
    /// # Errors
    /// Unreadable or invalid JSON.
    pub fn read_config(&self) -> Result<Value> {
        let path = self.file("config.json");
        let text = fs::read_to_string(&path).map_err(io_error(&path))?;
        serde_json::from_str(&text)
            .map_err(|e| TrainError::Invalid(format!("{}: {e}", path.display())))
    }

    /// Appends one JSON object as a line of `metrics.jsonl`.
    ///
    /// # Errors
    /// I/O failure.
    pub fn append_metrics(&self, record: &Value) -> Result<()> {
        let path = self.file("metrics.jsonl");
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        writeln!(file, "{record}").map_err(io_error(&path))
    }

    /// Reads `metrics.jsonl` (an absent file is empty).
    ///
    /// # Errors
    /// Unreadable file.
    pub fn read_metrics(&self) -> Result<Vec<Value>> {
        let path = self.file("metrics.jsonl");
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = fs::read_to_string(&path).map_err(io_error(&path))?;
        // A line cut short by a kill is skipped rather than failing the resume.
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// Drops `metrics.jsonl` records after `step`, so a resumed run does not log twice.
    ///
    /// # Errors
    /// I/O failure.
    pub fn truncate_metrics_after(&self, step: usize) -> Result<()> {
        let kept: Vec<String> = self
            .read_metrics()?
            .into_iter()
            .filter(|r| r["step"].as_u64().is_some_and(|s| s as usize <= step))
            .map(|r| r.to_string())
            .collect();
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_atomic(&self.file("metrics.jsonl"), text.as_bytes())
    }

    /// The checkpoints folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// Whether this run or any sub-run holds a complete checkpoint (work worth keeping).
    pub fn has_checkpoints(&self) -> bool {
        fn any(dir: &Path) -> bool {
            let Ok(entries) = fs::read_dir(dir) else { return false };
            entries.flatten().any(|entry| {
                let path = entry.path();
                let is_checkpoint = dir.ends_with("checkpoints")
                    && entry.file_name().to_string_lossy().starts_with("step-");
                path.is_dir() && (is_checkpoint || any(&path))
            })
        }
        any(&self.root)
    }
}

/// Removes a run directory that this invocation created, if the run fails (an error or a
/// panic unwinding through it) before it wrote any checkpoint: a failed start leaves nothing
/// half-written behind, and a failed run with checkpoints keeps them for `--resume`. A
/// resumed run is never removed.
pub struct DiscardOnFailure {
    dir: Option<RunDir>,
}

impl DiscardOnFailure {
    /// Guards `dir` if this invocation created it.
    pub fn new(dir: &RunDir, created: bool) -> Self {
        Self { dir: created.then(|| dir.clone()) }
    }

    /// The run succeeded: keep everything.
    pub fn keep(mut self) {
        self.dir = None;
    }
}

impl Drop for DiscardOnFailure {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take()
            && !dir.has_checkpoints()
        {
            let _ = fs::remove_dir_all(dir.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stoke-rundir-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_failed_start_is_removed_and_a_run_with_checkpoints_is_kept() {
        let fresh = temp("fresh");
        let run = RunDir::create(Some(&fresh), "x").unwrap();
        drop(DiscardOnFailure::new(&run, true));
        assert!(!fresh.exists());

        let kept = temp("kept");
        let run = RunDir::create(Some(&kept), "x").unwrap();
        fs::create_dir_all(run.child("sub").unwrap().checkpoints().join("step-00000001")).unwrap();
        assert!(run.has_checkpoints());
        drop(DiscardOnFailure::new(&run, true));
        assert!(kept.exists());
        fs::remove_dir_all(&kept).unwrap();

        // A resumed run (not created here) is never removed, checkpoints or not.
        let resumed = temp("resumed");
        let run = RunDir::create(Some(&resumed), "x").unwrap();
        drop(DiscardOnFailure::new(&run, false));
        assert!(resumed.exists());
        fs::remove_dir_all(&resumed).unwrap();
    }

    #[test]
    fn a_panic_unwinding_through_the_guard_removes_the_directory() {
        let dir = temp("panic");
        let run = RunDir::create(Some(&dir), "x").unwrap();
        let outcome = std::panic::catch_unwind(|| {
            let _guard = DiscardOnFailure::new(&run, true);
            panic!("inside Burn");
        });
        assert!(outcome.is_err());
        assert!(!dir.exists());
    }

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let dir = temp("atomic");
        fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir.join("a.txt"), b"one").unwrap();
        write_atomic(&dir.join("a.txt"), b"two").unwrap();
        assert_eq!(fs::read_to_string(dir.join("a.txt")).unwrap(), "two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
