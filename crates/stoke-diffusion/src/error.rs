//! The one error type of `stoke-diffusion`: a variant per broken rule, naming the value.

use std::fmt;

use stoke_core::CoreError;

/// Why a denoiser, sampler, loss or path sampler refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum DiffusionError {
    /// A rule of `stoke-core` was broken (a schedule, conversion or OT input).
    Core(CoreError),
    /// Shapes that must agree did not.
    Shape {
        /// What was compared (`"denoiser output"`, `"x1"`).
        what: &'static str,
        /// The expected dimensions.
        expected: Vec<usize>,
        /// The dimensions given.
        got: Vec<usize>,
    },
    /// A list that must have one entry per batch row (or exactly one entry) did not.
    Length {
        /// What was given (`"sigma"`, `"t"`).
        what: &'static str,
        /// The batch size.
        batch: usize,
        /// The length given.
        got: usize,
    },
    /// A parameter was NaN, infinite or outside its range.
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// A noise-level grid was empty.
    EmptyGrid,
    /// A grid that must be strictly monotone was not.
    NotMonotone {
        /// The grid's name.
        name: &'static str,
        /// The first index at which the order breaks.
        index: usize,
    },
    /// The network returned NaN or infinity.
    NonFiniteOutput {
        /// The sampler step (or loss) at which it happened; `usize::MAX` for a loss.
        step_idx: usize,
        /// The noise level (or time) of the call.
        noise_level: f64,
    },
    /// A sampler's state held NaN or infinity: the starting point given, or the result when
    /// a step overflowed although every network output was finite.
    NonFiniteState {
        /// `"the starting point"` or `"the result"`.
        which: &'static str,
    },
    /// Class labels (guidance) were given to a model without class conditioning.
    Unconditional,
    /// An adaptive solver took more steps than allowed.
    TooManySteps {
        /// The step budget.
        max_steps: usize,
        /// The noise level (or time) reached.
        reached: f64,
    },
    /// A loss was given a model that predicts another target.
    WrongPrediction {
        /// The prediction the loss trains.
        expected: stoke_core::param::Prediction,
        /// The model's prediction.
        got: stoke_core::param::Prediction,
    },
    /// Gradients were unavailable for a divergence (the input was not tracked).
    NoGradient,
    /// A timestep grid was asked for without a discrete schedule to take the steps of.
    NoSchedule,
    /// A sampler name that is not one of the short names.
    UnknownSampler {
        /// The name given.
        name: String,
        /// The names understood.
        known: String,
    },
    /// An entropic OT solve stopped at its iteration cap with the marginals still off.
    NotConverged {
        /// What was solved.
        what: &'static str,
        /// Iterations run.
        iterations: usize,
        /// The largest marginal error left.
        error: f64,
    },
}

impl fmt::Display for DiffusionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => write!(f, "{e}"),
            Self::Shape { what, expected, got } => {
                write!(f, "{what}: expected shape {expected:?}, got {got:?}")
            }
            Self::Length { what, batch, got } => {
                write!(f, "{what}: expected 1 or {batch} values (one per row), got {got}")
            }
            Self::OutOfRange { name, value, range } => {
                write!(f, "{name} must lie in {range}, got {value}")
            }
            Self::EmptyGrid => write!(f, "the noise-level grid is empty"),
            Self::NotMonotone { name, index } => {
                write!(f, "{name} must be strictly monotone, broken at index {index}")
            }
            Self::NonFiniteOutput { step_idx, noise_level } => write!(
                f,
                "the network returned NaN or infinity at step {step_idx} (noise level {noise_level})"
            ),
            Self::NonFiniteState { which } => {
                write!(f, "the sampler's state holds NaN or infinity: {which}")
            }
            Self::Unconditional => {
                write!(f, "class labels were given to a model without class conditioning")
            }
            Self::TooManySteps { max_steps, reached } => {
                write!(f, "the adaptive solver used its {max_steps} steps, stopping at {reached}")
            }
            Self::WrongPrediction { expected, got } => {
                write!(f, "this loss trains a {expected} prediction, the model predicts {got}")
            }
            Self::NoGradient => write!(f, "no gradient reached the input of the divergence"),
            Self::NoSchedule => {
                write!(f, "a timestep grid needs a discrete schedule to take its steps from")
            }
            Self::UnknownSampler { name, known } => {
                write!(f, "sampler '{name}' is not known ({known})")
            }
            Self::NotConverged { what, iterations, error } => write!(
                f,
                "{what} did not converge in {iterations} iterations (marginal error {error:.3e})"
            ),
        }
    }
}

impl std::error::Error for DiffusionError {}

impl From<CoreError> for DiffusionError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, DiffusionError>;
