//! Recipes: named training runs with a default config, registered in [`RECIPES`].

pub mod bernoulli_toy;
pub mod digits_classifier;
pub mod digits_diffusion;
pub mod flow_2d;
pub mod rectified_2d;
pub mod soft_f1;
pub mod vae_digits;

use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::device::Backend;
use crate::error::{Result, TrainError, io_error};
use crate::run_dir::{RunDir, write_json_atomic};

/// What `cargo xtask train` asked for, before the recipe resolves its config.
#[derive(Debug, Clone)]
pub struct TrainArgs {
    /// The backend.
    pub backend: Backend,
    /// `--out DIR`.
    pub out: Option<PathBuf>,
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--resume DIR`.
    pub resume: Option<PathBuf>,
    /// Every other `--key value` (including `--steps` and `--seed`), applied over the config
    /// in order.
    pub overrides: Vec<(String, String)>,
}

/// A recipe in the registry.
pub struct Recipe {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line for `cargo xtask list`.
    pub summary: &'static str,
    /// Runs it.
    pub run: fn(&TrainArgs) -> Result<()>,
}

/// Every recipe; the first is the default.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        name: "flow-2d",
        summary: "conditional flow matching, --matcher icfm|otcfm|target|sb|vp, --source \
              gaussian|8gaussians -> --target moons|8gaussians|checkerboard|spirals; W2, energy \
              distance at NFE 1/2/5/100, straightness",
        run: flow_2d::run,
    },
    Recipe {
        name: "rectified-2d",
        summary: "rectified flow N(0, I) -> moons: 1-RF, reflow to 2-RF on its own ODE couplings, \
                  then 1-step distillation; W2 per NFE and straightness per stage",
        run: rectified_2d::run,
    },
    Recipe {
        name: "soft-f1",
        summary: "one digit against the rest with a long-tailed training set: binary cross-entropy \
              vs the sigmoid-F1 surrogate, scored by test F1 (f1_ce, f1_soft)",
        run: soft_f1::run,
    },
    Recipe {
        name: "bernoulli-toy",
        summary: "minimise E[(b - 0.45)^2], b ~ Bernoulli(sigmoid(phi)), with REINFORCE, RLOO, \
                  REBAR, RELAX, Gumbel and ST-Gumbel: gradient mean/variance and training curves",
        run: bernoulli_toy::run,
    },
    Recipe {
        name: "vae-digits",
        summary: "categorical VAE (20 x 10) on binarised digits, --estimator \
                  gumbel|st-gumbel|st|reinforce|rloo|nvil|rebar|relax|gaussian; test -ELBO",
        run: vae_digits::run,
    },
    Recipe {
        name: "digits-classifier",
        summary: "MLP classifier of the 8x8 digits (train split, scored on the held-out split); \
                  saves classifier.bpk, the feature extractor of the digits sample metrics",
        run: digits_classifier::run,
    },
    Recipe {
        name: "ddpm-digits",
        summary: "class-conditional DiT on the digits, DDPM (eps, linear betas) with CFG; FD and \
                  conditional accuracy per sampler (DDPM 1000, DDIM 50, Euler 50, Heun 35, DPM++ 20)",
        run: digits_diffusion::run_ddpm,
    },
    Recipe {
        name: "edm-digits",
        summary: "class-conditional DiT on the digits, EDM preconditioning and loss with CFG; FD \
                  and conditional accuracy per sampler",
        run: digits_diffusion::run_edm,
    },
    Recipe {
        name: "flow-digits",
        summary: "class-conditional DiT on the digits, flow matching (velocity) with CFG; FD and \
                  conditional accuracy per sampler",
        run: digits_diffusion::run_flow,
    },
];

/// Finds a recipe by name.
///
/// # Errors
/// An unknown name (the message lists the known ones).
pub fn find(name: &str) -> Result<&'static Recipe> {
    RECIPES.iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<_> = RECIPES.iter().map(|r| r.name).collect();
        TrainError::Invalid(format!(
            "unknown recipe '{name}' (known: {}; see cargo xtask list)",
            names.join(", ")
        ))
    })
}

/// Resolves a recipe's config: its defaults, then `--config FILE`, then command-line
/// overrides; on `--resume`, the run's own `config.json` replaces the defaults and file.
/// Every key must exist in the defaults, so a typo is an error, not a silent no-op.
///
/// # Errors
/// An unknown key, a value of the wrong type, an unreadable file.
pub fn resolve_config<C: Serialize + DeserializeOwned>(
    defaults: &C,
    base: Option<Value>,
    args: &TrainArgs,
) -> Result<C> {
    let mut config = serde_json::to_value(defaults).expect("configs serialise");
    if let Some(base) = base {
        overlay(&mut config, base, "config.json of the resumed run")?;
    } else if let Some(path) = &args.config_file {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let file: Value = serde_json::from_str(&text).map_err(|e| {
            TrainError::Invalid(format!("--config {}: not valid JSON: {e}", path.display()))
        })?;
        overlay(&mut config, file, &format!("--config {}", path.display()))?;
    }
    for (key, raw) in &args.overrides {
        let field = key.replace('-', "_");
        let Some(slot) = config.as_object_mut().and_then(|m| m.get_mut(&field)) else {
            return Err(TrainError::Invalid(format!(
                "unknown option --{key} (this recipe's options: {})",
                option_names(&config)
            )));
        };
        // A bare word that is not JSON is taken as a string: `--target moons`.
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone()));
        assign(slot, value, &format!("--{key}"))?;
    }
    serde_json::from_value(config).map_err(|e| TrainError::Invalid(format!("invalid config: {e}")))
}

fn option_names(config: &Value) -> String {
    config
        .as_object()
        .map(|m| m.keys().map(|k| format!("--{}", k.replace('_', "-"))).collect::<Vec<_>>())
        .unwrap_or_default()
        .join(", ")
}

fn overlay(config: &mut Value, patch: Value, source: &str) -> Result<()> {
    let Value::Object(patch) = patch else {
        return Err(TrainError::Invalid(format!("{source}: expected a JSON object")));
    };
    let target: &mut Map<String, Value> = config.as_object_mut().expect("configs are objects");
    for (key, value) in patch {
        match target.get_mut(&key) {
            Some(slot) => assign(slot, value, &format!("{source}: '{key}'"))?,
            None => {
                return Err(TrainError::Invalid(format!("{source}: unknown key '{key}'")));
            }
        }
    }
    Ok(())
}

/// Replaces `slot` with `value` if it has the same JSON kind (objects merge key by key), so
/// a wrong type is reported with the key's name rather than deep inside serde.
fn assign(slot: &mut Value, value: Value, name: &str) -> Result<()> {
    let wrong =
        |want: &str| Err(TrainError::Invalid(format!("{name} must be {want}, got {value}")));
    match (&*slot, &value) {
        (Value::Object(_), Value::Object(_)) => return overlay(slot, value, name),
        (Value::Number(n), Value::Number(v)) if n.is_u64() && !v.is_u64() => {
            return wrong("a whole number >= 0");
        }
        // An optional setting that defaults to none takes any value; serde checks its type.
        (Value::Null, _)
        | (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Array(_), Value::Array(_)) => {}
        (Value::Number(n), _) if n.is_u64() => return wrong("a whole number >= 0"),
        (Value::Number(_), _) => return wrong("a finite number"),
        (Value::String(_), _) => return wrong("a string"),
        (Value::Bool(_), _) => return wrong("true or false"),
        (Value::Array(_), _) => return wrong("a list"),
        _ => return wrong("an object"),
    }
    *slot = value;
    Ok(())
}

/// Runs a recipe short enough to need no checkpoints: refuses `--resume`, creates the run
/// directory, writes `config.json`, runs `body`, and removes the directory if `body` fails, so a
/// failed run leaves nothing half-written behind.
///
/// # Errors
/// `--resume`, I/O, or `body`'s error.
pub fn run_without_checkpoints<C: Serialize>(
    args: &TrainArgs,
    recipe: &str,
    config: &C,
    body: impl FnOnce(&RunDir) -> Result<()>,
) -> Result<()> {
    if args.resume.is_some() {
        return Err(TrainError::Invalid(format!(
            "{recipe} runs in under a minute and has no checkpoints to resume"
        )));
    }
    let run_dir = RunDir::create(args.out.as_deref(), recipe)?;
    write_json_atomic(&run_dir.file("config.json"), config)?;
    let result = body(&run_dir);
    if result.is_err() {
        run_dir.discard();
    }
    result
}

/// Cosine decay from `peak` to `floor` as `progress` runs from 0 to 1 [LOSHCHILOV17, Eq. 5].
pub fn cosine_decay(peak: f64, floor: f64, progress: f64) -> f64 {
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Adam with PyTorch's epsilon (Burn's default is 1e-5), so the PyTorch twins match.
pub fn adam() -> burn::optim::ModuleOptimizer {
    burn::optim::AdamConfig::new().with_epsilon(1e-8).init()
}

/// Checks that `value` is a positive finite number.
///
/// # Errors
/// A message naming `name` and the value.
pub fn check_positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(TrainError::Invalid(format!("{name} must be a positive number, got {value}")))
    }
}

/// Checks that a count is at least one.
///
/// # Errors
/// A message naming `name`.
pub fn check_count(name: &str, value: usize) -> Result<()> {
    if value == 0 {
        Err(TrainError::Invalid(format!("{name} must be at least 1, got 0")))
    } else {
        Ok(())
    }
}
