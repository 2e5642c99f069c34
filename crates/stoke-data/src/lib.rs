//! Offline data for Stoke: 2-D toy distributions, the 8x8 UCI digits, Fashion-MNIST,
//! procedural shapes, captions, a text corpus and synthetic text tasks, tokenizers, and
//! PNG pictures.
//!
//! # Design
//!
//! Everything a recipe needs to *see* and *feed* a small generative or contrastive model,
//! with no network and no tensor library: this crate does not depend on Burn, so it builds
//! quickly and its outputs are plain `Vec<[f32; 2]>`, `Vec<[f32; 64]>`, token ids as
//! `Vec<i64>` or `Vec<u32>`, strings and [`Rgb8Image`]. The trainer turns them into
//! tensors. The one large dataset, Fashion-MNIST, comes from a Debian package, never from
//! a download at run time.
//!
//! * [`toy`]: `8gaussians`, `moons`, `checkerboard`, `spirals` at torchcfm's scales, drawn
//!   from a caller-supplied [`rand::Rng`], plus a histogram of the target density.
//! * [`digits`]: scikit-learn's copy of the UCI handwritten digits, embedded with
//!   `include_bytes!` (57 KB gzip) and parsed at load time, with a seeded, stratified,
//!   rand-version-independent train/test split.
//! * [`fashion_mnist`]: Fashion-MNIST's 60,000 + 10,000 28x28 images, read from the IDX
//!   files that Debian's `dataset-fashion-mnist` installs, through [`idx`], the IDX
//!   reader (raw or gzip, every header field and the exact length checked).
//! * [`captions`]: prompt templates (training and held-out) filled with class names, and
//!   an exact, seeded fraction of wrong captions for caption-filtering experiments.
//! * [`shapes`]: procedural coloured shapes on black (one, or two side by side) with
//!   compositional captions, a held-out set of (colour, shape) combinations, and swapped
//!   captions for attribute-binding evaluation.
//! * [`corpus`]: *Moby-Dick*, embedded with `include_bytes!` (482 KB gzip), or a user's
//!   own UTF-8 file, with a fixed, RNG-free train/validation/test split into spans of
//!   the text, character counts for bits per character, and the windows of token ids
//!   that a language-model trainer draws ([`corpus::SlidingWindows`]) and scores
//!   ([`corpus::windows`]).
//! * [`chars`]: a character-level tokenizer with the fixed special ids, which refuses
//!   characters it has not seen instead of mapping them to `<unk>`.
//! * [`tasks`]: seeded synthetic tasks in a fixed text format (reversal of made-up
//!   parent facts, sorting, addition), with disjoint train and test prompts.
//! * [`text`]: word-level and byte-level BPE tokenizers trained locally with the
//!   `tokenizers` crate, fixed special ids, and padded [`TokenBatch`]es that count what
//!   truncation drops.
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
pub mod captions;
pub mod chars;
pub mod corpus;
pub mod digits;
mod error;
pub mod fashion_mnist;
pub mod idx;
pub mod image;
pub mod plot;
pub mod shapes;
mod splitmix;
pub mod tasks;
pub mod text;
pub mod toy;

pub use chars::CharTokenizer;
pub use corpus::{Corpus, CorpusSplits};
pub use error::DataError;
pub use image::Rgb8Image;
pub use text::{TextTokenizer, TokenBatch};
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
