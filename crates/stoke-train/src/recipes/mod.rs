//! The recipes, one folder per library crate they demonstrate (`diffusion`, `estimators`,
//! `nn`, `contrastive`, `discrete`), one file per experiment. A recipe imports the harness, `eval`, its own family's
//! `mod.rs` and the library crates, never a sibling recipe.

pub mod contrastive;
pub mod diffusion;
pub mod discrete;
pub mod estimators;
pub mod nn;

use crate::error::{Result, TrainError};
use crate::harness::Entry;

/// Every recipe; the first is the default.
pub const RECIPES: [&Entry; 26] = [
    &diffusion::flow_2d::ENTRY,
    &diffusion::rectified_2d::ENTRY,
    &diffusion::digits_diffusion::ENTRIES[0],
    &diffusion::digits_diffusion::ENTRIES[1],
    &diffusion::digits_diffusion::ENTRIES[2],
    &estimators::soft_f1::ENTRIES[0],
    &estimators::soft_f1::ENTRIES[1],
    &estimators::bernoulli_toy::ENTRY,
    &estimators::vae_digits::ENTRY,
    &nn::digits_classifier::ENTRY,
    &contrastive::clip::ENTRIES[0],
    &contrastive::clip::ENTRIES[1],
    &contrastive::clip::ENTRIES[2],
    &contrastive::clip_shapes::ENTRY,
    &contrastive::dfn_digits::ENTRY,
    &contrastive::lit_digits::ENTRY,
    &contrastive::flip_digits::ENTRY,
    &contrastive::catlip_digits::ENTRY,
    &contrastive::blip::blip_shapes::ENTRY,
    &contrastive::blip::capfilt_shapes::ENTRY,
    &discrete::text_lm::ENTRIES[0],
    &discrete::text_lm::ENTRIES[1],
    &discrete::text_lm::ENTRIES[2],
    &discrete::text_lm::ENTRIES[3],
    &discrete::task_lm::ENTRIES[0],
    &discrete::task_lm::ENTRIES[1],
];

/// Finds a recipe by name.
///
/// # Errors
/// An unknown name (the message lists the known ones).
pub fn find(name: &str) -> Result<&'static Entry> {
    RECIPES.iter().copied().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<_> = RECIPES.iter().map(|r| r.name).collect();
        TrainError::Invalid(format!(
            "unknown recipe '{name}' (known: {}; see cargo xtask list)",
            names.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::RECIPES;

    /// The logs of the models a run trained: its `config.json` names its trainers (the
    /// primary one logs at the run's root, the others in sub-runs named after them).
    fn trainer_logs(dir: &Path) -> Vec<PathBuf> {
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        let Some(trainers) = config["trainer"].as_object() else { return Vec::new() };
        trainers
            .keys()
            .map(|name| {
                let sub = if name == crate::harness::PRIMARY {
                    dir.to_path_buf()
                } else {
                    dir.join(name)
                };
                sub.join("metrics.jsonl")
            })
            .collect()
    }

    /// `--data-dir` with a tiny Fashion-MNIST written beside the run (10 classes, 24
    /// training and 4 test images each, 28x28, a bright band at a class-dependent row) for
    /// the recipes that read it; nothing for the others.
    fn tiny_data_args(name: &str, out: &Path) -> Vec<String> {
        if !name.contains("fashion") {
            return Vec::new();
        }
        let dir = out.with_extension("data");
        std::fs::create_dir_all(&dir).unwrap();
        let write = |file: &str, per_class: u32| {
            let n = 10 * per_class;
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            let pixels: Vec<u8> = labels
                .iter()
                .enumerate()
                .flat_map(|(i, &c)| {
                    (0..28 * 28).map(move |p| {
                        let band = (p / 28) / 3 == usize::from(c) % 9;
                        if band { 200 + (i % 50) as u8 } else { ((p * 7 + i) % 23) as u8 }
                    })
                })
                .collect();
            let images = stoke_data::idx::encode(&[n, 28, 28], &pixels);
            std::fs::write(dir.join(format!("{file}-images-idx3-ubyte")), images).unwrap();
            let labels = stoke_data::idx::encode(&[n], &labels);
            std::fs::write(dir.join(format!("{file}-labels-idx1-ubyte")), labels).unwrap();
        };
        write("train", 24);
        write("t10k", 4);
        vec!["--data-dir".into(), dir.display().to_string()]
    }

    /// Every registered recipe runs its tiny config end to end, writes the common
    /// `metrics.json` keys, and every model it trains ends with a lower loss than it started.
    /// (A recipe that trains no model, `bernoulli-toy`, is checked by its own test.)
    #[test]
    fn every_recipe_runs_its_tiny_config_and_its_losses_fall() {
        for entry in RECIPES {
            let out = std::env::temp_dir().join(format!(
                "stoke-tiny-{}-{}",
                std::process::id(),
                entry.name
            ));
            let _ = std::fs::remove_dir_all(&out);
            let mut args = vec!["--tiny".to_string(), "--out".into(), out.display().to_string()];
            args.extend(tiny_data_args(entry.name, &out));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::train_for_test(entry.name, &args)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            let text = std::fs::read_to_string(out.join("metrics.json")).unwrap();
            let metrics: Value = serde_json::from_str(&text).unwrap();
            for key in ["recipe", "device", "steps", "train_seconds", "eval_seconds", "seconds"] {
                assert!(!metrics[key].is_null(), "{}: no {key} in {metrics}", entry.name);
            }
            assert_eq!(metrics["recipe"], entry.name);
            for log in trainer_logs(&out) {
                let losses: Vec<f64> = std::fs::read_to_string(&log)
                    .unwrap()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["loss"].as_f64())
                    .collect();
                assert!(losses.len() >= 2, "{}: {log:?} logs {losses:?}", entry.name);
                assert!(
                    losses[losses.len() - 1] < losses[0],
                    "{}: the loss in {log:?} did not fall: {losses:?}",
                    entry.name
                );
            }
            std::fs::remove_dir_all(&out).unwrap();
            let _ = std::fs::remove_dir_all(out.with_extension("data"));
        }
    }

    /// Values no config should take quietly: zero, negative, huge, non-finite, the wrong JSON
    /// kind.
    const HOSTILE: [&str; 13] = [
        "0",
        "1",
        "-1",
        "0.5",
        "1e308",
        "-1e308",
        "nan",
        "null",
        "[]",
        "{}",
        "true",
        "\"x\"",
        "18446744073709551615",
    ];

    /// Every option of every recipe (and every field of a nested option), set to each hostile
    /// value, is accepted or refused with one line by the checks a run makes before writing
    /// anything; never a panic.
    #[test]
    fn every_option_takes_hostile_values_without_a_panic() {
        for entry in RECIPES {
            let defaults = (entry.defaults)();
            let mut cases: Vec<(String, String)> = Vec::new();
            for (key, value) in defaults.as_object().unwrap() {
                for hostile in HOSTILE {
                    cases.push((key.clone(), hostile.to_string()));
                }
                if let Some(fields) = value.as_object() {
                    for field in fields.keys() {
                        for hostile in HOSTILE {
                            cases.push((key.clone(), format!("{{\"{field}\": {hostile}}}")));
                        }
                    }
                }
            }
            for (key, value) in cases {
                let args = crate::harness::TrainArgs {
                    backend: crate::device::Backend::Flex,
                    out: None,
                    config_file: None,
                    resume: None,
                    overrides: vec![(key.clone(), value.clone())],
                    group: crate::harness::Group::single(),
                };
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (entry.check)(&args)));
                let Ok(result) = outcome else {
                    panic!("{} --{key} {value}: panicked", entry.name)
                };
                if let Err(e) = result {
                    assert!(!e.to_string().contains('\n'), "{} --{key} {value}: {e}", entry.name);
                }
            }
        }
    }

    #[test]
    fn names_are_unique_and_every_family_has_a_recipe() {
        for (i, a) in RECIPES.iter().enumerate() {
            assert!(RECIPES[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
            assert!(!a.tiny.is_empty(), "{} has no tiny config", a.name);
        }
        for family in crate::harness::Family::ALL {
            assert!(RECIPES.iter().any(|r| r.family == family), "{family:?}");
        }
    }
}
