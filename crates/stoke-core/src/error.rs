//! The one error type of `stoke-core`: a variant per broken rule, each naming the value.

use std::fmt;

/// Why a constructor or a conversion refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// A parameter was NaN or infinite.
    NonFinite {
        /// The parameter's name, as in the constructor's signature.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A parameter lay outside the range its formula is defined on.
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words (`"(0, 1]"`).
        range: &'static str,
    },
    /// A count (steps, samples, layers) was zero.
    Zero {
        /// The parameter's name.
        name: &'static str,
    },
    /// A lower bound was not below its upper bound.
    Order {
        /// The lower bound's name.
        low_name: &'static str,
        /// The lower bound's value.
        low: f64,
        /// The upper bound's name.
        high_name: &'static str,
        /// The upper bound's value.
        high: f64,
    },
    /// A sequence that must be monotone was not.
    NotMonotone {
        /// The sequence's name.
        name: &'static str,
        /// The first index at which the order breaks.
        index: usize,
    },
    /// Two inputs that must have the same length did not.
    LengthMismatch {
        /// What was compared.
        name: &'static str,
        /// The expected length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A conversion needs to divide by a quantity that is zero at this noise level
    /// (for example recovering `x0` from an `x0` prediction at `sigma = 0`).
    Degenerate {
        /// What could not be solved.
        what: &'static str,
    },
    /// A count was below its minimum.
    TooSmall {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: usize,
        /// The smallest value allowed.
        min: usize,
    },
    /// A size that must divide evenly did not.
    NotMultiple {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: usize,
        /// The name of what it must be a multiple of.
        of_name: &'static str,
        /// What it must be a multiple of.
        of: usize,
    },
    /// More inference steps were asked for than the schedule has training steps.
    TooManySteps {
        /// Inference steps asked for.
        inference: usize,
        /// Training steps available.
        train: usize,
    },
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFinite { name, value } => write!(f, "{name} must be finite, got {value}"),
            Self::OutOfRange { name, value, range } => {
                write!(f, "{name} must lie in {range}, got {value}")
            }
            Self::Zero { name } => write!(f, "{name} must be at least 1, got 0"),
            Self::Order { low_name, low, high_name, high } => {
                write!(f, "{low_name} ({low}) must be below {high_name} ({high})")
            }
            Self::NotMonotone { name, index } => {
                write!(f, "{name} must be monotone, broken at index {index}")
            }
            Self::LengthMismatch { name, expected, got } => {
                write!(f, "{name}: expected length {expected}, got {got}")
            }
            Self::Degenerate { what } => write!(f, "cannot {what} at this noise level"),
            Self::TooSmall { name, value, min } => {
                write!(f, "{name} must be at least {min}, got {value}")
            }
            Self::NotMultiple { name, value, of_name, of } => {
                write!(f, "{name} ({value}) must be a multiple of {of_name} ({of})")
            }
            Self::TooManySteps { inference, train } => {
                write!(f, "num_inference_steps ({inference}) exceeds num_train_timesteps ({train})")
            }
        }
    }
}

impl std::error::Error for CoreError {}

/// Result alias for `stoke-core`.
pub type Result<T> = std::result::Result<T, CoreError>;
