//! Errors of `stoke-estimators`: a variant per broken rule, naming the value.

use std::fmt;

/// Why an estimator refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum EstimatorError {
    /// A temperature that is not a positive finite number.
    Temperature(f64),
    /// A probability outside `[0, 1]` (or NaN).
    Probability(f64),
    /// A row of logits that is `-inf` everywhere: no category can be drawn.
    EmptyRow {
        /// The row's index in the batch.
        row: usize,
    },
    /// A leave-one-out baseline needs at least two samples per input.
    TooFewSamples {
        /// Samples given.
        got: usize,
    },
    /// A parameter outside its range.
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// No gradient reached the parameter a probe differentiates (the surrogate does not
    /// depend on it): an estimate of exactly zero would hide the bug.
    NoGradient,
    /// A least-squares fit whose parts are linearly dependent (or whose normal equations
    /// overflow): no unique weights.
    Singular,
    /// A rule of `stoke-core`'s validators was broken (a count, a range).
    Core(stoke_core::CoreError),
    /// Shapes that must agree did not.
    Shape {
        /// What was compared.
        what: &'static str,
        /// The expected dimensions.
        expected: Vec<usize>,
        /// The dimensions given.
        got: Vec<usize>,
    },
}

impl fmt::Display for EstimatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Temperature(tau) => {
                write!(f, "temperature tau must be a positive finite number, got {tau}")
            }
            Self::Probability(p) => write!(f, "probability must lie in [0, 1], got {p}"),
            Self::EmptyRow { row } => write!(f, "logits row {row} is -inf everywhere"),
            Self::TooFewSamples { got } => {
                write!(f, "a leave-one-out baseline needs at least 2 samples, got {got}")
            }
            Self::OutOfRange { name, value, range } => {
                write!(f, "{name} must lie in {range}, got {value}")
            }
            Self::Shape { what, expected, got } => {
                write!(f, "{what}: expected shape {expected:?}, got {got:?}")
            }
            Self::Singular => {
                write!(f, "the control-variate parts are linearly dependent: no unique weights")
            }
            Self::Core(e) => write!(f, "{e}"),
            Self::NoGradient => write!(f, "no gradient reached the probed parameter"),
        }
    }
}

impl std::error::Error for EstimatorError {}

impl From<stoke_core::CoreError> for EstimatorError {
    fn from(e: stoke_core::CoreError) -> Self {
        Self::Core(e)
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, EstimatorError>;

/// Checks that `got` has the dimensions `expected` has.
pub(crate) fn same_dims(what: &'static str, expected: &[usize], got: &[usize]) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(EstimatorError::Shape { what, expected: expected.to_vec(), got: got.to_vec() })
    }
}

/// Checks that a `[batch, categories]` tensor has at least one category (a batch may be
/// empty); returns the dimensions.
pub(crate) fn categorical(what: &'static str, dims: [usize; 2]) -> Result<[usize; 2]> {
    stoke_core::validate::count(what, dims[1])?;
    Ok(dims)
}

/// Checks a temperature.
pub(crate) fn temperature(tau: f64) -> Result<f64> {
    if tau.is_finite() && tau > 0.0 { Ok(tau) } else { Err(EstimatorError::Temperature(tau)) }
}
