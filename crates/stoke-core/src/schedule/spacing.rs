//! Which training timesteps an `n`-step sampler visits (diffusers' `timestep_spacing`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::validate::{count, size};

/// How inference timesteps are spread over the training grid [LIN24, Table 2] (JSON:
/// diffusers' names, `"leading"`, `"linspace"`, `"trailing"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestepSpacing {
    /// `0, r, 2r, ...` with `r = T div n`, plus `steps_offset` (DDIM's original choice).
    #[serde(alias = "Leading")]
    Leading,
    /// `round(linspace(0, T - 1, n))`: both ends included.
    #[serde(alias = "Linspace")]
    Linspace,
    /// `round(T - k T / n) - 1` for `k = 0..n`: always starts at the last step `T - 1`,
    /// which a zero-terminal-SNR schedule needs [LIN24, Sec. 3.3].
    #[serde(alias = "Trailing")]
    Trailing,
}

impl TimestepSpacing {
    /// Every spacing.
    pub const ALL: [TimestepSpacing; 3] = [Self::Leading, Self::Linspace, Self::Trailing];

    /// diffusers' name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Leading => "leading",
            Self::Linspace => "linspace",
            Self::Trailing => "trailing",
        }
    }
}

impl fmt::Display for TimestepSpacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TimestepSpacing {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            format!("unknown spacing '{s}' (expected leading, linspace or trailing)")
        })
    }
}

/// The training timesteps, in descending order, that an `n_inference`-step sampler visits
/// on a `n_train`-step schedule, as diffusers' `DDIMScheduler.set_timesteps` gives them.
///
/// `steps_offset` is added by the `leading` spacing only, as in diffusers.
///
/// # Errors
/// Zero steps of either kind; `n_inference > n_train`; a `steps_offset` that pushes the
/// largest timestep past the schedule (diffusers would index out of range there).
pub fn timesteps(
    n_train: usize,
    n_inference: usize,
    spacing: TimestepSpacing,
    steps_offset: usize,
) -> Result<Vec<usize>> {
    size("num_train_timesteps", n_train)?;
    count("num_inference_steps", n_inference)?;
    if n_inference > n_train {
        return Err(CoreError::TooManySteps { inference: n_inference, train: n_train });
    }
    let steps: Vec<usize> = match spacing {
        TimestepSpacing::Leading => {
            let ratio = n_train / n_inference;
            (0..n_inference).rev().map(|k| k * ratio + steps_offset).collect()
        }
        TimestepSpacing::Linspace => {
            let last = (n_train - 1) as f64;
            let step = if n_inference > 1 { last / (n_inference - 1) as f64 } else { 0.0 };
            // round half to even, as numpy's round does.
            (0..n_inference).rev().map(|k| (k as f64 * step).round_ties_even() as usize).collect()
        }
        TimestepSpacing::Trailing => {
            let ratio = n_train as f64 / n_inference as f64;
            (0..n_inference)
                .map(|k| (n_train as f64 - k as f64 * ratio).round_ties_even() as usize - 1)
                .collect()
        }
    };
    if let Some(&largest) = steps.first()
        && largest >= n_train
    {
        return Err(CoreError::OutOfRange {
            name: "steps_offset",
            value: steps_offset as f64,
            range: "small enough that every timestep is below num_train_timesteps",
        });
    }
    Ok(steps)
}
