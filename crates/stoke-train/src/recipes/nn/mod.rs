//! Recipes that train `stoke-nn`'s networks for their own sake.

pub mod digits_classifier;
