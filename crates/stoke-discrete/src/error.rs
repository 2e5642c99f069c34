//! The one error type of `stoke-discrete`: a variant per broken rule, naming the value.

use std::fmt;

use stoke_core::CoreError;
use stoke_nn::NnError;

/// Why a loss, sampler or estimator refused its input.
#[derive(Debug, Clone, PartialEq)]
pub enum DiscreteError {
    /// A rule of `stoke_core::validate` was broken (a zero size, a non-finite number).
    Core(CoreError),
    /// The network refused its input (see [`NnError`]).
    Nn(NnError),
    /// The mask token is not an id of the vocabulary.
    NoMaskToken {
        /// The mask id given.
        mask_id: i64,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A clean sequence held the mask token (data must never contain it).
    MaskInData {
        /// Its flat position.
        position: usize,
    },
    /// The generation length is not a whole number of blocks.
    BlockLength {
        /// Tokens to generate.
        gen_length: usize,
        /// Tokens per block.
        block_length: usize,
    },
    /// The steps cannot be split evenly over the blocks (at least one step per block).
    Steps {
        /// Sampling steps in all.
        steps: usize,
        /// Blocks.
        blocks: usize,
    },
    /// A prompt plus the generation does not fit the model's context.
    PromptTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// Tokens to generate.
        gen_length: usize,
        /// The model's longest row.
        context: usize,
    },
    /// A prompt (or answer) split was outside its row.
    PromptLength {
        /// The row.
        row: usize,
        /// The prompt length given.
        prompt: usize,
        /// The row's length.
        seq: usize,
    },
    /// Tensors or slices that must agree in shape did not.
    Shape {
        /// What was given.
        what: &'static str,
        /// The expected dimensions.
        expected: Vec<usize>,
        /// The dimensions given.
        got: Vec<usize>,
    },
    /// The cached predictor reuses a prediction at a later time: exact only for a denoiser
    /// that does not take the noise level.
    CacheNeedsTimeFreeDenoiser,
    /// A token id is not a state of the transition graph.
    IdOutOfRange {
        /// Its flat position.
        position: usize,
        /// The id given.
        id: i64,
        /// The number of states.
        dim: usize,
    },
    /// A total noise level was not positive and finite (the score entropy divides by
    /// `e^sigma - 1`).
    NoiseLevel {
        /// The row.
        row: usize,
        /// The value given.
        sigma: f64,
    },
}

impl fmt::Display for DiscreteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => write!(f, "{e}"),
            Self::Nn(e) => write!(f, "{e}"),
            Self::NoMaskToken { mask_id, vocab_size } => write!(
                f,
                "mask id {mask_id} is not in the vocabulary of {vocab_size} ids: masked \
                 diffusion needs a mask token"
            ),
            Self::MaskInData { position } => {
                write!(f, "the clean data holds the mask token at position {position}")
            }
            Self::BlockLength { gen_length, block_length } => {
                write!(f, "block_length {block_length} does not divide gen_length {gen_length}")
            }
            Self::Steps { steps, blocks } => write!(
                f,
                "steps {steps} must be a positive multiple of the number of blocks {blocks}"
            ),
            Self::PromptTooLong { prompt, gen_length, context } => write!(
                f,
                "a prompt of {prompt} tokens plus {gen_length} generated tokens exceeds the \
                 context of {context}"
            ),
            Self::PromptLength { row, prompt, seq } => {
                write!(f, "row {row}: a prompt of {prompt} tokens does not fit a row of {seq}")
            }
            Self::Shape { what, expected, got } => {
                write!(f, "{what}: expected shape {expected:?}, got {got:?}")
            }
            Self::CacheNeedsTimeFreeDenoiser => write!(
                f,
                "the cached predictor needs a denoiser without noise-level conditioning \
                 (its prediction is reused at later times)"
            ),
            Self::IdOutOfRange { position, id, dim } => write!(
                f,
                "position {position}: id {id} is not a state of a graph over {dim} states"
            ),
            Self::NoiseLevel { row, sigma } => {
                write!(
                    f,
                    "row {row}: the total noise sigma must be positive and finite, got {sigma}"
                )
            }
        }
    }
}

impl std::error::Error for DiscreteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Core(e) => Some(e),
            Self::Nn(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CoreError> for DiscreteError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

impl From<NnError> for DiscreteError {
    fn from(e: NnError) -> Self {
        Self::Nn(e)
    }
}

/// Result alias for `stoke-discrete`.
pub type Result<T, E = DiscreteError> = std::result::Result<T, E>;
