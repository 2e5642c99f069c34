//! Command-line parsing for the `stoke` binary, on `lexopt`. Every refusal is one line
//! naming the bad value; nothing is written before the arguments are all accepted. `train`
//! takes any `--<config-key> VALUE` and hands it to the recipe's config resolution.

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

use lexopt::Arg::{Long, Short, Value};
use serde_json::json;
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, TimestepSpacing, diffusers_f32_tables, sigmas_exponential,
    sigmas_karras, sigmas_polyexponential, sigmas_vp, timesteps,
};
use stoke_data::plot;

use crate::device::Backend;
use crate::error::{Result, TrainError};
use crate::harness::{Family, Group, TrainArgs, collective};
use crate::recipes::{RECIPES, find};

const USAGE: &str = "usage: stoke <command>
  train [RECIPE] [--device flex|ndarray|wgpu|vulkan|libtorch] [--out DIR] [--steps N] [--seed S]
        [--config FILE] [--resume DIR] [--tiny] [--check] [--distributed mpi|threads:N]
        [--<config-key> VALUE ...]
        (--tiny: the recipe's seconds-long smoke-test config, under any other options;
         --check: validate the whole config, write nothing, and stop;
         --distributed: data-parallel ranks, one per process under mpirun (built with the
         `mpi` feature) or N threads of this process; rank 0 writes the run)
  list
  defaults RECIPE           (the recipe's default config.json)
  schedule NAME [--steps N] [--beta-start B] [--beta-end B] [--zero-snr]
        [--spacing leading|linspace|trailing] [--inference-steps K] [--steps-offset O]
        [--dtype f32|f64] [--json] [--plot FILE.png]
  sigmas karras|exponential|polyexponential|vp --n N [--sigma-min A] [--sigma-max B]
        [--rho R] [--beta-d D] [--beta-min B] [--eps-s E] [--json]";

fn invalid(e: lexopt::Error) -> TrainError {
    TrainError::Invalid(e.to_string())
}

fn text(value: OsString) -> Result<String> {
    value.into_string().map_err(|v| TrainError::Invalid(format!("not valid UTF-8: {v:?}")))
}

/// Parses `value` of option `--name` as a `T` (`what` names the expected kind).
fn parse<T: FromStr>(name: &str, value: &str, what: &str) -> Result<T> {
    value
        .parse::<T>()
        .map_err(|_| TrainError::Invalid(format!("--{name}: '{value}' is not {what}")))
}

/// A count option: a whole number of at least 1.
fn count(name: &str, value: &str) -> Result<usize> {
    match parse::<usize>(name, value, "a whole number")? {
        0 => Err(TrainError::Invalid(format!("--{name} must be at least 1, got 0"))),
        n => Ok(n),
    }
}

/// A number option: finite.
fn number(name: &str, value: &str) -> Result<f64> {
    let v: f64 = parse(name, value, "a number")?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(TrainError::Invalid(format!("--{name} must be finite, got {v}")))
    }
}

/// Runs one command.
///
/// # Errors
/// Bad arguments, or the command's own failure.
pub fn main(raw: &[String]) -> Result<()> {
    let Some((command, rest)) = raw.split_first() else {
        return Err(TrainError::Invalid(USAGE.to_string()));
    };
    let parser = lexopt::Parser::from_args(rest.iter().cloned());
    match command.as_str() {
        "train" => train(parser),
        "list" => list(parser),
        "defaults" => defaults(parser),
        "schedule" => schedule(parser),
        "sigmas" => sigmas(parser),
        "help" | "--help" | "-h" => {
            outln!("{USAGE}");
            Ok(())
        }
        other => Err(TrainError::Invalid(format!("unknown command '{other}'\n{USAGE}"))),
    }
}

fn list(mut parser: lexopt::Parser) -> Result<()> {
    if let Some(arg) = parser.next().map_err(invalid)? {
        return Err(invalid(arg.unexpected()));
    }
    for family in Family::ALL {
        outln!("{}:", family.name());
        for recipe in RECIPES.iter().filter(|r| r.family == family) {
            let default = if recipe.name == RECIPES[0].name { " (default)" } else { "" };
            outln!("  {:<18} {}{default}", recipe.name, recipe.summary);
        }
    }
    Ok(())
}

fn defaults(mut parser: lexopt::Parser) -> Result<()> {
    let mut recipe = None;
    while let Some(arg) = parser.next().map_err(invalid)? {
        match arg {
            Value(name) if recipe.is_none() => recipe = Some(text(name)?),
            other => return Err(invalid(other.unexpected())),
        }
    }
    let Some(name) = recipe else {
        return Err(TrainError::Invalid(format!("defaults needs a recipe name\n{USAGE}")));
    };
    let json = serde_json::to_string_pretty(&(find(&name)?.defaults)())
        .map_err(|e| TrainError::Invalid(format!("defaults of {name}: {e}")))?;
    outln!("{json}");
    Ok(())
}

fn train(mut parser: lexopt::Parser) -> Result<()> {
    let (mut recipe, mut backend, mut out, mut config_file, mut resume, mut tiny) =
        (None, Backend::Flex, None, None, None, false);
    let mut check_only = false;
    let mut distributed = None;
    let mut overrides = Vec::new();
    while let Some(arg) = parser.next().map_err(invalid)? {
        match arg {
            Value(name) if recipe.is_none() => recipe = Some(text(name)?),
            Value(extra) => {
                return Err(TrainError::Invalid(format!("unexpected argument '{}'", text(extra)?)));
            }
            Long("device") => backend = text(parser.value().map_err(invalid)?)?.parse()?,
            Long("out") => out = Some(PathBuf::from(parser.value().map_err(invalid)?)),
            Long("config") => config_file = Some(PathBuf::from(parser.value().map_err(invalid)?)),
            Long("resume") => resume = Some(PathBuf::from(parser.value().map_err(invalid)?)),
            Long("tiny") => tiny = true,
            Long("check") => check_only = true,
            Long("distributed") => {
                distributed = Some(text(parser.value().map_err(invalid)?)?.parse::<Distributed>()?);
            }
            Long(key) => {
                let key = key.to_string();
                let value = text(parser.value().map_err(invalid)?)?;
                if key == "steps" {
                    count("steps", &value)?;
                }
                overrides.push((key, value));
            }
            Short(_) => return Err(invalid(arg.unexpected())),
        }
    }
    let entry = find(recipe.as_deref().unwrap_or(RECIPES[0].name))?;
    if let Some(path) = &config_file
        && !path.is_file()
    {
        return Err(TrainError::Invalid(format!("--config {}: no such file", path.display())));
    }
    if resume.is_some() && (out.is_some() || config_file.is_some()) {
        return Err(TrainError::Invalid(
            "--resume continues a run with its own config.json; drop --out and --config".into(),
        ));
    }
    if tiny {
        let small = entry.tiny.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        overrides = small.chain(overrides).collect();
    }
    let args = TrainArgs { backend, out, config_file, resume, overrides, group: Group::single() };
    let run = move |args: &TrainArgs| -> Result<()> {
        if check_only {
            (entry.check)(args)?;
            if args.group.is_primary() {
                outln!("{}: config accepted (nothing written)", entry.name);
            }
            return Ok(());
        }
        (entry.run)(args)
    };
    match distributed {
        None => run(&args),
        Some(Distributed::Threads(ranks)) => on_threads(ranks, &args, &run),
        Some(Distributed::Mpi) => on_mpi(args, &run),
    }
}

/// How `--distributed` runs the ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Distributed {
    /// One rank per process, started by `mpirun`.
    Mpi,
    /// N ranks on threads of this process.
    Threads(usize),
}

impl FromStr for Distributed {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':') {
            None if s == "mpi" => Ok(Self::Mpi),
            Some(("threads", n)) => Ok(Self::Threads(count("distributed threads:N", n)?)),
            _ => Err(TrainError::Invalid(format!("--distributed '{s}' is not mpi or threads:N"))),
        }
    }
}

/// Runs `run` on `ranks` threads of this process, one rank each; returns rank 0's outcome,
/// or the first failing rank's.
fn on_threads(
    ranks: usize,
    args: &TrainArgs,
    run: &(dyn Fn(&TrainArgs) -> Result<()> + Sync),
) -> Result<()> {
    let timeout = collective::timeout_from_env()?;
    let (backend, out, config_file, resume, overrides) = (
        args.backend,
        args.out.clone(),
        args.config_file.clone(),
        args.resume.clone(),
        args.overrides.clone(),
    );
    let outcomes: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = collective::Threads::group(ranks, timeout)
            .into_iter()
            .map(|rank| {
                let (out, config_file, resume, overrides) =
                    (out.clone(), config_file.clone(), resume.clone(), overrides.clone());
                scope.spawn(move || {
                    let group = Group::new(rank);
                    let args = TrainArgs { backend, out, config_file, resume, overrides, group };
                    run(&args).inspect_err(|_| args.group.fail())
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(rank, h)| {
                h.join().unwrap_or_else(|_| {
                    Err(TrainError::Distributed(format!("rank {rank} panicked")))
                })
            })
            .collect()
    });
    // The first rank that failed of its own accord, before those that saw it leave.
    let mut errors: Vec<TrainError> = outcomes.into_iter().filter_map(|o| o.err()).collect();
    let own = errors.iter().position(|e| !e.to_string().contains("left the job"));
    match own {
        Some(i) => Err(errors.swap_remove(i)),
        None => errors.into_iter().next().map_or(Ok(()), Err),
    }
}

/// Joins the `mpirun` job as one rank and runs `run`; a failing rank (an error or a panic)
/// prints why and aborts the job, so no rank waits for it (a panic unwinding into MPI's
/// finalisation would otherwise wait for the others, and they for it, until the timeout).
#[cfg(feature = "mpi")]
fn on_mpi(mut args: TrainArgs, run: &dyn Fn(&TrainArgs) -> Result<()>) -> Result<()> {
    let group = Group::new(collective::Mpi::init(collective::timeout_from_env()?)?);
    args.group = group.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&args)))
        .unwrap_or_else(|_| Err(TrainError::Distributed("this rank panicked".into())));
    if let Err(e) = &outcome
        && group.is_distributed()
    {
        eprintln!("error: rank {} of {}: {e}", group.rank(), group.ranks());
        group.fail();
    }
    outcome
}

#[cfg(not(feature = "mpi"))]
fn on_mpi(_: TrainArgs, _: &dyn Fn(&TrainArgs) -> Result<()>) -> Result<()> {
    Err(TrainError::Invalid(
        "--distributed mpi: this binary was built without the `mpi` feature (run `cargo xtask \
         train RECIPE --distributed mpi --ranks N`, which builds it and calls mpirun)"
            .into(),
    ))
}

/// Options and switches of `schedule` and `sigmas`, read as they come.
struct Options {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    positional: Vec<String>,
}

impl Options {
    fn parse(mut parser: lexopt::Parser, switches: &[&str]) -> Result<Self> {
        let mut options = Self { values: Vec::new(), switches: Vec::new(), positional: Vec::new() };
        while let Some(arg) = parser.next().map_err(invalid)? {
            match arg {
                Value(v) => options.positional.push(text(v)?),
                Long(name) if switches.contains(&name) => options.switches.push(name.to_string()),
                Long(name) => {
                    let name = name.to_string();
                    options.values.push((name, text(parser.value().map_err(invalid)?)?));
                }
                Short(_) => return Err(invalid(arg.unexpected())),
            }
        }
        Ok(options)
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.values.iter().position(|(n, _)| n == name)?;
        Some(self.values.remove(i).1)
    }

    fn count(&mut self, name: &str) -> Result<Option<usize>> {
        self.take(name).map(|v| count(name, &v)).transpose()
    }

    fn number(&mut self, name: &str) -> Result<Option<f64>> {
        self.take(name).map(|v| number(name, &v)).transpose()
    }

    fn switch(&mut self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    /// The first positional word, or `missing` as the error.
    fn first(&mut self, missing: &str) -> Result<String> {
        if self.positional.is_empty() {
            return Err(TrainError::Invalid(missing.into()));
        }
        Ok(self.positional.remove(0))
    }

    /// Refuses leftovers.
    fn finish(self) -> Result<()> {
        if let Some((name, _)) = self.values.first() {
            return Err(TrainError::Invalid(format!("unknown option --{name}")));
        }
        if let Some(extra) = self.positional.first() {
            return Err(TrainError::Invalid(format!("unexpected argument '{extra}'")));
        }
        Ok(())
    }
}

fn schedule(parser: lexopt::Parser) -> Result<()> {
    let mut args = Options::parse(parser, &["json", "zero-snr"])?;
    let name =
        args.first("schedule needs a name: linear, scaled_linear, squaredcos_cap_v2 or sigmoid")?;
    let kind: BetaSchedule = name.parse().map_err(|e| TrainError::Invalid(format!("{e}")))?;
    let n_steps = args.count("steps")?.unwrap_or(1000);
    let beta_start = args.number("beta-start")?.unwrap_or(1e-4);
    let beta_end = args.number("beta-end")?.unwrap_or(0.02);
    let zero_snr = args.switch("zero-snr");
    let spacing: TimestepSpacing = match args.take("spacing") {
        Some(s) => s.parse().map_err(TrainError::Invalid)?,
        None => TimestepSpacing::Leading,
    };
    let inference = args.count("inference-steps")?;
    let offset: usize = match args.take("steps-offset") {
        Some(v) => parse("steps-offset", &v, "a whole number")?,
        None => 0,
    };
    let dtype = args.take("dtype").unwrap_or_else(|| "f32".into());
    let as_json = args.switch("json");
    let plot_path = args.take("plot").map(PathBuf::from);
    args.finish()?;

    let exact = DiscreteSchedule::new(kind, n_steps, beta_start, beta_end)?;
    let exact = if zero_snr { exact.rescale_zero_terminal_snr()? } else { exact };
    let (betas, alphas_cumprod): (Vec<f64>, Vec<f64>) = match dtype.as_str() {
        "f64" => (exact.betas().to_vec(), exact.alphas_cumprod().to_vec()),
        "f32" => {
            let (b, a) = diffusers_f32_tables(kind, n_steps, beta_start, beta_end, zero_snr)?;
            (b.into_iter().map(f64::from).collect(), a.into_iter().map(f64::from).collect())
        }
        other => {
            return Err(TrainError::Invalid(format!("--dtype '{other}': expected f32 or f64")));
        }
    };
    let sigmas: Vec<f64> = alphas_cumprod.iter().map(|a| ((1.0 - a) / a).sqrt()).collect();
    let log_snr: Vec<f64> = alphas_cumprod.iter().map(|a| a.ln() - (1.0 - a).ln()).collect();
    let steps: Vec<usize> = match inference {
        Some(k) => timesteps(n_steps, k, spacing, offset)?,
        None => (0..n_steps).rev().collect(),
    };
    if let Some(path) = &plot_path {
        let points: Vec<(f64, f64)> =
            log_snr.iter().enumerate().map(|(i, &l)| (i as f64 / n_steps as f64, l)).collect();
        let title = format!("{kind}{} log-SNR", if zero_snr { " (zero SNR)" } else { "" });
        plot::line_plot(
            &[(kind.name(), &points)],
            &title,
            "t = i / T",
            "log-SNR",
            false,
            [640, 400],
        )
        .save_png(path)?;
    }
    if as_json {
        // Infinite values (zero-SNR's last sigma and log-SNR) are written as null.
        let value = json!({
            "schedule": kind.name(),
            "num_train_timesteps": n_steps,
            "zero_snr": zero_snr,
            "dtype": dtype,
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "sigmas": sigmas,
            "log_snr": log_snr,
            "timesteps": steps,
        });
        outln!("{value}");
    } else {
        outln!("{kind}: T = {n_steps}, zero SNR {zero_snr}, dtype {dtype}");
        outln!("{:>6} {:>14} {:>14} {:>14} {:>10}", "i", "beta", "alpha_bar", "sigma", "log_snr");
        let stride = (n_steps / 20).max(1);
        let rows = (0..n_steps).filter(|i| i % stride == 0 || *i == n_steps - 1);
        for i in rows {
            outln!(
                "{i:>6} {:>14.6e} {:>14.6e} {:>14.6e} {:>10.4}",
                betas[i],
                alphas_cumprod[i],
                sigmas[i],
                log_snr[i]
            );
        }
        let shown: Vec<String> = steps.iter().take(12).map(|s| s.to_string()).collect();
        let more = if steps.len() > 12 { ", ..." } else { "" };
        outln!("timesteps ({}): {}{more}", steps.len(), shown.join(", "));
    }
    Ok(())
}

fn sigmas(parser: lexopt::Parser) -> Result<()> {
    let mut args = Options::parse(parser, &["json"])?;
    let grid = args.first("sigmas needs a grid: karras, exponential, polyexponential or vp")?;
    let n = args
        .count("n")?
        .ok_or_else(|| TrainError::Invalid("sigmas needs --n N (the number of steps)".into()))?;
    let sigma_min = args.number("sigma-min")?.unwrap_or(0.002);
    let sigma_max = args.number("sigma-max")?.unwrap_or(80.0);
    let rho = args.number("rho")?;
    let beta_d = args.number("beta-d")?.unwrap_or(19.9);
    let beta_min = args.number("beta-min")?.unwrap_or(0.1);
    let eps_s = args.number("eps-s")?.unwrap_or(1e-3);
    let as_json = args.switch("json");
    args.finish()?;
    let values = match grid.as_str() {
        "karras" => sigmas_karras(n, sigma_min, sigma_max, rho.unwrap_or(7.0))?,
        "exponential" => sigmas_exponential(n, sigma_min, sigma_max)?,
        "polyexponential" => sigmas_polyexponential(n, sigma_min, sigma_max, rho.unwrap_or(1.0))?,
        "vp" => sigmas_vp(n, beta_d, beta_min, eps_s)?,
        other => {
            return Err(TrainError::Invalid(format!(
                "unknown sigma grid '{other}' (expected karras, exponential, polyexponential or vp)"
            )));
        }
    };
    if as_json {
        outln!("{}", json!({ "grid": grid, "n": n, "sigmas": values }));
    } else {
        for (i, s) in values.iter().enumerate() {
            outln!("{i:>4} {s:.8}");
        }
    }
    Ok(())
}
