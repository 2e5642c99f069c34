//! Command-line parsing for the `stoke` binary. Every refusal is one line naming the bad
//! value; nothing is written before the arguments are all accepted.

use std::path::PathBuf;
use std::str::FromStr;

use serde_json::json;
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, TimestepSpacing, diffusers_f32_tables, sigmas_exponential,
    sigmas_karras, sigmas_polyexponential, sigmas_vp, timesteps,
};
use stoke_data::plot;

use crate::device::Backend;
use crate::error::{Result, TrainError};
use crate::recipe::{self, RECIPES, TrainArgs};

const USAGE: &str = "usage: stoke <command>
  train [RECIPE] [--device flex|ndarray|wgpu|vulkan] [--out DIR] [--steps N] [--seed S]
        [--config FILE] [--resume DIR] [--<config-key> VALUE ...]
  list
  schedule NAME [--steps N] [--beta-start B] [--beta-end B] [--zero-snr]
        [--spacing leading|linspace|trailing] [--inference-steps K] [--steps-offset O]
        [--dtype f32|f64] [--json] [--plot FILE.png]
  sigmas karras|exponential|polyexponential|vp --n N [--sigma-min A] [--sigma-max B]
        [--rho R] [--beta-d D] [--beta-min B] [--eps-s E] [--json]
  bench flow-2d|estimators|digits-nets|diffusion [--steps N] [--repeats R] [--device ...]
        [--no-torch]";

/// Flags that never take a value.
const SWITCHES: [&str; 3] = ["json", "zero-snr", "no-torch"];

/// Parsed `--flag value` pairs and positional words, consumed as a command reads them.
struct Args {
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: &[String]) -> Self {
        let (mut positional, mut flags) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < raw.len() {
            let word = &raw[i];
            if let Some(name) = word.strip_prefix("--") {
                if let Some((name, value)) = name.split_once('=') {
                    flags.push((name.to_string(), Some(value.to_string())));
                } else {
                    let value = raw
                        .get(i + 1)
                        .filter(|_| !SWITCHES.contains(&name))
                        .filter(|v| !v.starts_with("--") || v.parse::<f64>().is_ok());
                    if value.is_some() {
                        i += 1;
                    }
                    flags.push((name.to_string(), value.cloned()));
                }
            } else {
                positional.push(word.clone());
            }
            i += 1;
        }
        Self { positional, flags }
    }

    fn take(&mut self, name: &str) -> Option<Option<String>> {
        let index = self.flags.iter().position(|(n, _)| n == name)?;
        Some(self.flags.remove(index).1)
    }

    fn value(&mut self, name: &str) -> Result<Option<String>> {
        match self.take(name) {
            None => Ok(None),
            Some(Some(v)) => Ok(Some(v)),
            Some(None) => Err(TrainError::Invalid(format!("--{name} needs a value"))),
        }
    }

    fn parsed<T: FromStr>(&mut self, name: &str, what: &str) -> Result<Option<T>> {
        self.value(name)?
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| TrainError::Invalid(format!("--{name}: '{v}' is not {what}")))
            })
            .transpose()
    }

    fn count(&mut self, name: &str) -> Result<Option<usize>> {
        let value: Option<usize> = self.parsed(name, "a whole number")?;
        if value == Some(0) {
            return Err(TrainError::Invalid(format!("--{name} must be at least 1, got 0")));
        }
        Ok(value)
    }

    fn number(&mut self, name: &str) -> Result<Option<f64>> {
        let value: Option<f64> = self.parsed(name, "a number")?;
        match value {
            Some(v) if !v.is_finite() => {
                Err(TrainError::Invalid(format!("--{name} must be finite, got {v}")))
            }
            other => Ok(other),
        }
    }

    fn switch(&mut self, name: &str) -> Result<bool> {
        match self.take(name) {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(v)) => {
                Err(TrainError::Invalid(format!("--{name} takes no value, got '{v}'")))
            }
        }
    }

    /// Refuses leftovers.
    fn finish(self) -> Result<()> {
        if let Some((name, _)) = self.flags.first() {
            return Err(TrainError::Invalid(format!("unknown option --{name}")));
        }
        if let Some(extra) = self.positional.first() {
            return Err(TrainError::Invalid(format!("unexpected argument '{extra}'")));
        }
        Ok(())
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
    let mut args = Args::parse(rest);
    match command.as_str() {
        "train" => train(args),
        "list" => {
            args.finish()?;
            for (i, r) in RECIPES.iter().enumerate() {
                let default = if i == 0 { " (default)" } else { "" };
                outln!("{:<12} {}{default}", r.name, r.summary);
            }
            Ok(())
        }
        "schedule" => schedule(args),
        "sigmas" => sigmas(args),
        "bench" => {
            let target = (!args.positional.is_empty()).then(|| args.positional.remove(0));
            let steps = args.count("steps")?;
            let repeats = args.count("repeats")?;
            let backends = match args.value("device")? {
                Some(name) => vec![name.parse::<Backend>()?],
                None => Backend::compiled_backends(),
            };
            let torch = !args.switch("no-torch")?;
            args.finish()?;
            crate::bench::run(
                target.as_deref().unwrap_or("flow-2d"),
                steps,
                repeats,
                &backends,
                torch,
            )
        }
        "help" | "--help" | "-h" => {
            outln!("{USAGE}");
            Ok(())
        }
        other => Err(TrainError::Invalid(format!("unknown command '{other}'\n{USAGE}"))),
    }
}

fn train(mut args: Args) -> Result<()> {
    let name = if args.positional.is_empty() {
        RECIPES[0].name.to_string()
    } else {
        args.positional.remove(0)
    };
    let recipe = recipe::find(&name)?;
    let backend = match args.value("device")? {
        Some(name) => name.parse()?,
        None => Backend::Flex,
    };
    let out = args.value("out")?.map(PathBuf::from);
    let config_file = args.value("config")?.map(PathBuf::from);
    let resume = args.value("resume")?.map(PathBuf::from);
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
    if let Some(steps) = args.take("steps") {
        let steps = steps.ok_or_else(|| TrainError::Invalid("--steps needs a value".into()))?;
        match steps.parse::<usize>() {
            Ok(0) => return Err(TrainError::Invalid("--steps must be at least 1, got 0".into())),
            Ok(_) => args.flags.push(("steps".into(), Some(steps))),
            Err(_) => {
                return Err(TrainError::Invalid(format!(
                    "--steps: '{steps}' is not a whole number"
                )));
            }
        }
    }
    if let Some(extra) = args.positional.first() {
        return Err(TrainError::Invalid(format!("unexpected argument '{extra}'")));
    }
    let mut overrides = Vec::new();
    for (key, value) in args.flags {
        let value = value.ok_or_else(|| TrainError::Invalid(format!("--{key} needs a value")))?;
        overrides.push((key, value));
    }
    (recipe.run)(&TrainArgs { backend, out, config_file, resume, overrides })
}

fn schedule(mut args: Args) -> Result<()> {
    if args.positional.is_empty() {
        return Err(TrainError::Invalid(
            "schedule needs a name: linear, scaled_linear, squaredcos_cap_v2 or sigmoid".into(),
        ));
    }
    let kind: BetaSchedule =
        args.positional.remove(0).parse().map_err(|e| TrainError::Invalid(format!("{e}")))?;
    let n_steps = args.count("steps")?.unwrap_or(1000);
    let beta_start = args.number("beta-start")?.unwrap_or(1e-4);
    let beta_end = args.number("beta-end")?.unwrap_or(0.02);
    let zero_snr = args.switch("zero-snr")?;
    let spacing: TimestepSpacing = match args.value("spacing")? {
        Some(s) => s.parse().map_err(TrainError::Invalid)?,
        None => TimestepSpacing::Leading,
    };
    let inference = args.count("inference-steps")?;
    let offset: usize = args.parsed("steps-offset", "a whole number")?.unwrap_or(0);
    let dtype = args.value("dtype")?.unwrap_or_else(|| "f32".into());
    let as_json = args.switch("json")?;
    let plot_path = args.value("plot")?.map(PathBuf::from);
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

fn sigmas(mut args: Args) -> Result<()> {
    if args.positional.is_empty() {
        return Err(TrainError::Invalid(
            "sigmas needs a grid: karras, exponential, polyexponential or vp".into(),
        ));
    }
    let grid = args.positional.remove(0);
    let n = args
        .count("n")?
        .ok_or_else(|| TrainError::Invalid("sigmas needs --n N (the number of steps)".into()))?;
    let sigma_min = args.number("sigma-min")?.unwrap_or(0.002);
    let sigma_max = args.number("sigma-max")?.unwrap_or(80.0);
    let rho = args.number("rho")?;
    let beta_d = args.number("beta-d")?.unwrap_or(19.9);
    let beta_min = args.number("beta-min")?.unwrap_or(0.1);
    let eps_s = args.number("eps-s")?.unwrap_or(1e-3);
    let as_json = args.switch("json")?;
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
