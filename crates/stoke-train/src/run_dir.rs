//! Run directories: `config.json` before step 0, `metrics.jsonl` per logging step,
//! `metrics.json` at the end, atomic checkpoints, and the recipe's pictures.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, TrainError, io_error};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// killed process leaves either the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
    file.write_all(bytes).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))
}

/// Writes pretty JSON atomically.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| TrainError::Invalid(format!("cannot serialise {}: {e}", path.display())))?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// A run directory.
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
    /// absent: recipes that train several models give each one.
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
        fs::create_dir_all(path.join("checkpoints")).map_err(io_error(path))?;
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

    /// Removes the directory: used when a run fails before its first checkpoint, so a
    /// failed start leaves nothing half-written behind.
    pub fn discard(self) {
        let _ = fs::remove_dir_all(&self.root);
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
}
