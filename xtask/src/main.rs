//! `cargo xtask`: Stoke's one entry point.
//!
//! xtask stays dependency-free so it builds in a second; the heavy work runs in the
//! trainer binary (`stoke`, in `stoke-train`), which xtask builds with the backend features
//! that `--device` asks for and nothing more, so a CPU user never compiles the GPU stack.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>
  train [RECIPE] [--device flex|ndarray|wgpu|vulkan|libtorch] [--out DIR] [--steps N] [--seed S]
        [--config FILE] [--resume DIR] [--tiny] [--check] [--<config-key> VALUE ...]
        [--distributed mpi --ranks N [--hostfile FILE] | --distributed threads:N]
                       train a recipe (default: flow-2d) into a run directory
                       (--tiny: seconds-long smoke config; --check: validate, write nothing;
                       --distributed mpi: builds with the `mpi` feature and runs N ranks
                       under mpirun, on this machine or on the hostfile's)
  list                 the recipes, one line each
  defaults RECIPE      the recipe's default config.json
  schedule NAME [--steps N] [--zero-snr] [--spacing leading|linspace|trailing]
        [--inference-steps K] [--dtype f32|f64] [--json] [--plot FILE.png]
  sigmas karras|exponential|polyexponential|vp --n N --sigma-min A --sigma-max B [--rho R] [--json]
  bench flow-2d|estimators|digits-nets|diffusion|contrastive|blip|discrete|distributed|kernels
        [--device D] [--steps N] [--repeats R] [--no-torch] [--step-only]
                       (distributed: 1, 2, 4 MPI ranks vs PyTorch DDP gloo; needs mpirun;
                       kernels: single ops and step phases vs the same calls in PyTorch;
                       blip: a pre-training step and captioning tokens/s vs the same model in PyTorch;
                       --step-only: only the training step of diffusion, discrete, contrastive, blip)
  train and bench also take --features flex-simd,flex-rayon,x86-v4 (build levers on the
  flex backend, off by default; docs/benchmarks.md measures each)
  data fashion-mnist   find Fashion-MNIST ($STOKE_FASHION_MNIST, else Debian's directory),
                       installing Debian's dataset-fashion-mnist if missing (as root)
  ci                   fmt, clippy -D warnings, doc, test (cheapest first)";

const BACKENDS: [&str; 5] = ["flex", "ndarray", "wgpu", "vulkan", "libtorch"];

/// Build levers `--features` may name (docs/benchmarks.md measures each).
const LEVERS: [&str; 3] = ["flex-simd", "flex-rayon", "x86-v4"];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match command.as_str() {
        "train" if option(&args, "--distributed").as_deref() == Some("mpi") => train_mpi(&args),
        "train" | "list" | "defaults" | "schedule" | "sigmas" => {
            run_binary("stoke-train", "stoke", &args)
        }
        "bench" if args.get(1).map(String::as_str) == Some("distributed") => {
            bench_distributed(&args[1..])
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

/// The value of `--name VALUE` or `--name=VALUE`, if given.
fn option(args: &[String], name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    let i = args.iter().position(|a| a == name || a.starts_with(&prefix))?;
    match args[i].split_once('=') {
        Some((_, v)) => Some(v.to_string()),
        None => args.get(i + 1).cloned(),
    }
}

/// `args` without `--name VALUE` (or `--name=VALUE`).
fn without(args: &[String], name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if a == name {
            skip = true;
        } else if !a.starts_with(&prefix) {
            out.push(a.clone());
        }
    }
    out
}

/// Checks that `mpirun` is on PATH.
fn mpirun_available() -> Result<(), String> {
    let ok = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if ok {
        Ok(())
    } else {
        Err("--distributed mpi: no MPI runtime (mpirun is not on PATH); install Open MPI, e.g. \
             `apt-get install openmpi-bin libopenmpi-dev libclang-dev`"
            .into())
    }
}

/// Builds `stoke` with the `mpi` feature (and `backend`'s); returns the binary.
fn build_mpi_stoke(backend: &str) -> Result<PathBuf, ExitCode> {
    let features = if backend == "flex" { "mpi".to_string() } else { format!("mpi,{backend}") };
    eprintln!("xtask: building stoke (stoke-train, features {features}) for MPI ranks");
    let status = cargo()
        .args(["build", "--package", "stoke-train", "--bin", "stoke", "--features", &features])
        .status();
    if !matches!(&status, Ok(s) if s.success()) {
        return Err(exit_of(status));
    }
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    Ok(target.join("debug").join("stoke"))
}

/// `bench distributed`: the MPI-enabled `stoke` for the benchmark's ranks, then the bench.
fn bench_distributed(args: &[String]) -> ExitCode {
    if let Err(message) = mpirun_available() {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let binary = match build_mpi_stoke("flex") {
        Ok(b) => b,
        Err(code) => return code,
    };
    run_binary_with("stoke-bench", "stoke-bench", args, &[("STOKE_MPI_BINARY", binary)])
}

/// `train ... --distributed mpi --ranks N [--hostfile FILE]`: checks the MPI runtime, builds
/// `stoke` with the `mpi` feature, and runs it on N ranks under `mpirun` (every other option
/// goes to each rank).
fn train_mpi(args: &[String]) -> ExitCode {
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    let ranks = match option(args, "--ranks").map(|r| r.parse::<usize>()) {
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return fail("--ranks must be a whole number of at least 1".into()),
        None => return fail("--distributed mpi needs --ranks N (the number of processes)".into()),
    };
    let hostfile = option(args, "--hostfile");
    if let Some(file) = &hostfile
        && !Path::new(file).is_file()
    {
        return fail(format!("--hostfile {file}: no such file"));
    }
    if let Err(message) = mpirun_available() {
        return fail(message);
    }
    let backend = match device(args) {
        Ok(b) => b,
        Err(message) => return fail(message),
    };
    let binary = match build_mpi_stoke(&backend) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut command = Command::new("mpirun");
    match &hostfile {
        // A host that does not answer fails the start in ten seconds (ssh's own message),
        // rather than hanging on the connection; no password prompts.
        Some(file) if env::var_os("OMPI_MCA_plm_rsh_args").is_none() => command
            .args(["--hostfile", file])
            .args(["--mca", "plm_rsh_args", "-o ConnectTimeout=10 -o BatchMode=yes"]),
        Some(file) => command.args(["--hostfile", file]),
        // One machine: as many ranks as asked, whatever its core count.
        None => command.arg("--oversubscribe"),
    };
    // mpirun forwards to other hosts only the variables named with -x.
    if env::var_os("STOKE_DISTRIBUTED_TIMEOUT").is_some() {
        command.args(["-x", "STOKE_DISTRIBUTED_TIMEOUT"]);
    }
    command.args(["-np", &ranks.to_string()]).arg(&binary);
    command.args(without(&without(args, "--ranks"), "--hostfile"));
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        command.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    }
    eprintln!(
        "xtask: mpirun{} -np {ranks} {} ...",
        hostfile.map_or(" --oversubscribe".into(), |f| format!(" --hostfile {f}")),
        binary.display()
    );
    exit_of(command.status())
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
        Err(format!(
            "--device '{value}' is not a backend (expected flex, ndarray, wgpu, vulkan or libtorch)"
        ))
    }
}

/// Builds `bin` of `package` with exactly the backend feature `--device` asks for (saying
/// so first: a cold build compiles Burn, minutes on two cores), then runs it with `args`.
fn run_binary(package: &str, bin: &str, args: &[String]) -> ExitCode {
    run_binary_with(package, bin, args, &[])
}

/// [`run_binary`] with extra environment variables for the binary.
fn run_binary_with(
    package: &str,
    bin: &str,
    args: &[String],
    vars: &[(&str, PathBuf)],
) -> ExitCode {
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
    let mut features = match levers(args) {
        Ok(l) => l,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if backend != "flex" {
        features.push(backend.clone());
    }
    let mut command = cargo();
    command.args(["run", "--package", package, "--bin", bin]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    if backend == "libtorch" {
        match libtorch_lib() {
            Ok(lib) => {
                let mut path = std::ffi::OsString::from(lib);
                if let Some(old) = env::var_os("LD_LIBRARY_PATH") {
                    path.push(":");
                    path.push(old);
                }
                command.env("LD_LIBRARY_PATH", path);
            }
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        }
    }
    command.arg("--").args(without(args, "--features"));
    for (key, value) in vars {
        command.env(key, value);
    }
    exit_of(command.status())
}

/// The build levers `--features a,b` names, each checked against [`LEVERS`].
fn levers(args: &[String]) -> Result<Vec<String>, String> {
    let Some(list) = option(args, "--features") else { return Ok(Vec::new()) };
    list.split(',')
        .filter(|f| !f.is_empty())
        .map(|f| {
            if LEVERS.contains(&f) {
                Ok(f.to_string())
            } else {
                Err(format!("--features: '{f}' is not a lever (expected {})", LEVERS.join(", ")))
            }
        })
        .collect()
}

/// The directory holding libtorch's shared libraries for `--device libtorch`: `$LIBTORCH/lib`
/// (the libtorch that `tch` 0.22 builds against: PyTorch 2.9.0, see docs/benchmarks.md).
fn libtorch_lib() -> Result<PathBuf, String> {
    let root = env::var_os("LIBTORCH").ok_or(
        "--device libtorch needs LIBTORCH naming a libtorch 2.9.0 (for instance the `torch` \
         directory of `pip install torch==2.9.0`); see docs/benchmarks.md",
    )?;
    let lib = Path::new(&root).join("lib");
    if lib.join("libtorch_cpu.so").exists() {
        Ok(lib)
    } else {
        Err(format!("LIBTORCH={}: no lib/libtorch_cpu.so there", Path::new(&root).display()))
    }
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
