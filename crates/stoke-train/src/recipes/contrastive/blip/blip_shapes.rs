//! `blip-shapes`: BLIP [LI22, Sec. 3.2] pre-trained with ITC, ITM and LM at once on single
//! procedural shapes captioned "a red square at the top left" (fresh scenes every step, the seven
//! held-out (colour, shape) combinations never drawn), then judged on held-out images.
//!
//! Metrics: `retrieval` (ITM reranking of the ITC top 32, BLIP's protocol) and
//! `retrieval_itc` (ITC alone) on seen-combination scenes, identical captions
//! interchangeable (the set and protocol of `clip-shapes`' `retrieval`, so the two compare),
//! and `held_out_retrieval`, `held_out_retrieval_itc` on scenes of the held-out combinations;
//! `itm_accuracy` (each image's caption and one wrong caption, at 0.5);
//! `zero_shot_accuracy` (42-way); `caption_accuracy` (beam search with the prompt "a picture
//! of ", colour, shape and position all right) and `held_out_caption_accuracy` (the same
//! on the held-out combinations); `standard_errors`; `temperature`; `batch_size`, `steps`,
//! `seconds`. Pictures: `captions.png` (images, generated captions, ITM scores), `loss.png`.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::blip::{Blip, Objectives};
use stoke_core::validate;
use stoke_data::shapes::{self, ShapesConfig, Split};

use super::{
    Decoding, EvalSets, ModelSizes, Text, evaluate, frozen, save_captions, scene_images, step,
};
use crate::error::Result;
use crate::harness::{
    Entry, Family, OptimizerConfig, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch,
    metrics_map,
};
use crate::recipes::contrastive::warmup_cosine;

/// Seed of the evaluation draws (fixed, apart from every training draw).
const EVAL_SEED: u64 = 0xb11b_e7a1;

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlipShapesConfig {
    /// Pairs per step.
    pub batch_size: usize,
    /// Image side in pixels.
    pub side: usize,
    /// Uniform pixel noise amplitude.
    pub noise: f32,
    /// Optimisation steps.
    pub steps: usize,
    /// AdamW's peak learning rate.
    pub learning_rate: f64,
    /// AdamW's weight decay (0.05 in BLIP).
    pub weight_decay: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Seed of the initialisation and every step's draws.
    pub seed: u64,
    /// Model sizes and BLIP's settings.
    pub model: ModelSizes,
    /// Captioning settings.
    pub decoding: Decoding,
    /// Scenes per evaluation set (retrieval, ITM, zero-shot).
    pub n_eval: usize,
    /// Of those, images captioned per set.
    pub n_caption: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for BlipShapesConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            side: 16,
            noise: 0.05,
            steps: 1500,
            learning_rate: 1e-3,
            weight_decay: 0.05,
            warmup_steps: 100,
            seed: 0,
            model: ModelSizes::SHAPES,
            decoding: Decoding::default(),
            n_eval: 500,
            n_caption: 300,
            log_every: 50,
            checkpoint_every: 250,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "blip-shapes",
    family: Family::Contrastive,
    summary: "BLIP on procedural shapes: ITC with momentum distillation and queues, ITM with \
              hard negatives, the image-grounded decoder; retrieval with ITM reranking, \
              captioning accuracy by beam search on held-out images and combinations",
    run: |args| launch(&BlipShapes, args),
    check: |args| check(&BlipShapes, args),
    defaults: || defaults_json(&BlipShapes),
    tiny: &[
        ("steps", "30"),
        ("batch_size", "16"),
        ("warmup_steps", "5"),
        ("n_eval", "32"),
        ("n_caption", "16"),
        ("log_every", "10"),
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

/// `blip-shapes`.
pub struct BlipShapes;

/// The drawing config and the tokenizer.
pub struct Prepared {
    draw: ShapesConfig,
    text: Text,
}

impl Recipe for BlipShapes {
    type Config = BlipShapesConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> BlipShapesConfig {
        BlipShapesConfig::default()
    }

    fn prepare(&self, c: &BlipShapesConfig) -> Result<Prepared> {
        validate::size("batch_size", c.batch_size)?;
        validate::at_least("batch_size (ITM needs a negative)", c.batch_size, 2)?;
        validate::size("n_eval", c.n_eval)?;
        validate::size("n_caption", c.n_caption)?;
        validate::non_negative("weight_decay", c.weight_decay)?;
        let draw = ShapesConfig::new(c.side, c.noise)?;
        let text = Text::new(c.model.context)?;
        c.decoding.validate(c.model.context, text.prompt.len())?;
        c.model.validate(c.side, text.vocab_size(), c.batch_size)?;
        Ok(Prepared { draw, text })
    }

    fn training(&self, c: &BlipShapesConfig) -> Vec<(String, TrainSpec)> {
        let spec = warmup_cosine(c.steps, c.learning_rate, c.warmup_steps, c.seed)
            .with_optimizer(OptimizerConfig::adam_w(c.weight_decay))
            .every(c.log_every, c.checkpoint_every);
        vec![(PRIMARY.into(), spec)]
    }

    fn run(&self, c: &BlipShapesConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let config = c.model.config(c.side, p.text.vocab_size());
        let init = |device: &Device| -> Result<Blip> { Ok(config.init(device)?) };
        let model = run.fit_with(
            PRIMARY,
            init,
            |model, batch| {
                let seed = rand::RngExt::random::<u64>(&mut batch.rng);
                let scenes = shapes::sample(c.batch_size, seed, Split::Train);
                let images = scene_images(&p.draw, &scenes, seed ^ 1, batch.device);
                let captions: Vec<String> = scenes.iter().map(|s| s.caption()).collect();
                let objectives = Objectives::ALL;
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
        )?;
        let model = frozen(&model);
        let device = run.device().clone();
        let sets = EvalSets::new(&p.draw, c.n_eval, c.n_caption, EVAL_SEED, &device);
        let (evaluation, generated) =
            evaluate(&model, &p.text, &c.decoding, &sets, EVAL_SEED, &device)?;
        save_captions(run, &model, &p.text, &sets, &generated, &p.draw, 12)?;
        eprintln!(
            "{}: captions {:.3} (held-out combinations {:.3}), ITM {:.3}, R@1 i2t {:.3} t2i {:.3} \
             (ITC alone {:.3}, {:.3})",
            run.dir().path().display(),
            evaluation.caption_accuracy,
            evaluation.held_out_caption_accuracy,
            evaluation.itm_accuracy,
            evaluation.retrieval.i2t_r1,
            evaluation.retrieval.t2i_r1,
            evaluation.retrieval_itc.i2t_r1,
            evaluation.retrieval_itc.t2i_r1,
        );
        let mut metrics = metrics_map(json!(evaluation));
        metrics.insert("temperature".into(), json!(model.temperature()));
        metrics.insert("batch_size".into(), json!(c.batch_size));
        Ok(metrics)
    }
}
