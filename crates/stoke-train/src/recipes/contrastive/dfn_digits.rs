//! `dfn-digits`: data filtering networks [FANG23, Sec. 3] on the 8x8 digits with a chosen fraction
//! of wrong captions (each wrong caption names another class, uniformly). A filter model
//! (CLIP) is trained on a clean subset (`clean_fraction` of the training split, whose
//! captions are verified); it scores every noisy pair by the cosine similarity of the
//! image and its caption; the top `keep_fraction` are kept; then a model trained on the
//! kept pairs is compared with one trained on all noisy pairs, with the same steps.
//!
//! Metrics: `unfiltered_accuracy` and `filtered_accuracy` (zero-shot on the test split with
//! held-out templates; `zero_shot_accuracy` is the filtered one), `filter_precision` and
//! `filter_recall` at flagging wrong captions (flagged = not kept; the data has ground
//! truth), `kept`, `wrong_fraction_kept`, `filter_accuracy` (the filter model's own
//! zero-shot accuracy), `retrieval` of the filtered model, `batch_size`, `steps`, `seconds`.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::ContrastiveModel;
use stoke_core::validate;
use stoke_data::captions::{self, DIGIT_NAMES};
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED};

use super::{
    Captioned, Captions, DigitSplits, LossKind, Stage, Towers, embed_images, embed_texts,
    fit_pairs, frozen, loss_config, precision_recall, retrieval_on, warmup_cosine, zero_shot,
};
use crate::error::Result;
use crate::harness::{
    Entry, Family, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The filter model's trainer.
const FILTER: &str = "filter";
/// The model trained on every noisy pair.
const UNFILTERED: &str = "unfiltered";

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DfnConfig {
    /// Fraction of training captions that name a wrong class.
    pub wrong_fraction: f64,
    /// Fraction of the training split whose captions are verified clean (the filter's data).
    pub clean_fraction: f64,
    /// Fraction of the noisy pairs the filter keeps.
    pub keep_fraction: f64,
    /// The loss of all three models.
    pub loss: LossKind,
    /// Pairs per step.
    pub batch_size: usize,
    /// Steps of the filter model.
    pub filter_steps: usize,
    /// Steps of each compared model (unfiltered and filtered).
    pub steps: usize,
    /// Adam's peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Seed of the captions, the clean subset, the initialisations and the draws.
    pub seed: u64,
    /// Tower sizes.
    pub towers: Towers,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for DfnConfig {
    fn default() -> Self {
        Self {
            wrong_fraction: 0.4,
            clean_fraction: 0.1,
            keep_fraction: 0.5,
            loss: LossKind::Clip,
            batch_size: 64,
            filter_steps: 800,
            steps: 1200,
            learning_rate: 1e-3,
            warmup_steps: 100,
            seed: 0,
            towers: Towers::DIGITS,
            log_every: 50,
            checkpoint_every: 500,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "dfn-digits",
    family: Family::Contrastive,
    summary: "DFN-style filtering: 40% wrong digit captions, a filter trained on a clean 10%, \
              keep the top half, retrain; filtered vs unfiltered zero-shot, filter precision/recall",
    run: |args| launch(&Dfn, args),
    check: |args| check(&Dfn, args),
    defaults: || defaults_json(&Dfn),
    tiny: &[
        ("steps", "30"),
        ("filter_steps", "30"),
        ("batch_size", "16"),
        ("warmup_steps", "5"),
        ("log_every", "10"),
        ("checkpoint_every", "30"),
        ("towers", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2, "d_embed": 16}"#),
    ],
};

/// `dfn-digits`.
pub struct Dfn;

/// The noisy training pairs, their fixed captions, the clean subset and the evaluation sets.
pub struct Prepared {
    noisy: Captioned,
    noisy_captions: Vec<String>,
    wrong: Vec<bool>,
    clean: Captioned,
    validation: Captioned,
    test: Captioned,
    captions: Captions,
}

impl Recipe for Dfn {
    type Config = DfnConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> DfnConfig {
        DfnConfig::default()
    }

    fn prepare(&self, c: &DfnConfig) -> Result<Prepared> {
        validate::in_range("clean_fraction", c.clean_fraction, 0.0, 1.0, "(0, 1]")?;
        validate::in_range("keep_fraction", c.keep_fraction, 0.0, 1.0, "(0, 1]")?;
        loss_config(c.loss, -10.0, true, None).validate()?;
        let DigitSplits { train, validation, test, captions } =
            DigitSplits::load(&c.towers, c.batch_size)?;
        let labels: Vec<u8> = train.labels.iter().map(|&l| l as u8).collect();
        let drawn = captions::caption_classes(
            &labels,
            &DIGIT_NAMES,
            &captions.templates.train,
            c.wrong_fraction,
            c.seed,
        )?;
        let noisy = Captioned {
            caption_labels: drawn.caption_labels.iter().map(|&l| usize::from(l)).collect(),
            ..train
        };
        let n_clean = ((c.clean_fraction * noisy.len() as f64).round() as usize).max(1);
        let clean_indices = every_kth(noisy.len(), n_clean);
        let mut clean = noisy.select(&clean_indices);
        clean.caption_labels = clean.labels.clone();
        let n_kept = (c.keep_fraction * noisy.len() as f64).round() as usize;
        validate::at_least("clean pairs (for batch_size)", clean.len(), c.batch_size)?;
        validate::at_least("kept pairs (for batch_size)", n_kept, c.batch_size)?;
        Ok(Prepared {
            noisy,
            noisy_captions: drawn.captions,
            wrong: drawn.wrong,
            clean,
            validation,
            test,
            captions,
        })
    }

    fn training(&self, c: &DfnConfig) -> Vec<(String, TrainSpec)> {
        let spec = |steps| {
            warmup_cosine(steps, c.learning_rate, c.warmup_steps, c.seed)
                .every(c.log_every, c.checkpoint_every)
        };
        vec![
            (FILTER.into(), spec(c.filter_steps)),
            (UNFILTERED.into(), spec(c.steps)),
            (PRIMARY.into(), spec(c.steps)),
        ]
    }

    fn run(&self, c: &DfnConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let vocab = p.captions.codec.vocab_size();
        let loss = loss_config(c.loss, -10.0, true, None);
        let init = |device: &Device| -> Result<ContrastiveModel> {
            let towers = c.towers.config(1, digits::SIDE, vocab).init(device)?;
            Ok(ContrastiveModel { towers, loss: loss.init(device)? })
        };
        let stage = |train| Stage {
            train,
            batch_size: c.batch_size,
            masking: None,
            eval_every: 0,
            validation: &p.validation,
        };
        let filter = frozen(&fit_pairs(run, FILTER, &stage(&p.clean), &p.captions, init)?);
        let device = run.device().clone();
        // The filter's score of each noisy pair: cosine similarity of image and caption.
        let image = embed_images(&filter.towers, &p.noisy, &device)?;
        let text = embed_texts(&filter.towers, &p.captions.codec, &p.noisy_captions, &device)?;
        let scores: Vec<f32> = (image * text)
            .sum_dim(1)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        if let Some(&bad) = scores.iter().find(|s| !s.is_finite()) {
            validate::finite("filter score", f64::from(bad))?;
        }
        let n_kept = (c.keep_fraction * p.noisy.len() as f64).round() as usize;
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut kept_indices = order[..n_kept].to_vec();
        kept_indices.sort_unstable();
        let kept = p.noisy.select(&kept_indices);
        let flagged: Vec<bool> = {
            let mut flagged = vec![true; p.noisy.len()];
            kept_indices.iter().for_each(|&i| flagged[i] = false);
            flagged
        };
        let (precision, recall) = precision_recall(&flagged, &p.wrong);
        let unfiltered = frozen(&fit_pairs(run, UNFILTERED, &stage(&p.noisy), &p.captions, init)?);
        let filtered = frozen(&fit_pairs(run, PRIMARY, &stage(&kept), &p.captions, init)?);
        let held_out = &p.captions.templates.held_out;
        let accuracy =
            |m: &ContrastiveModel| zero_shot(&m.towers, &p.captions, held_out, &p.test, &device);
        let (filter_accuracy, unfiltered_accuracy, filtered_accuracy) =
            (accuracy(&filter)?, accuracy(&unfiltered)?, accuracy(&filtered)?);
        let retrieval =
            retrieval_on(&filtered.towers, &p.captions, &p.test, DEFAULT_SPLIT_SEED, &device)?;
        let wrong_kept =
            kept_indices.iter().filter(|&&i| p.wrong[i]).count() as f64 / n_kept.max(1) as f64;
        eprintln!(
            "{}: zero-shot unfiltered {unfiltered_accuracy:.4}, filtered {filtered_accuracy:.4}; \
             filter precision {precision:.3}, recall {recall:.3}",
            run.dir().path().display()
        );
        Ok(metrics_map(json!({
            "zero_shot_accuracy": filtered_accuracy,
            "filtered_accuracy": filtered_accuracy,
            "unfiltered_accuracy": unfiltered_accuracy,
            "filter_accuracy": filter_accuracy,
            "filter_precision": precision,
            "filter_recall": recall,
            "kept": n_kept,
            "noisy_pairs": p.noisy.len(),
            "clean_pairs": p.clean.len(),
            "wrong_fraction_kept": wrong_kept,
            "retrieval": retrieval,
            "batch_size": c.batch_size,
        })))
    }
}

/// `k` indices spread evenly over `0..n` (a fixed, class-balanced-in-expectation subset).
fn every_kth(n: usize, k: usize) -> Vec<usize> {
    (0..k).map(|i| i * n / k).collect()
}
