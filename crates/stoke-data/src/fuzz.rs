//! Fuzz-style properties: hostile arguments (NaN, infinities, zero and huge sizes, mismatched
//! lengths, arbitrary text) into every public entry point (the plots exercise the private
//! tick and font code) give a typed error or a result of
//! the promised shape, never a panic.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use stoke_testkit::{hostile_f64, hostile_size};

use crate::captions::{DIGIT_NAMES, Templates, caption_classes};
use crate::chars::CharTokenizer;
use crate::corpus::{SlidingWindows, windows};
use crate::digits::{Digits, parse_csv, split_indices};
use crate::idx::{encode, parse_images, parse_labels};
use crate::image::{Rgb8Image, gray, grid};
use crate::plot::{line_plot, panels, scatter_over_density};
use crate::shapes::{MAX_SIDE, ShapesConfig, Split, parse_caption, parse_pair_caption, sample};
use crate::tasks::{Addition, MAX_EXAMPLES, Reversal, Sort};
use crate::text::{Special, TextTokenizer};
use crate::toy::{Toy, density_image};

/// Sizes around the largest plot.
fn size() -> impl Strategy<Value = usize> {
    hostile_size(crate::plot::MAX_SIZE_PX)
}

/// One small word-level tokenizer for all cases (training it per case would dominate).
fn tokenizer() -> &'static TextTokenizer {
    static TOKENIZER: std::sync::OnceLock<TextTokenizer> = std::sync::OnceLock::new();
    TOKENIZER.get_or_init(|| {
        TextTokenizer::word_level(&["a red square", "the digit seven, twice"], 1)
            .expect("a two-caption corpus trains")
    })
}

fn toy() -> impl Strategy<Value = Toy> {
    prop_oneof![
        Just(Toy::Moons),
        Just(Toy::EightGaussians),
        Just(Toy::Checkerboard),
        Just(Toy::Spirals)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn splits_are_total(
        labels in prop::collection::vec(0u8..4, 0..40),
        validation in hostile_f64(),
        test in hostile_f64(),
        seed in any::<u64>(),
    ) {
        if let Ok((train, held_out)) = split_indices(&labels, test, seed) {
            prop_assert_eq!(train.len() + held_out.len(), labels.len());
        }
        let digits = Digits {
            images: labels.iter().map(|&l| [f32::from(l) / 4.0; 64]).collect(),
            labels: labels.clone(),
        };
        if let Ok((a, b, c)) = digits.split3(validation, test, seed) {
            prop_assert_eq!(a.len() + b.len() + c.len(), labels.len());
            prop_assert!(validation > 0.0 && test > 0.0 && validation + test < 1.0);
        }
        let mismatched = Digits { images: digits.images.clone(), labels: vec![0; labels.len() + 1] };
        prop_assert!(mismatched.split(0.5, seed).is_err());
    }

    #[test]
    fn csv_parsing_is_total(text in "[0-9,.\\-\\n a-z]{0,300}") {
        if let Ok(digits) = parse_csv(&text) {
            prop_assert_eq!(digits.images.len(), digits.labels.len());
            prop_assert!(digits.labels.iter().all(|&l| l < 10));
        }
    }

    #[test]
    fn images_and_grids_are_total(
        n_images in 0usize..5,
        lengths in prop::collection::vec(0usize..10, 5),
        img_h in size(), img_w in size(), n_cols in size(), scale in size(),
        value in hostile_f64(),
        rect in prop::array::uniform4(size()),
    ) {
        let pixels: Vec<Vec<f32>> = (0..n_images).map(|i| vec![value as f32; lengths[i]]).collect();
        let images: Vec<&[f32]> = pixels.iter().map(Vec::as_slice).collect();
        if let Ok(image) = grid(&images, img_h, img_w, n_cols, scale) {
            prop_assert_eq!(image.pixels().len(), image.width() * image.height());
        }
        let _ = gray(value as f32);
        let mut canvas = Rgb8Image::new(7, 5, [0; 3]);
        canvas.fill_rect(rect[0], rect[1], rect[2], rect[3], [255; 3]);
        let other = Rgb8Image::new(rect[0].min(9), rect[1].min(9), [9; 3]);
        canvas.blit(&other, rect[2], rect[3]);
        prop_assert_eq!(canvas.pixels().len(), 35);
        let _ = panels(&[canvas.clone(), other], n_cols.min(8));
    }

    #[test]
    fn plots_and_ticks_are_total(
        target in size(),
        toy in toy(),
        bounds in prop::array::uniform4(hostile_f64()),
        resolution in prop_oneof![0usize..40, Just(1usize << 33)],
        points in prop::collection::vec((hostile_f64(), hostile_f64()), 0..12),
        size_px in size(),
        log_y in any::<bool>(),
    ) {
        let b = ([bounds[0] as f32, bounds[1] as f32], [bounds[2] as f32, bounds[3] as f32]);
        let mut rng = StdRng::seed_from_u64(0);
        let Ok(density) = density_image(toy, 50, &mut rng, b, resolution) else {
            prop_assert!(resolution > crate::plot::MAX_SIZE_PX);
            return Ok(());
        };
        prop_assert!(density.iter().all(|v| (0.0..=1.0).contains(v)));
        let xy: Vec<[f32; 2]> = points.iter().map(|&(x, y)| [x as f32, y as f32]).collect();
        let image = scatter_over_density(&density, resolution, b, &xy, "t", size_px);
        prop_assert_eq!(image.width(), image.height());
        let line = line_plot(&[("a", &points), ("b", &[])], "t", "x", "y", log_y,
            [size_px, target]);
        prop_assert!(line.width() > 0 && line.height() > 0);
    }

    #[test]
    fn idx_parsing_is_total(
        dims in prop::collection::vec(prop_oneof![0u32..4, Just(u32::MAX)], 0..4),
        data in prop::collection::vec(any::<u8>(), 0..40),
        cut in 0usize..64,
        noise in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let mut bytes = encode(&dims, &data);
        bytes.truncate(bytes.len().saturating_sub(cut % 5));
        for candidate in [&bytes, &noise] {
            if let Ok(images) = parse_images(candidate, std::path::Path::new("f")) {
                prop_assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
            }
            if let Ok(labels) = parse_labels(candidate, std::path::Path::new("f")) {
                prop_assert_eq!(labels.len() + 8, candidate.len());
            }
        }
    }

    #[test]
    fn token_batches_keep_their_frame(
        texts in prop::collection::vec("[a-z ,<>]{0,30}", 0..5),
        context in hostile_size(crate::text::MAX_CONTEXT),
    ) {
        let tokenizer = tokenizer();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let Ok(batch) = tokenizer.encode_batch(&texts, context) else {
            prop_assert!(texts.is_empty() || !(2..=crate::text::MAX_CONTEXT).contains(&context));
            return Ok(());
        };
        prop_assert_eq!(batch.ids.len(), texts.len() * context);
        let mask = batch.padding_mask();
        let mut dropped = 0;
        for (r, text) in texts.iter().enumerate() {
            let row = &batch.ids[r * context..(r + 1) * context];
            let n_tokens = tokenizer.encode(text).unwrap().len();
            dropped += n_tokens.saturating_sub(context - 2);
            prop_assert_eq!(batch.lengths[r], (n_tokens + 2).min(context));
            prop_assert_eq!(row[0], i64::from(Special::BOS_ID));
            prop_assert_eq!(row[batch.eos_positions()[r]], i64::from(Special::EOS_ID));
            for (position, &id) in row.iter().enumerate() {
                let is_pad = position >= batch.lengths[r];
                prop_assert_eq!(mask[r * context + position], is_pad);
                prop_assert_eq!(is_pad, id == i64::from(Special::PAD_ID));
            }
        }
        prop_assert_eq!(batch.dropped_tokens, dropped);
    }

    #[test]
    fn decoding_is_total(ids in prop::collection::vec(prop_oneof![0u32..20, any::<u32>()], 0..8)) {
        let tokenizer = tokenizer();
        let in_vocabulary = ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size());
        prop_assert_eq!(tokenizer.decode(&ids).is_ok(), in_vocabulary);
    }

    #[test]
    fn captioning_is_total(
        labels in prop::collection::vec(0u8..12, 0..30),
        fraction in hostile_f64(),
        seed in any::<u64>(),
    ) {
        let templates = Templates::digits().train;
        if let Ok(captions) = caption_classes(&labels, &DIGIT_NAMES, &templates, fraction, seed) {
            prop_assert!((0.0..=1.0).contains(&fraction));
            prop_assert!(labels.iter().all(|&l| l < 10));
            prop_assert_eq!(captions.captions.len(), labels.len());
        }
    }

    #[test]
    fn shapes_configs_and_caption_parsing_are_total(
        side in prop_oneof![hostile_size(MAX_SIDE), crate::shapes::MIN_SIDE..40],
        noise in hostile_f64(),
        caption in "(a |the )?(small |red |blue |tiny )*(square|circle|blob)( at the (top left|center|middle)| left of a red cross)?",
    ) {
        if let Ok(config) = ShapesConfig::new(side, noise as f32) {
            let images = config.draw_batch(&sample(2, 0, Split::HeldOut), 1);
            prop_assert_eq!(images.len(), 2 * config.image_len());
            prop_assert!(images.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        if let Ok(parsed) = parse_caption(&caption) {
            prop_assert!(caption.contains(parsed.shape.name()) && caption.contains(parsed.colour.name()));
        }
        let _ = parse_pair_caption(&caption);
    }

    #[test]
    fn char_tokenizers_are_total(vocabulary in "\\PC{0,12}", text in "\\PC{0,30}", ids in prop::collection::vec(prop_oneof![0u32..20, any::<u32>()], 0..8)) {
        let Ok(tokenizer) = CharTokenizer::from_texts(&[vocabulary.as_str()]) else {
            prop_assert!(vocabulary.is_empty());
            return Ok(());
        };
        let covered = text.chars().all(|c| vocabulary.contains(c));
        prop_assert_eq!(tokenizer.encode(&text).is_ok(), covered);
        let in_vocabulary = ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size());
        prop_assert_eq!(tokenizer.decode(&ids).is_ok(), in_vocabulary);
    }

    #[test]
    fn token_windows_are_total(
        lengths in prop::collection::vec(0usize..12, 0..4),
        context in hostile_size(16),
        index in hostile_size(16),
    ) {
        let streams: Vec<Vec<u32>> = lengths.iter().map(|&n| (0..n as u32).collect()).collect();
        if let Ok(cut) = windows(&streams, context) {
            prop_assert_eq!(cut.ids().len() + cut.dropped(), lengths.iter().sum::<usize>());
            prop_assert!(cut.rows().all(|row| row.len() == context));
        }
        if let Ok(all) = SlidingWindows::new(streams, context) {
            prop_assert!(!all.is_empty());
            prop_assert!(all.window(index).is_none_or(|window| window.len() == context));
        }
    }

    #[test]
    fn task_generators_are_total(
        length in hostile_size(Sort::MAX_LENGTH),
        max_value in prop_oneof![0u32..12, Just(u32::MAX)],
        width in hostile_size(Addition::MAX_WIDTH),
        n_train in hostile_size(MAX_EXAMPLES),
        n_test in hostile_size(MAX_EXAMPLES),
        n_both in hostile_size(8),
        seed in any::<u64>(),
    ) {
        if let Ok(task) = (Sort { length, max_value }).generate(n_train, n_test, seed) {
            prop_assert_eq!((task.train.len(), task.test.len()), (n_train, n_test));
        }
        if let Ok(task) = (Addition { width }).generate(n_train, n_test, seed) {
            prop_assert_eq!((task.train.len(), task.test.len()), (n_train, n_test));
        }
        if let Ok(task) = (Reversal { n_pairs: n_train, n_both }).generate(seed) {
            prop_assert_eq!(task.train.len(), n_train + n_both);
            prop_assert_eq!(task.reverse.len(), n_train - n_both);
        }
    }
}
