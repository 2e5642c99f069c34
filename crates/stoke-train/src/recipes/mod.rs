//! The recipes, one folder per library crate they demonstrate (`diffusion`, `estimators`,
//! `nn`), one file per experiment. A recipe imports the harness, `eval`, its own family's
//! `mod.rs` and the library crates, never a sibling recipe.

pub mod diffusion;
pub mod estimators;
pub mod nn;

use crate::error::{Result, TrainError};
use crate::harness::Entry;

/// Every recipe; the first is the default.
pub const RECIPES: [&Entry; 9] = [
    &diffusion::flow_2d::ENTRY,
    &diffusion::rectified_2d::ENTRY,
    &diffusion::digits_diffusion::ENTRIES[0],
    &diffusion::digits_diffusion::ENTRIES[1],
    &diffusion::digits_diffusion::ENTRIES[2],
    &estimators::soft_f1::ENTRY,
    &estimators::bernoulli_toy::ENTRY,
    &estimators::vae_digits::ENTRY,
    &nn::digits_classifier::ENTRY,
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
