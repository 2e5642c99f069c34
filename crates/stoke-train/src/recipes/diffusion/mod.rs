//! Recipes that demonstrate `stoke-diffusion`: flow matching and rectified flow on 2-D toys,
//! and the digits DiT trained as DDPM, EDM and flow-matching models.

pub mod digits_diffusion;
pub mod flow_2d;
pub mod rectified_2d;

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use stoke_data::toy::{self, Toy};

use stoke_core::validate::at_least;
use stoke_nn::mlp::TimeMlpConfig;

use crate::error::{Result, TrainError};
use crate::eval::points::{Points, gaussian};

/// The checks every 2-D flow recipe makes: a 2-D network, at least two evaluation points and
/// a non-empty list of positive step counts.
///
/// # Errors
/// A message naming the bad value.
pub fn check_2d(model: &TimeMlpConfig, n_eval: usize, eval_nfe: &[usize]) -> Result<()> {
    model.validate()?;
    if model.dim != 2 {
        return Err(TrainError::Invalid(format!(
            "model.dim must be 2 for 2-D toy data, got {}",
            model.dim
        )));
    }
    at_least("n_eval", n_eval, 2)?;
    if eval_nfe.is_empty() || eval_nfe.contains(&0) {
        return Err(TrainError::Invalid(format!(
            "eval_nfe must be a non-empty list of positive step counts, got {eval_nfe:?}"
        )));
    }
    Ok(())
}

/// Where a 2-D flow starts: N(0, I) or a toy (JSON and the command line: `gaussian` or the
/// toy's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Source {
    /// The standard normal.
    Gaussian,
    /// A toy distribution.
    Toy(Toy),
}

impl Source {
    /// `n` points of the source.
    pub fn sample<R: Rng + ?Sized>(self, n: usize, rng: &mut R) -> Points {
        match self {
            Self::Gaussian => gaussian(n, rng),
            Self::Toy(t) => toy::sample(t, n, rng),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gaussian => f.write_str("gaussian"),
            Self::Toy(t) => f.write_str(t.name()),
        }
    }
}

impl FromStr for Source {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        if s == "gaussian" {
            return Ok(Self::Gaussian);
        }
        s.parse()
            .map(Self::Toy)
            .map_err(|e| TrainError::Invalid(format!("--source: {e} (or 'gaussian' for N(0, I))")))
    }
}

impl TryFrom<String> for Source {
    type Error = TrainError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Source> for String {
    fn from(source: Source) -> Self {
        source.to_string()
    }
}
