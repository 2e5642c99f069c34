//! `catlip-digits`: CatLIP [MEHTA24, Sec. 3] on the 8x8 digits: the training captions'
//! content words form a label vocabulary (the class names and numerals, once the framing
//! words are removed), every step's captions become multi-hot targets, and the ViT with a
//! linear head over the vocabulary is pretrained with binary cross-entropy alone (no text
//! tower). Transfer, as in the paper: a linear probe on the frozen image features (trained
//! on the training split, chosen by nothing, scored on the test split), and zero-shot
//! classification by the labels that name each class ("seven" and "7": the mean of their
//! log-sigmoids).
//!
//! Metrics: `linear_probe_accuracy`, `zero_shot_accuracy` (test split), `labels` (the
//! vocabulary), `batch_size`, `steps`, `seconds`.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::loss::{CatlipLoss, LabelVocabulary};
use stoke_data::captions::{self, DIGIT_NAMES};
use stoke_data::digits::{self};
use stoke_nn::Vit;

use super::{Captioned, Captions, DigitSplits, Towers, warmup_cosine};
use crate::error::{Result, TrainError};
use crate::harness::{
    Entry, Family, Loss, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The linear probe's trainer.
const PROBE: &str = "probe";

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatlipConfig {
    /// Images per step.
    pub batch_size: usize,
    /// Pretraining steps.
    pub steps: usize,
    /// Linear-probe steps (full-batch-free minibatches of the frozen features).
    pub probe_steps: usize,
    /// Adam's peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Seed of the initialisation and the draws.
    pub seed: u64,
    /// Tower sizes (the text-tower fields are unused).
    pub towers: Towers,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for CatlipConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            steps: 1500,
            probe_steps: 500,
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
    name: "catlip-digits",
    family: Family::Contrastive,
    summary: "CatLIP: captions -> a label vocabulary, multi-label BCE pretraining of the ViT; \
              linear probe and zero-shot transfer by the class-name labels",
    run: |args| launch(&Catlip, args),
    check: |args| check(&Catlip, args),
    defaults: || defaults_json(&Catlip),
    tiny: &[
        ("steps", "40"),
        ("probe_steps", "40"),
        ("batch_size", "16"),
        ("warmup_steps", "5"),
        ("log_every", "10"),
        ("checkpoint_every", "40"),
        ("towers", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2}"#),
    ],
};

/// `catlip-digits`.
pub struct Catlip;

/// A ViT with a linear head over the label vocabulary.
#[derive(Module, Debug)]
pub struct Tagger {
    vit: Vit,
    head: Linear,
}

/// The splits, captions, vocabulary and each class's labels.
pub struct Prepared {
    train: Captioned,
    test: Captioned,
    captions: Captions,
    vocabulary: LabelVocabulary,
    class_labels: Vec<Vec<usize>>,
}

impl Recipe for Catlip {
    type Config = CatlipConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> CatlipConfig {
        CatlipConfig::default()
    }

    fn prepare(&self, c: &CatlipConfig) -> Result<Prepared> {
        let DigitSplits { train, test, captions, .. } = DigitSplits::load(&c.towers, c.batch_size)?;
        let prompts = captions::class_prompts(&captions.templates.train, &DIGIT_NAMES)?;
        let corpus: Vec<&str> = prompts.iter().flatten().map(String::as_str).collect();
        let vocabulary = LabelVocabulary::from_captions(&corpus, &[], 1)?;
        // A class's labels: the vocabulary words of its training captions.
        let class_labels = prompts
            .iter()
            .map(|p| {
                let mut labels: Vec<usize> =
                    p.iter().flat_map(|caption| positives(&vocabulary, caption)).collect();
                labels.sort_unstable();
                labels.dedup();
                labels
            })
            .collect();
        Ok(Prepared { train, test, captions, vocabulary, class_labels })
    }

    fn training(&self, c: &CatlipConfig) -> Vec<(String, TrainSpec)> {
        let spec = |steps| {
            warmup_cosine(steps, c.learning_rate, c.warmup_steps, c.seed)
                .every(c.log_every, c.checkpoint_every)
        };
        vec![(PRIMARY.into(), spec(c.steps)), (PROBE.into(), spec(c.probe_steps))]
    }

    fn run(&self, c: &CatlipConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let image = c.towers.config(1, digits::SIDE, p.captions.codec.vocab_size()).image;
        let n_labels = p.vocabulary.len();
        let tagger = run.fit(
            PRIMARY,
            |device| {
                let vit = image.init(device)?;
                Ok(Tagger { head: LinearConfig::new(vit.d_model(), n_labels).init(device), vit })
            },
            |model, batch| {
                let indices = rand::seq::index::sample(&mut batch.rng, p.train.len(), c.batch_size)
                    .into_vec();
                let mut targets = Vec::with_capacity(c.batch_size * n_labels);
                for &i in &indices {
                    let caption = p.captions.draw(p.train.caption_labels[i], &mut batch.rng)?;
                    targets.extend(p.vocabulary.targets(&caption));
                }
                let targets = Tensor::<2>::from_data(
                    TensorData::new(targets, [c.batch_size, n_labels]),
                    batch.device,
                );
                let logits = model
                    .head
                    .forward(model.vit.forward(p.train.images(&indices, batch.device), None)?);
                Ok(Loss::new(CatlipLoss.forward(logits, targets)?))
            },
        )?;
        let tagger = tagger.valid();
        let device = run.device().clone();
        let zero_shot_accuracy = zero_shot(&tagger, p, &device)?;
        let (train_features, d) = features(&tagger.vit, &p.train, &device)?;
        let probe = run.fit(
            PROBE,
            |device| Ok(LinearConfig::new(d, digits::N_CLASSES).init(device)),
            |probe: &Linear, batch| {
                let indices = rand::seq::index::sample(&mut batch.rng, p.train.len(), c.batch_size)
                    .into_vec();
                let x: Vec<f32> = indices
                    .iter()
                    .flat_map(|&i| train_features[i * d..(i + 1) * d].iter().copied())
                    .collect();
                let x =
                    Tensor::<2>::from_data(TensorData::new(x, [indices.len(), d]), batch.device);
                let y: Vec<i64> = indices.iter().map(|&i| p.train.labels[i] as i64).collect();
                let y =
                    Tensor::<1, Int>::from_data(TensorData::new(y, [indices.len()]), batch.device);
                Ok(Loss::new(
                    CrossEntropyLossConfig::new().init(batch.device).forward(probe.forward(x), y),
                ))
            },
        )?;
        let (test_features, _) = features(&tagger.vit, &p.test, &device)?;
        let x = Tensor::<2>::from_data(TensorData::new(test_features, [p.test.len(), d]), &device);
        let predicted = probe
            .valid()
            .forward(x)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        let linear_probe_accuracy = hits(&predicted, &p.test.labels);
        eprintln!(
            "{}: linear probe {linear_probe_accuracy:.4}, zero-shot by class labels {zero_shot_accuracy:.4}",
            run.dir().path().display()
        );
        Ok(metrics_map(json!({
            "linear_probe_accuracy": linear_probe_accuracy,
            "zero_shot_accuracy": zero_shot_accuracy,
            "labels": p.vocabulary.labels(),
            "batch_size": c.batch_size,
        })))
    }
}

/// The vocabulary indices a caption names.
fn positives(vocabulary: &LabelVocabulary, caption: &str) -> Vec<usize> {
    vocabulary
        .targets(caption)
        .iter()
        .enumerate()
        .filter(|&(_, &t)| t > 0.0)
        .map(|(i, _)| i)
        .collect()
}

/// The class whose labels' logits sum highest, for every test image.
fn zero_shot(tagger: &Tagger, p: &Prepared, device: &Device) -> Result<f64> {
    let indices: Vec<usize> = (0..p.test.len()).collect();
    let logits = tagger.head.forward(tagger.vit.forward(p.test.images(&indices, device), None)?);
    let n_labels = p.vocabulary.len();
    let logits = logits.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
    if p.class_labels.iter().any(Vec::is_empty) {
        return Err(TrainError::Invalid("a class has no label in the vocabulary".into()));
    }
    let predicted: Vec<i64> = logits
        .chunks(n_labels)
        .map(|row| {
            // The mean log-probability of the class's labels (log sigmoid of their logits), so
            // a class named by more labels is not favoured.
            let log_sigmoid = |l: f32| -(1.0 + (-l).exp()).ln();
            let score = |labels: &Vec<usize>| {
                labels.iter().map(|&l| log_sigmoid(row[l])).sum::<f32>() / labels.len() as f32
            };
            (0..p.class_labels.len())
                .max_by(|&a, &b| score(&p.class_labels[a]).total_cmp(&score(&p.class_labels[b])))
                .unwrap_or(0) as i64
        })
        .collect();
    Ok(hits(&predicted, &p.test.labels))
}

/// The frozen image features of a set, host-side, and their width.
fn features(vit: &Vit, set: &Captioned, device: &Device) -> Result<(Vec<f32>, usize)> {
    let indices: Vec<usize> = (0..set.len()).collect();
    let features = vit.forward(set.images(&indices, device), None)?;
    let [_, d] = features.dims();
    Ok((features.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default(), d))
}

fn hits(predicted: &[i64], labels: &[usize]) -> f64 {
    let n = predicted.iter().zip(labels).filter(|&(&p, &l)| p == l as i64).count();
    n as f64 / labels.len().max(1) as f64
}
