//! Offline data for Stoke: 2-D toy distributions, the 8x8 UCI digits, and PNG pictures.
//!
//! # Design
//!
//! Everything a recipe needs to *see* and *feed* a small generative model, with no network,
//! no files to download and no tensor library: this crate does not depend on Burn, so it
//! builds in seconds and its outputs are plain `Vec<[f32; 2]>`, `Vec<[f32; 64]>` and
//! [`Rgb8Image`]. The trainer turns them into tensors.
//!
//! * [`toy`]: `8gaussians`, `moons`, `checkerboard`, `spirals` at torchcfm's scales, drawn
//!   from a caller-supplied [`rand::Rng`], plus a histogram of the target density.
//! * [`digits`]: scikit-learn's copy of the UCI handwritten digits, embedded with
//!   `include_bytes!` (57 KB gzip) and parsed at load time, with a seeded, stratified,
//!   rand-version-independent train/test split.
//! * [`image`]: image grids and PNG files, written through [`atomic`] (temp file, then rename),
//!   the one atomic-write helper of the workspace.
//! * [`plot`]: scatter-over-density and line plots with a built-in bitmap font, so a run
//!   directory holds pictures a person can read without Python.
//!
//! Functions that take user data return [`DataError`] instead of panicking; plotting
//! functions accept anything (NaN, empty series, odd sizes) and draw what they can.
//!
//! # Example
//!
//! ```
//! use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION};
//! use stoke_data::image::save_grid;
//!
//! let all = digits::load()?;
//! let (train, test) = all.split(DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
//! assert_eq!(train.len() + test.len(), 1797);
//!
//! let first: Vec<&[f32]> = test.images.iter().take(32).map(|image| &image[..]).collect();
//! let path = std::env::temp_dir().join("stoke_data_doctest_digits.png");
//! save_grid(&path, &first, digits::SIDE, digits::SIDE, 8, 4)?;
//! assert!(path.exists());
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), stoke_data::DataError>(())
//! ```

pub mod atomic;
pub mod digits;
mod error;
pub mod image;
pub mod plot;
pub mod toy;

pub use error::DataError;
pub use image::Rgb8Image;
pub use toy::Toy;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod strategies;

/// A fresh, empty directory for one test, under the system temp dir.
#[cfg(test)]
fn test_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stoke-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temp dir is writable");
    dir
}
