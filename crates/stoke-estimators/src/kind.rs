//! The built-in estimators as one serialisable enum, for configs and recipes that pick one
//! by name (`--estimator st-gumbel`) and for loops over all of them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An estimator of the gradient through a discrete (or Gaussian) latent, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorKind {
    /// The Gumbel-softmax relaxation [JANG17, Eq. 1] ([`crate::gumbel::gumbel_softmax`]).
    Gumbel,
    /// Straight-through Gumbel-softmax: one-hot forward, relaxed backward [JANG17, Sec. 2.2].
    StGumbel,
    /// Straight-through argmax of a Gumbel-max sample with the softmax's gradient
    /// [BENGIO13, Sec. 4] ([`crate::straight_through`]).
    St,
    /// REINFORCE, the score function [WILLIAMS92, Eq. 11].
    Reinforce,
    /// REINFORCE with the leave-one-out baseline [KOOL19, Eq. 8].
    Rloo,
    /// REINFORCE with a learned baseline `b(x)` [MNIH14, Sec. 2.3].
    Nvil,
    /// REBAR's control variate [TUCKER17, Eq. 4].
    Rebar,
    /// RELAX's learned control variate [GRATHWOHL18, Sec. 3.3].
    Relax,
    /// Gaussian reparameterisation [KINGMA14, Sec. 2.4] (a continuous latent, the reference).
    Gaussian,
}

impl EstimatorKind {
    /// Every estimator.
    pub const ALL: [EstimatorKind; 9] = [
        Self::Gumbel,
        Self::StGumbel,
        Self::St,
        Self::Reinforce,
        Self::Rloo,
        Self::Nvil,
        Self::Rebar,
        Self::Relax,
        Self::Gaussian,
    ];

    /// The name in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gumbel => "gumbel",
            Self::StGumbel => "st-gumbel",
            Self::St => "st",
            Self::Reinforce => "reinforce",
            Self::Rloo => "rloo",
            Self::Nvil => "nvil",
            Self::Rebar => "rebar",
            Self::Relax => "relax",
            Self::Gaussian => "gaussian",
        }
    }

    /// Whether it is a score-function estimator (REINFORCE and its baselines).
    pub fn is_score_function(self) -> bool {
        matches!(self, Self::Reinforce | Self::Rloo | Self::Nvil)
    }

    /// Whether it uses REBAR's or RELAX's control variate (and decodes `b`, `z` and `z~`).
    pub fn is_controlled(self) -> bool {
        matches!(self, Self::Rebar | Self::Relax)
    }

    /// Whether it is unbiased for the discrete objective (the relaxations and straight-through
    /// estimators are biased).
    pub fn is_unbiased(self) -> bool {
        self.is_score_function() || self.is_controlled() || self == Self::Gaussian
    }
}

impl fmt::Display for EstimatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_names() {
        for kind in EstimatorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<EstimatorKind>(&json).unwrap(), kind);
        }
        assert!(serde_json::from_str::<EstimatorKind>("\"magic\"").is_err());
    }
}
