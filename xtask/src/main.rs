//! `cargo xtask`: Stoke's one entry point.
//!
//! xtask stays dependency-free so it builds in a second; the heavy work runs in the
//! trainer binary (`stoke`, in `stoke-train`), which xtask builds with the backend features
//! that `--device` asks for and nothing more, so a CPU user never compiles the GPU stack.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>
  train [RECIPE] [--device flex|ndarray|wgpu|vulkan] [--out DIR] [--steps N] [--seed S]
        [--config FILE] [--resume DIR] [--tiny] [--check] [--<config-key> VALUE ...]
                       train a recipe (default: flow-2d) into a run directory
                       (--tiny: seconds-long smoke config; --check: validate, write nothing)
  list                 the recipes, one line each
  defaults RECIPE      the recipe's default config.json
  schedule NAME [--steps N] [--zero-snr] [--spacing leading|linspace|trailing]
        [--inference-steps K] [--dtype f32|f64] [--json] [--plot FILE.png]
  sigmas karras|exponential|polyexponential|vp --n N --sigma-min A --sigma-max B [--rho R] [--json]
  bench flow-2d|estimators|digits-nets|diffusion|contrastive|discrete [--device D] [--steps N]
        [--repeats R] [--no-torch]
  data fashion-mnist   find Fashion-MNIST ($STOKE_FASHION_MNIST, else Debian's directory),
                       installing Debian's dataset-fashion-mnist if missing (as root)
  ci                   fmt, clippy -D warnings, doc, test (cheapest first)";

const BACKENDS: [&str; 4] = ["flex", "ndarray", "wgpu", "vulkan"];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match command.as_str() {
        "train" | "list" | "defaults" | "schedule" | "sigmas" => {
            run_binary("stoke-train", "stoke", &args)
        }
        "bench" => run_binary("stoke-bench", "stoke-bench", &args[1..]),
        "data" => data(&args[1..]),
        "ci" => ci(),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: unknown command '{other}'\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The backend `--device` names (default flex), checked before anything is built.
fn device(args: &[String]) -> Result<String, String> {
    let position = args.iter().position(|a| a == "--device" || a.starts_with("--device="));
    let Some(i) = position else { return Ok("flex".into()) };
    let value = match args[i].split_once('=') {
        Some((_, v)) => v.to_string(),
        None => args.get(i + 1).cloned().ok_or("--device needs a value")?,
    };
    if BACKENDS.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(format!("--device '{value}' is not a backend (expected flex, ndarray, wgpu or vulkan)"))
    }
}

/// Builds `bin` of `package` with exactly the backend feature `--device` asks for (saying
/// so first: a cold build compiles Burn, minutes on two cores), then runs it with `args`.
fn run_binary(package: &str, bin: &str, args: &[String]) -> ExitCode {
    let backend = match device(args) {
        Ok(b) => b,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "xtask: building {bin} ({package}, backend {backend}); the first build compiles Burn and \
         takes minutes, later ones seconds"
    );
    let mut command = cargo();
    command.args(["run", "--package", package, "--bin", bin]);
    if backend != "flex" {
        command.args(["--features", &backend]);
    }
    command.arg("--").args(args);
    exit_of(command.status())
}

fn exit_of(status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            ExitCode::from(2)
        }
    }
}

fn ci() -> ExitCode {
    let steps: [(&str, &[&str]); 4] = [
        ("fmt", &["fmt", "--all", "--", "--check"]),
        ("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
        ("doc", &["doc", "--workspace", "--no-deps"]),
        ("test", &["test", "--workspace"]),
    ];
    for (name, args) in steps {
        eprintln!("== cargo xtask ci: {name}");
        let mut command = cargo();
        command.args(args);
        if name == "doc" {
            command.env("RUSTDOCFLAGS", "-D warnings");
        }
        let code = exit_of(command.status());
        if code != ExitCode::SUCCESS {
            eprintln!("cargo xtask ci: {name} failed");
            return code;
        }
    }
    ExitCode::SUCCESS
}

/// Where `stoke_data::fashion_mnist::find` looks, kept in step with it by hand (xtask has
/// no dependencies): the environment variable, then the Debian package's directory.
const FASHION_ENV: &str = "STOKE_FASHION_MNIST";
const FASHION_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
const FASHION_PACKAGE: &str = "dataset-fashion-mnist";
const FASHION_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn data(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("fashion-mnist") => fashion_mnist(),
        Some(other) => {
            eprintln!("error: unknown dataset '{other}' (expected fashion-mnist)\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("error: `data` needs a dataset: fashion-mnist\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Finds the four files, installing the Debian package first if they are missing and we
/// are root, and prints the directory and the files' sizes.
fn fashion_mnist() -> ExitCode {
    if fashion_dir().is_none() {
        let command = format!("apt-get install -y {FASHION_PACKAGE}");
        if !is_root() {
            eprintln!(
                "Fashion-MNIST is not installed. Run as root:\n  {command}\nor set \
                 {FASHION_ENV} to a directory with the four IDX files (raw or .gz)."
            );
            return ExitCode::FAILURE;
        }
        eprintln!("xtask: Fashion-MNIST not found; running `{command}`");
        if !apt_install() {
            eprintln!("error: `{command}` failed (after `apt-get update` too)");
            return ExitCode::FAILURE;
        }
    }
    let Some(dir) = fashion_dir() else {
        eprintln!(
            "error: {FASHION_PACKAGE} is installed but its files are not in {FASHION_DEBIAN_DIR}"
        );
        return ExitCode::FAILURE;
    };
    println!("Fashion-MNIST: {}", dir.display());
    for name in FASHION_FILES {
        if let Some(path) = fashion_file(&dir, name) {
            let size = path.metadata().map(|m| m.len()).unwrap_or(0);
            println!("  {:<32} {size:>10} bytes", file_name(&path));
        }
    }
    println!(
        "(stoke_data::fashion_mnist::find() finds this directory; set {FASHION_ENV} to use another)"
    );
    ExitCode::SUCCESS
}

/// `apt-get install`, retried once after `apt-get update` (a fresh machine has no lists).
fn apt_install() -> bool {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", FASHION_PACKAGE])
            .status()
            .is_ok_and(|s| s.success())
    };
    install()
        || (Command::new("apt-get").arg("update").status().is_ok_and(|s| s.success()) && install())
}

/// The first of `$STOKE_FASHION_MNIST` and the Debian directory that holds all four files.
fn fashion_dir() -> Option<PathBuf> {
    let from_env = env::var_os(FASHION_ENV).map(PathBuf::from);
    let mut candidates = from_env.into_iter().chain([PathBuf::from(FASHION_DEBIAN_DIR)]);
    candidates.find(|dir| FASHION_FILES.iter().all(|name| fashion_file(dir, name).is_some()))
}

/// `dir/name`, or `dir/name.gz`, whichever exists.
fn fashion_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))].into_iter().find(|p| p.is_file())
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output();
    output.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
