//! How many masked tokens each reverse step reveals: LLaDA's `get_num_transfer_tokens`
//! [NIE25, App. B.2] and the semi-autoregressive plan of blocks and steps.

use stoke_core::validate;

use crate::error::{DiscreteError, Result};

/// Splits `n_masked` tokens over `steps` reverse steps as evenly as possible, the remainder
/// going to the first steps: `base = n_masked / steps` each, and one more for each of the
/// first `n_masked % steps` steps (LLaDA's `get_num_transfer_tokens`). The counts sum to
/// `n_masked`, so the sequence is fully unmasked after the last step.
///
/// # Errors
/// `steps = 0`.
pub fn num_transfer_tokens(n_masked: usize, steps: usize) -> Result<Vec<usize>> {
    validate::size("steps", steps)?;
    let (base, remainder) = (n_masked / steps, n_masked % steps);
    Ok((0..steps).map(|step| base + usize::from(step < remainder)).collect())
}

/// The semi-autoregressive plan of LLaDA's sampler [NIE25, App. B.2]: `gen_length` tokens in
/// blocks of `block_length`, generated left to right, each block in `steps / n_blocks`
/// reverse steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPlan {
    /// Tokens to generate.
    pub gen_length: usize,
    /// Tokens per block.
    pub block_length: usize,
    /// Reverse steps in all.
    pub steps: usize,
}

impl BlockPlan {
    /// Checks the plan.
    ///
    /// # Errors
    /// A zero size; `block_length` not dividing `gen_length`
    /// ([`DiscreteError::BlockLength`]); `steps` not a positive multiple of the number of
    /// blocks ([`DiscreteError::Steps`]).
    pub fn new(gen_length: usize, block_length: usize, steps: usize) -> Result<Self> {
        validate::size("gen_length", gen_length)?;
        validate::size("block_length", block_length)?;
        if !gen_length.is_multiple_of(block_length) {
            return Err(DiscreteError::BlockLength { gen_length, block_length });
        }
        let blocks = gen_length / block_length;
        if steps == 0 || !steps.is_multiple_of(blocks) {
            return Err(DiscreteError::Steps { steps, blocks });
        }
        Ok(Self { gen_length, block_length, steps })
    }

    /// Number of blocks.
    pub fn n_blocks(&self) -> usize {
        self.gen_length / self.block_length
    }

    /// Reverse steps per block.
    pub fn steps_per_block(&self) -> usize {
        self.steps / self.n_blocks()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{BlockPlan, num_transfer_tokens};

    proptest! {
        /// The counts sum to the masked tokens, differ by at most one, and never increase.
        #[test]
        fn counts_sum_and_are_even(n_masked in 0usize..500, steps in 1usize..80) {
            let counts = num_transfer_tokens(n_masked, steps).unwrap();
            prop_assert_eq!(counts.len(), steps);
            prop_assert_eq!(counts.iter().sum::<usize>(), n_masked);
            prop_assert!(counts.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
        }
    }

    #[test]
    fn plans_that_do_not_divide_are_refused() {
        assert!(BlockPlan::new(32, 5, 8).is_err());
        assert!(BlockPlan::new(32, 8, 3).is_err());
        assert!(BlockPlan::new(32, 8, 2).is_err(), "fewer steps than blocks");
        assert!(num_transfer_tokens(3, 0).is_err());
        let plan = BlockPlan::new(32, 8, 16).unwrap();
        assert_eq!((plan.n_blocks(), plan.steps_per_block()), (4, 4));
    }
}
