//! `cargo xtask`: Stoke's one entry point.
//!
//! xtask stays dependency-free so it builds in a second; the heavy work runs in the
//! trainer binary (`stoke`, in `stoke-train`), which xtask builds with the backend features
//! that `--device` asks for and nothing more, so a CPU user never compiles the GPU stack.

use std::env;
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
  bench flow-2d|estimators|digits-nets|diffusion [--device D] [--steps N] [--repeats R]
        [--no-torch]
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
