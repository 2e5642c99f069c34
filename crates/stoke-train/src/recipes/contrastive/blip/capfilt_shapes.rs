//! `capfilt-shapes`: BLIP's CapFilt [LI22, Sec. 3.3] run end to end. A fixed training set
//! of single shapes carries "web" captions, a chosen fraction of them wrong (the caption of
//! a scene that differs in colour, shape or position); a small clean subset has verified
//! captions (the human-annotated set). Then:
//!
//! 1. `noisy`: BLIP pre-trained (ITC + ITM + LM) on the web pairs and the clean pairs.
//! 2. `captioner` (LM) and `filter` (ITC + ITM): each fine-tuned from `noisy` on the clean
//!    pairs.
//! 3. The captioner writes one synthetic caption per training image by nucleus sampling;
//!    the filter drops every web and synthetic caption whose ITM match probability is not
//!    above `filter_threshold`.
//! 4. Fresh models pre-train, with `noisy`'s steps, on the bootstrapped sets: kept web +
//!    kept synthetic (`model`, the run's root: both), all web + all synthetic
//!    (`captioner_only`), kept web (`filter_only`); each with the clean pairs, as BLIP's
//!    bootstrapped set keeps the human-annotated one.
//!
//! Metrics: `noisy` and `bootstrapped` (each with `retrieval` (ITM-reranked), `retrieval_itc`,
//! `itm_accuracy`, `zero_shot_accuracy`, `caption_accuracy`, `held_out_caption_accuracy`,
//! `standard_errors`, as `blip-shapes` has them), `ablation` (`captioner_only`,
//! `filter_only`, `both`: the same figures), the top-level `retrieval`, `itm_accuracy`,
//! `caption_accuracy` of the bootstrapped model, `filter_precision` and `filter_recall` at
//! flagging wrong web captions (flagged = dropped), `kept_web` and `kept_synthetic`
//! (captions kept), `synthetic_accuracy` (the share of synthetic captions that are right)
//! and `kept_synthetic_accuracy`, `wrong_fraction_kept_web`. Pictures: `captions.png`
//! (the bootstrapped model), `capfilt.png` (training images with their web and synthetic
//! captions, each with its ITM score and whether the filter kept it), `loss.png`.

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::blip::{Blip, Objectives};
use stoke_core::validate;
use stoke_data::image::Rgb8Image;
use stoke_data::plot::{draw_text, text_height};
use stoke_data::shapes::{self, Scene, ShapesConfig, Split};

use super::{
    Decoding, EvalSets, Evaluation, ModelSizes, Text, describes, evaluate, frozen, match_scores,
    other_scene, paint_image, sample_captions, save_captions, step,
};
use crate::error::Result;
use crate::harness::{
    Entry, Family, OptimizerConfig, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch,
    metrics_map,
};
use crate::recipes::contrastive::{precision_recall, warmup_cosine};

/// Seed of the evaluation draws (fixed, apart from every training draw).
const EVAL_SEED: u64 = 0xcab_f117;
/// The model pre-trained on the noisy web pairs.
const NOISY: &str = "noisy";
/// The captioner, fine-tuned from `noisy` with LM.
const CAPTIONER: &str = "captioner";
/// The filter, fine-tuned from `noisy` with ITC and ITM.
const FILTER: &str = "filter";
/// Pre-trained on every web and every synthetic caption.
const CAPTIONER_ONLY: &str = "captioner_only";
/// Pre-trained on the kept web captions.
const FILTER_ONLY: &str = "filter_only";

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapfiltConfig {
    /// Training images.
    pub n_train: usize,
    /// Fraction of web captions that are wrong.
    pub wrong_fraction: f64,
    /// Fraction of the training images whose captions are verified (the clean set).
    pub clean_fraction: f64,
    /// A caption is kept when its ITM match probability exceeds this.
    pub filter_threshold: f64,
    /// Pairs per step.
    pub batch_size: usize,
    /// Image side in pixels.
    pub side: usize,
    /// Uniform pixel noise amplitude.
    pub noise: f32,
    /// Steps of each pre-training (noisy and the three bootstrapped).
    pub steps: usize,
    /// Steps of each fine-tuning (captioner and filter). The noisy model's ITM head often
    /// ends its pre-training at the prior (one answer for every pair, loss 0.64), and the
    /// filter's ITM loss on the clean pairs is still falling fast at 150 steps; at 400 it has
    /// levelled off.
    pub finetune_steps: usize,
    /// AdamW's peak learning rate in pre-training.
    pub learning_rate: f64,
    /// AdamW's peak learning rate in fine-tuning.
    pub finetune_learning_rate: f64,
    /// AdamW's weight decay (0.05 in BLIP).
    pub weight_decay: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Seed of the data, the captions, the initialisations and every step's draws.
    pub seed: u64,
    /// Model sizes and BLIP's settings.
    pub model: ModelSizes,
    /// Captioning settings.
    pub decoding: Decoding,
    /// Scenes per evaluation set.
    pub n_eval: usize,
    /// Of those, images captioned per set.
    pub n_caption: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for CapfiltConfig {
    fn default() -> Self {
        Self {
            n_train: 4000,
            wrong_fraction: 0.4,
            clean_fraction: 0.1,
            filter_threshold: 0.5,
            batch_size: 64,
            side: 16,
            noise: 0.05,
            steps: 500,
            finetune_steps: 400,
            learning_rate: 1e-3,
            finetune_learning_rate: 3e-4,
            weight_decay: 0.05,
            warmup_steps: 50,
            seed: 0,
            model: ModelSizes::SHAPES,
            decoding: Decoding::default(),
            n_eval: 500,
            n_caption: 200,
            log_every: 50,
            checkpoint_every: 250,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "capfilt-shapes",
    family: Family::Contrastive,
    summary: "BLIP's CapFilt end to end: 40% wrong captions, captioner and filter fine-tuned \
              on a clean 10%, synthetic captions by nucleus sampling, ITM filtering, \
              pre-training on the bootstrapped set vs the noisy one, with the paper's ablation",
    run: |args| launch(&Capfilt, args),
    check: |args| check(&Capfilt, args),
    defaults: || defaults_json(&Capfilt),
    tiny: &[
        ("n_train", "160"),
        ("steps", "20"),
        ("finetune_steps", "10"),
        ("batch_size", "16"),
        ("warmup_steps", "3"),
        ("n_eval", "32"),
        ("n_caption", "16"),
        ("log_every", "5"),
        ("checkpoint_every", "10"),
        (
            "model",
            concat!(
                r#"{"d_model": 16, "n_layers": 1, "n_heads": 2, "d_embed": 16, "#,
                r#""queue_size": 32, "alpha_ramp_steps": 10}"#
            ),
        ),
    ],
};

/// `capfilt-shapes`.
pub struct Capfilt;

/// The training images, their web captions and which are wrong, the clean subset, the
/// tokenizer.
pub struct Prepared {
    draw: ShapesConfig,
    text: Text,
    scenes: Vec<Scene>,
    pixels: Vec<f32>,
    web: Vec<String>,
    wrong: Vec<bool>,
    clean: Vec<usize>,
}

impl Prepared {
    /// The images at `indices`.
    ///
    /// # Shapes
    /// `[indices.len(), 3, side, side]`.
    fn images(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let side = self.draw.side();
        let n = self.draw.image_len();
        let values: Vec<f32> =
            indices.iter().flat_map(|&i| self.pixels[i * n..(i + 1) * n].iter().copied()).collect();
        Tensor::from_data(
            TensorData::new(values, [indices.len(), shapes::CHANNELS, side, side]),
            device,
        )
    }

    /// The clean pairs: each clean image with its true caption.
    fn clean_pairs(&self) -> Vec<(usize, String)> {
        self.clean.iter().map(|&i| (i, self.scenes[i].caption())).collect()
    }
}

impl Recipe for Capfilt {
    type Config = CapfiltConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> CapfiltConfig {
        CapfiltConfig::default()
    }

    fn prepare(&self, c: &CapfiltConfig) -> Result<Prepared> {
        validate::in_range("wrong_fraction", c.wrong_fraction, 0.0, 1.0, "[0, 1]")?;
        validate::positive("clean_fraction", c.clean_fraction)?;
        validate::in_range("clean_fraction", c.clean_fraction, 0.0, 1.0, "(0, 1]")?;
        validate::in_range("filter_threshold", c.filter_threshold, 0.0, 1.0, "[0, 1]")?;
        validate::size("batch_size", c.batch_size)?;
        validate::at_least("batch_size (ITM needs a negative)", c.batch_size, 2)?;
        validate::size("n_eval", c.n_eval)?;
        validate::size("n_caption", c.n_caption)?;
        validate::non_negative("weight_decay", c.weight_decay)?;
        validate::positive("finetune_learning_rate", c.finetune_learning_rate)?;
        validate::in_range("n_train", c.n_train as f64, 1.0, 1e6, "[1, 1000000]")?;
        let draw = ShapesConfig::new(c.side, c.noise)?;
        let text = Text::new(c.model.context)?;
        c.decoding.validate(c.model.context, text.prompt.len())?;
        c.model.validate(c.side, text.vocab_size(), c.batch_size)?;
        let n_clean = ((c.clean_fraction * c.n_train as f64).round() as usize).max(1);
        validate::at_least("clean pairs (for batch_size)", n_clean, c.batch_size)?;
        let scenes = shapes::sample(c.n_train, c.seed, Split::Train);
        let pixels = draw.draw_batch(&scenes, c.seed ^ 0x1);
        // Exactly round(wrong_fraction * n) wrong captions, at random images.
        let mut rng = StdRng::seed_from_u64(c.seed ^ 0x2);
        let n_wrong = (c.wrong_fraction * c.n_train as f64).round() as usize;
        let mut wrong = vec![false; c.n_train];
        for i in rand::seq::index::sample(&mut rng, c.n_train, n_wrong) {
            wrong[i] = true;
        }
        let web: Vec<String> = scenes
            .iter()
            .zip(&wrong)
            .map(|(s, &w)| if w { other_scene(s, &mut rng).caption() } else { s.caption() })
            .collect();
        let clean = (0..n_clean).map(|i| i * c.n_train / n_clean).collect();
        Ok(Prepared { draw, text, scenes, pixels, web, wrong, clean })
    }

    fn training(&self, c: &CapfiltConfig) -> Vec<(String, TrainSpec)> {
        let spec = |steps, learning_rate, warmup| {
            warmup_cosine(steps, learning_rate, warmup, c.seed)
                .with_optimizer(OptimizerConfig::adam_w(c.weight_decay))
                .every(c.log_every, c.checkpoint_every)
        };
        let pretrain = spec(c.steps, c.learning_rate, c.warmup_steps);
        let finetune = spec(c.finetune_steps, c.finetune_learning_rate, 0);
        vec![
            (NOISY.into(), pretrain),
            (CAPTIONER.into(), finetune),
            (FILTER.into(), finetune),
            (CAPTIONER_ONLY.into(), pretrain),
            (FILTER_ONLY.into(), pretrain),
            (PRIMARY.into(), pretrain),
        ]
    }

    fn run(&self, c: &CapfiltConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let config = c.model.config(c.side, p.text.vocab_size());
        let fresh = |device: &Device| -> Result<Blip> { Ok(config.init(device)?) };
        let mut noisy_pairs: Vec<(usize, String)> = p.web.iter().cloned().enumerate().collect();
        noisy_pairs.extend(p.clean_pairs());
        let noisy = train(run, NOISY, c, p, &noisy_pairs, Objectives::ALL, fresh)?;
        let clean = p.clean_pairs();
        let captioner =
            frozen(&train(run, CAPTIONER, c, p, &clean, Objectives::CAPTIONER, |_: &Device| {
                Ok(noisy.clone())
            })?);
        let filter =
            frozen(&train(run, FILTER, c, p, &clean, Objectives::FILTER, |_: &Device| {
                Ok(noisy.clone())
            })?);
        let device = run.device().clone();
        // The captioner's synthetic captions, the filter's scores.
        let all: Vec<usize> = (0..c.n_train).collect();
        let images = p.images(&all, &device);
        let mut rng = StdRng::seed_from_u64(c.seed ^ 0x3);
        let synthetic = sample_captions(&captioner, &p.text, &c.decoding, &images, &mut rng)?;
        let web_scores = match_scores(&filter, &p.text, &images, &p.web)?;
        let synthetic_scores = match_scores(&filter, &p.text, &images, &synthetic)?;
        let threshold = c.filter_threshold as f32;
        let kept_web: Vec<usize> =
            all.iter().copied().filter(|&i| web_scores[i] > threshold).collect();
        let kept_synthetic: Vec<usize> =
            all.iter().copied().filter(|&i| synthetic_scores[i] > threshold).collect();
        let flagged: Vec<bool> = web_scores.iter().map(|&s| s <= threshold).collect();
        let (precision, recall) = precision_recall(&flagged, &p.wrong);
        let right = |i: usize| describes(&synthetic[i], &p.scenes[i]);
        let synthetic_accuracy =
            all.iter().filter(|&&i| right(i)).count() as f64 / c.n_train as f64;
        let kept_synthetic_accuracy = kept_synthetic.iter().filter(|&&i| right(i)).count() as f64
            / kept_synthetic.len().max(1) as f64;
        let wrong_kept =
            kept_web.iter().filter(|&&i| p.wrong[i]).count() as f64 / kept_web.len().max(1) as f64;
        save_capfilt(run, p, &synthetic, &web_scores, &synthetic_scores, threshold, 12)?;
        // The bootstrapped sets, each with the clean pairs.
        let pairs = |web: &[usize], synth: &[usize]| -> Vec<(usize, String)> {
            let mut pairs: Vec<(usize, String)> =
                web.iter().map(|&i| (i, p.web[i].clone())).collect();
            pairs.extend(synth.iter().map(|&i| (i, synthetic[i].clone())));
            pairs.extend(p.clean_pairs());
            pairs
        };
        let captioner_only =
            frozen(&train(run, CAPTIONER_ONLY, c, p, &pairs(&all, &all), Objectives::ALL, fresh)?);
        let filter_only =
            frozen(&train(run, FILTER_ONLY, c, p, &pairs(&kept_web, &[]), Objectives::ALL, fresh)?);
        let both = frozen(&train(
            run,
            PRIMARY,
            c,
            p,
            &pairs(&kept_web, &kept_synthetic),
            Objectives::ALL,
            fresh,
        )?);
        let sets = EvalSets::new(&p.draw, c.n_eval, c.n_caption, EVAL_SEED, &device);
        let judge = |model: &Blip| -> Result<(Evaluation, Vec<String>)> {
            evaluate(model, &p.text, &c.decoding, &sets, EVAL_SEED, &device)
        };
        let (noisy_eval, _) = judge(&frozen(&noisy))?;
        let (captioner_eval, _) = judge(&captioner_only)?;
        let (filter_eval, _) = judge(&filter_only)?;
        let (both_eval, generated) = judge(&both)?;
        save_captions(run, &both, &p.text, &sets, &generated, &p.draw, 12)?;
        eprintln!(
            "{}: R@1 i2t noisy {:.3} -> bootstrapped {:.3}; zero-shot {:.3} -> {:.3}; \
             kept {} of {} web, {} synthetic; filter precision {precision:.3}, recall {recall:.3}",
            run.dir().path().display(),
            noisy_eval.retrieval.i2t_r1,
            both_eval.retrieval.i2t_r1,
            noisy_eval.zero_shot_accuracy,
            both_eval.zero_shot_accuracy,
            kept_web.len(),
            c.n_train,
            kept_synthetic.len(),
        );
        Ok(metrics_map(json!({
            "retrieval": both_eval.retrieval,
            "itm_accuracy": both_eval.itm_accuracy,
            "caption_accuracy": both_eval.caption_accuracy,
            "zero_shot_accuracy": both_eval.zero_shot_accuracy,
            "noisy": noisy_eval,
            "bootstrapped": both_eval,
            "ablation": {
                "captioner_only": captioner_eval,
                "filter_only": filter_eval,
                "both": both_eval,
            },
            "filter_precision": precision,
            "filter_recall": recall,
            "kept_web": kept_web.len(),
            "kept_synthetic": kept_synthetic.len(),
            "web_captions": c.n_train,
            "clean_pairs": p.clean.len(),
            "synthetic_accuracy": synthetic_accuracy,
            "kept_synthetic_accuracy": kept_synthetic_accuracy,
            "wrong_fraction_kept_web": wrong_kept,
            "batch_size": c.batch_size,
        })))
    }
}

/// Trains trainer `name` on `pairs` (image index, caption) with `objectives` from the
/// model `init` builds; each step draws `batch_size` pairs uniformly (without replacement
/// when there are enough).
fn train(
    run: &mut Run,
    name: &str,
    c: &CapfiltConfig,
    p: &Prepared,
    pairs: &[(usize, String)],
    objectives: Objectives,
    init: impl FnOnce(&Device) -> Result<Blip>,
) -> Result<Blip> {
    validate::size("training pairs", pairs.len())?;
    run.fit_with(
        name,
        init,
        |model, batch| {
            let chosen: Vec<usize> = if pairs.len() >= c.batch_size {
                rand::seq::index::sample(&mut batch.rng, pairs.len(), c.batch_size).into_vec()
            } else {
                (0..c.batch_size).map(|_| batch.rng.random_range(0..pairs.len())).collect()
            };
            let indices: Vec<usize> = chosen.iter().map(|&k| pairs[k].0).collect();
            let captions: Vec<String> = chosen.iter().map(|&k| pairs[k].1.clone()).collect();
            let images = p.images(&indices, batch.device);
            step(
                model,
                &c.model,
                &p.text,
                images,
                &captions,
                objectives,
                batch.step,
                &mut batch.rng,
            )
        },
        |model, queued| Ok(model.after_step(queued)?),
    )
}

/// `capfilt.png`: the first `n` training images, each with its web caption and the
/// captioner's synthetic caption, their ITM scores and whether the filter kept them
/// (green: kept and right, red: kept and wrong, grey: dropped).
fn save_capfilt(
    run: &Run,
    p: &Prepared,
    synthetic: &[String],
    web_scores: &[f32],
    synthetic_scores: &[f32],
    threshold: f32,
    n: usize,
) -> Result<()> {
    let n = n.min(p.scenes.len());
    let side = p.draw.side();
    let (zoom, line) = (6, text_height(1) + 4);
    let (cell_w, cell_h) = (300, side * zoom + 3 * line + 8);
    let columns = 4;
    let mut picture =
        Rgb8Image::new(columns * cell_w, n.div_ceil(columns) * cell_h, [255, 255, 255]);
    let len = p.draw.image_len();
    for i in 0..n {
        let (x0, y0) = ((i % columns) * cell_w + 4, (i / columns) * cell_h + 4);
        paint_image(&mut picture, &p.pixels[i * len..(i + 1) * len], side, (x0, y0), zoom);
        let colour =
            |caption: &str, score: f32| match (score > threshold, describes(caption, &p.scenes[i]))
            {
                (false, _) => [150, 150, 150],
                (true, true) => [0, 130, 0],
                (true, false) => [200, 0, 0],
            };
        let y = y0 + side * zoom + 4;
        let web = format!("web {:.2}: {}", web_scores[i], p.web[i]);
        draw_text(&mut picture, x0, y, &web, 1, colour(&p.web[i], web_scores[i]));
        let synth = format!("syn {:.2}: {}", synthetic_scores[i], synthetic[i]);
        draw_text(
            &mut picture,
            x0,
            y + line,
            &synth,
            1,
            colour(&synthetic[i], synthetic_scores[i]),
        );
        draw_text(
            &mut picture,
            x0,
            y + 2 * line,
            &format!("true: {}", p.scenes[i].caption()),
            1,
            [90, 90, 90],
        );
    }
    Ok(picture.save_png(run.dir().file("capfilt.png"))?)
}
