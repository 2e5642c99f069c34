//! Config resolution: a recipe's defaults, then `--config FILE`, then `--key value`
//! overrides (on `--resume`, the run's own `config.json` in place of the defaults and file).
//! Every key must exist in the defaults, so a typo is an error, not a silent no-op, and a
//! value of the wrong JSON kind is refused naming its key.

use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::collective::Group;
use crate::device::Backend;
use crate::error::{Result, TrainError, io_error};

/// The key of `config.json` that records the trainers' optimizer and learning-rate schedule.
/// It is derived from the rest of the config, so it is written but never read back.
pub const TRAINER_KEY: &str = "trainer";

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
    /// The data-parallel ranks this process trains with (`--distributed`; one alone by
    /// default).
    pub group: Group,
}

/// Resolves a recipe's config (see the module docs); `base` is a resumed run's
/// `config.json`.
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
        overlay(&mut config, without_trainer(base), "config.json of the resumed run")?;
    } else if let Some(path) = &args.config_file {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let file: Value = serde_json::from_str(&text).map_err(|e| {
            TrainError::Invalid(format!("--config {}: not valid JSON: {e}", path.display()))
        })?;
        overlay(&mut config, without_trainer(file), &format!("--config {}", path.display()))?;
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

/// A config file without the derived `trainer` record (so a run's `config.json` can be
/// passed back as `--config`).
fn without_trainer(mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.remove(TRAINER_KEY);
    }
    value
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
/// a wrong type is reported with the key's name rather than deep inside serde. A list takes
/// any list (its items are typed by the recipe's config), and an optional setting that
/// defaults to none takes any value.
fn assign(slot: &mut Value, value: Value, name: &str) -> Result<()> {
    let wrong =
        |want: &str| Err(TrainError::Invalid(format!("{name} must be {want}, got {value}")));
    match (&*slot, &value) {
        (Value::Object(_), Value::Object(_)) => return overlay(slot, value, name),
        (Value::Number(n), Value::Number(v)) if n.is_u64() && !v.is_u64() => {
            return wrong("a whole number >= 0");
        }
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
