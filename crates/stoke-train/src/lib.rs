//! Stoke train.
