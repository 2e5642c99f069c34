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
            Self::TooManySteps { inference, train } => {
                write!(f, "num_inference_steps ({inference}) exceeds num_train_timesteps ({train})")
            }
        }
    }
}

impl std::error::Error for CoreError {}

/// Result alias for `stoke-core`.
pub type Result<T> = std::result::Result<T, CoreError>;

/// Checks that `value` is finite.
pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() { Ok(value) } else { Err(CoreError::NonFinite { name, value }) }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64> {
    finite(name, value)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(CoreError::OutOfRange { name, value, range: "(0, inf)" })
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<f64> {
    finite(name, value)?;
    if value >= 0.0 {
        Ok(value)
    } else {
        Err(CoreError::OutOfRange { name, value, range: "[0, inf)" })
    }
}

/// Checks that a count is at least one.
pub(crate) fn nonzero(name: &'static str, value: usize) -> Result<usize> {
    if value == 0 { Err(CoreError::Zero { name }) } else { Ok(value) }
}

/// Checks `low < high` (both already finite).
pub(crate) fn ordered(
    low_name: &'static str,
    low: f64,
    high_name: &'static str,
    high: f64,
) -> Result<()> {
    if low < high { Ok(()) } else { Err(CoreError::Order { low_name, low, high_name, high }) }
}
