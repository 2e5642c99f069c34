//! The trainer's error: every variant prints as one line naming the bad value.

use std::fmt;
use std::path::PathBuf;

/// Why a command could not run.
#[derive(Debug)]
pub enum TrainError {
    /// A command-line argument or config value was refused.
    Invalid(String),
    /// A file could not be read or written.
    Io {
        /// The path involved.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Math refused its input.
    Core(stoke_core::CoreError),
    /// Data could not be loaded or drawn.
    Data(stoke_data::DataError),
    /// A diffusion or flow method refused its input (bad shapes, grids, NaN from a network).
    Diffusion(stoke_diffusion::DiffusionError),
    /// A gradient estimator refused its input.
    Estimator(stoke_estimators::EstimatorError),
    /// A network config or input was refused.
    Nn(stoke_nn::NnError),
    /// A contrastive loss, model or evaluation refused its input.
    Contrastive(stoke_contrastive::ContrastiveError),
    /// A discrete-diffusion loss, sampler or estimator refused its input.
    Discrete(stoke_discrete::DiscreteError),
    /// A checkpoint could not be written or read back.
    Checkpoint(String),
    /// Data-parallel ranks disagree, left the job or stopped answering.
    Distributed(String),
    /// Training produced a non-finite loss; the last good checkpoint is kept.
    Diverged {
        /// The step whose loss was not finite.
        step: usize,
        /// The loss value.
        loss: f64,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(message) => f.write_str(message),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Core(e) => write!(f, "{e}"),
            Self::Data(e) => write!(f, "{e}"),
            Self::Diffusion(e) => write!(f, "{e}"),
            Self::Estimator(e) => write!(f, "{e}"),
            Self::Nn(e) => write!(f, "{e}"),
            Self::Contrastive(e) => write!(f, "{e}"),
            Self::Discrete(e) => write!(f, "{e}"),
            Self::Checkpoint(message) => write!(f, "checkpoint: {message}"),
            Self::Distributed(message) => write!(f, "distributed: {message}"),
            Self::Diverged { step, loss } => {
                write!(f, "loss became {loss} at step {step}; stopped, the last checkpoint is kept")
            }
        }
    }
}

impl std::error::Error for TrainError {}

impl From<stoke_core::CoreError> for TrainError {
    fn from(e: stoke_core::CoreError) -> Self {
        Self::Core(e)
    }
}

impl From<stoke_diffusion::DiffusionError> for TrainError {
    fn from(e: stoke_diffusion::DiffusionError) -> Self {
        Self::Diffusion(e)
    }
}

impl From<stoke_estimators::EstimatorError> for TrainError {
    fn from(e: stoke_estimators::EstimatorError) -> Self {
        Self::Estimator(e)
    }
}

impl From<stoke_nn::NnError> for TrainError {
    fn from(e: stoke_nn::NnError) -> Self {
        Self::Nn(e)
    }
}

impl From<stoke_contrastive::ContrastiveError> for TrainError {
    fn from(e: stoke_contrastive::ContrastiveError) -> Self {
        Self::Contrastive(e)
    }
}

impl From<stoke_discrete::DiscreteError> for TrainError {
    fn from(e: stoke_discrete::DiscreteError) -> Self {
        Self::Discrete(e)
    }
}

impl From<stoke_data::DataError> for TrainError {
    fn from(e: stoke_data::DataError) -> Self {
        Self::Data(e)
    }
}

/// Shorthand for an I/O error at `path`.
pub fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { path, source }
}

/// Result alias for the trainer.
pub type Result<T> = std::result::Result<T, TrainError>;
