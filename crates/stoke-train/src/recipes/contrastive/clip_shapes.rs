//! `clip-shapes`: CLIP [RADFORD21, Fig. 3] (or `--loss siglip`) on procedural shapes with
//! compositional captions ("a red square at the top left", "a red square left of a blue
//! circle"). Seven of the 42 (colour, shape) combinations never appear in training
//! (`stoke_data::shapes::is_held_out`); every step draws fresh scenes of the others, a
//! `pair_fraction` of them two-object scenes.
//!
//! Metrics: `held_out_accuracy` (zero-shot on images of the held-out combinations in the
//! 42-way choice, each class's prompts the five position captions ensembled),
//! `zero_shot_accuracy` (the same on combinations seen in training), `binding_accuracy`
//! (on two-object images of seen combinations, how often the true caption scores above the
//! caption with the two colours swapped: 0.5 is chance) and `held_out_binding_accuracy`,
//! `retrieval` on seen single scenes (identical captions interchangeable),
//! `held_out_curve` (the held-out accuracy on the first 200 of those images during training,
//! for watching only: nothing is chosen on it), `batch_size`, `steps`, `seconds`.

use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::eval::{accuracy, retrieval, zero_shot_predict};
use stoke_contrastive::{ContrastiveModel, TwoTower};
use stoke_core::validate;
use stoke_data::shapes::{self, Colour, PairScene, Scene, Shape, ShapesConfig, Split};

use super::{
    Codec, LossKind, Towers, check_eval_every, embed_texts, frozen, logged, loss_config,
    prompt_classifier, shape_classes, warmup_cosine,
};
use crate::error::Result;
use crate::harness::{
    Entry, Family, Loss, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// Seed of the evaluation draws (fixed, apart from every training draw).
const EVAL_SEED: u64 = 0x5eed_e7a1;

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipShapesConfig {
    /// `clip` or `siglip`.
    pub loss: LossKind,
    /// Pairs per step.
    pub batch_size: usize,
    /// Fraction of each batch that is two-object scenes.
    pub pair_fraction: f64,
    /// Image side in pixels.
    pub side: usize,
    /// Uniform pixel noise amplitude.
    pub noise: f32,
    /// Optimisation steps.
    pub steps: usize,
    /// Adam's peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Seed of the initialisation and every step's draws.
    pub seed: u64,
    /// Tower sizes.
    pub towers: Towers,
    /// Images per evaluation set.
    pub n_eval: usize,
    /// Steps between held-out zero-shot evaluations (0: none).
    pub eval_every: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for ClipShapesConfig {
    fn default() -> Self {
        Self {
            loss: LossKind::Clip,
            batch_size: 64,
            pair_fraction: 0.5,
            side: 16,
            noise: 0.05,
            steps: 2500,
            learning_rate: 1e-3,
            warmup_steps: 100,
            seed: 0,
            towers: Towers {
                patch: 4,
                d_model: 64,
                n_layers: 2,
                n_heads: 4,
                d_embed: 64,
                context: 12,
            },
            n_eval: 500,
            eval_every: 250,
            log_every: 50,
            checkpoint_every: 500,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "clip-shapes",
    family: Family::Contrastive,
    summary: "CLIP on procedural shapes with compositional captions: zero-shot on held-out \
              (colour, shape) combinations in a 42-way choice, two-object attribute binding",
    run: |args| launch(&ClipShapes, args),
    check: |args| check(&ClipShapes, args),
    defaults: || defaults_json(&ClipShapes),
    tiny: &[
        ("steps", "40"),
        ("batch_size", "16"),
        ("warmup_steps", "5"),
        ("n_eval", "32"),
        ("eval_every", "20"),
        ("log_every", "10"),
        ("checkpoint_every", "20"),
        ("towers", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2, "d_embed": 16}"#),
    ],
};

/// `clip-shapes`.
pub struct ClipShapes;

/// The drawing config, the tokenizer, and the 42 classes with their prompts.
pub struct Prepared {
    draw: ShapesConfig,
    codec: Codec,
    classes: Vec<(Colour, Shape)>,
    prompts: Vec<Vec<String>>,
}

impl Recipe for ClipShapes {
    type Config = ClipShapesConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> ClipShapesConfig {
        ClipShapesConfig::default()
    }

    fn prepare(&self, c: &ClipShapesConfig) -> Result<Prepared> {
        validate::size("batch_size", c.batch_size)?;
        validate::size("n_eval", c.n_eval)?;
        validate::in_range("pair_fraction", c.pair_fraction, 0.0, 1.0, "[0, 1]")?;
        loss_config(c.loss, -10.0, true, None).validate()?;
        check_eval_every(c.eval_every, c.log_every)?;
        let draw = ShapesConfig::new(c.side, c.noise)?;
        let mut corpus: Vec<String> =
            Scene::all().iter().filter(|s| !s.is_held_out()).map(Scene::caption).collect();
        corpus.extend(shapes::sample_pairs(500, 0, Split::Train).iter().map(PairScene::caption));
        let refs: Vec<&str> = corpus.iter().map(String::as_str).collect();
        let codec = Codec::word_level(&refs, c.towers.context)?;
        c.towers.validate(shapes::CHANNELS, c.side, codec.vocab_size())?;
        let (classes, prompts) = shape_classes();
        Ok(Prepared { draw, codec, classes, prompts })
    }

    fn training(&self, c: &ClipShapesConfig) -> Vec<(String, TrainSpec)> {
        let spec = warmup_cosine(c.steps, c.learning_rate, c.warmup_steps, c.seed)
            .every(c.log_every, c.checkpoint_every);
        vec![(PRIMARY.into(), spec)]
    }

    fn run(&self, c: &ClipShapesConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let loss = loss_config(c.loss, -10.0, true, None);
        let init = |device: &Device| -> Result<ContrastiveModel> {
            let towers =
                c.towers.config(shapes::CHANNELS, c.side, p.codec.vocab_size()).init(device)?;
            Ok(ContrastiveModel { towers, loss: loss.init(device)? })
        };
        let eval_device = run.device().clone();
        let n_curve = c.n_eval.min(200);
        let model = run.fit(PRIMARY, init, |model, batch| {
            let (images, captions) = training_batch(c, p, &mut batch.rng, batch.device);
            let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
            let tokens = p.codec.tokens(&refs)?;
            let mut out = Loss::new(model.forward(images, None, &tokens.ids, &tokens.lengths)?);
            if c.eval_every > 0 && (batch.step + 1) % c.eval_every == 0 {
                let towers = frozen(model).towers;
                let held_out = scene_accuracy(&towers, p, Split::HeldOut, n_curve, &eval_device)?;
                out = out.with("held_out_accuracy", held_out);
            }
            Ok(out)
        })?;
        let towers = frozen(&model).towers;
        let device = run.device();
        let held_out_accuracy = scene_accuracy(&towers, p, Split::HeldOut, c.n_eval, device)?;
        let zero_shot_accuracy = scene_accuracy(&towers, p, Split::Train, c.n_eval, device)?;
        let binding_accuracy = binding(&towers, p, Split::Train, c.n_eval, device)?;
        let held_out_binding_accuracy = binding(&towers, p, Split::HeldOut, c.n_eval, device)?;
        let scenes = shapes::sample(c.n_eval, EVAL_SEED, Split::Train);
        let captions: Vec<String> = scenes.iter().map(Scene::caption).collect();
        let mut distinct = captions.clone();
        distinct.sort();
        distinct.dedup();
        let groups: Vec<usize> =
            captions.iter().map(|s| distinct.binary_search(s).unwrap_or(0)).collect();
        let image = towers.encode_image(
            images(p, &p.draw.draw_batch(&scenes, EVAL_SEED), scenes.len(), device),
            None,
        )?;
        let text = embed_texts(&towers, &p.codec, &captions, device)?;
        let retrieval = retrieval(image, text, &groups)?;
        let curve = logged(run, PRIMARY, "held_out_accuracy")?;
        eprintln!(
            "{}: zero-shot 42-way: held-out combinations {held_out_accuracy:.4}, seen {zero_shot_accuracy:.4}; \
             binding {binding_accuracy:.4} (held-out {held_out_binding_accuracy:.4})",
            run.dir().path().display()
        );
        Ok(metrics_map(json!({
            "held_out_accuracy": held_out_accuracy,
            "zero_shot_accuracy": zero_shot_accuracy,
            "binding_accuracy": binding_accuracy,
            "held_out_binding_accuracy": held_out_binding_accuracy,
            "classes": p.classes.len(),
            "retrieval": retrieval,
            "held_out_curve": curve,
            "batch_size": c.batch_size,
        })))
    }
}

/// A training batch drawn from the step's RNG: single scenes, then two-object scenes, of
/// training combinations only, with their captions.
fn training_batch(
    c: &ClipShapesConfig,
    p: &Prepared,
    rng: &mut StdRng,
    device: &Device,
) -> (Tensor<4>, Vec<String>) {
    let n_pairs = (c.pair_fraction * c.batch_size as f64).round() as usize;
    let (seed, noise_seed) = (rng.random::<u64>(), rng.random::<u64>());
    let scenes = shapes::sample(c.batch_size - n_pairs, seed, Split::Train);
    let pairs = shapes::sample_pairs(n_pairs, seed ^ 1, Split::Train);
    let mut pixels = p.draw.draw_batch(&scenes, noise_seed);
    pixels.extend(p.draw.draw_pair_batch(&pairs, noise_seed ^ 1));
    let mut captions: Vec<String> = scenes.iter().map(Scene::caption).collect();
    captions.extend(pairs.iter().map(PairScene::caption));
    (images(p, &pixels, c.batch_size, device), captions)
}

/// `n` images of `p`'s size.
///
/// # Shapes
/// `[n, 3, side, side]`.
fn images(p: &Prepared, pixels: &[f32], n: usize, device: &Device) -> Tensor<4> {
    let side = p.draw.side();
    Tensor::from_data(TensorData::new(pixels.to_vec(), [n, shapes::CHANNELS, side, side]), device)
}

/// Zero-shot accuracy over the 42 classes on `n` single scenes of `split`.
fn scene_accuracy(
    towers: &TwoTower,
    p: &Prepared,
    split: Split,
    n: usize,
    device: &Device,
) -> Result<f64> {
    let scenes = shapes::sample(n, EVAL_SEED, split);
    let image =
        towers.encode_image(images(p, &p.draw.draw_batch(&scenes, EVAL_SEED), n, device), None)?;
    let classifier = prompt_classifier(towers, &p.codec, &p.prompts, device)?;
    let predicted = zero_shot_predict(image, classifier)?;
    let truth: Vec<usize> = scenes
        .iter()
        .map(|s| {
            p.classes.iter().position(|&(c, k)| c == s.colour && k == s.shape).unwrap_or(usize::MAX)
        })
        .collect();
    Ok(accuracy(&predicted, &truth)?)
}

/// How often a two-object image scores its caption above the colour-swapped caption.
fn binding(
    towers: &TwoTower,
    p: &Prepared,
    split: Split,
    n: usize,
    device: &Device,
) -> Result<f64> {
    let pairs = shapes::sample_pairs(n, EVAL_SEED, split);
    let image = towers
        .encode_image(images(p, &p.draw.draw_pair_batch(&pairs, EVAL_SEED), n, device), None)?;
    let true_captions: Vec<String> = pairs.iter().map(PairScene::caption).collect();
    let swapped: Vec<String> = pairs.iter().map(PairScene::swapped_caption).collect();
    let score = |texts: &[String]| -> Result<Vec<f32>> {
        let text = embed_texts(towers, &p.codec, texts, device)?;
        Ok((image.clone() * text)
            .sum_dim(1)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default())
    };
    let (right, wrong) = (score(&true_captions)?, score(&swapped)?);
    let wins = right.iter().zip(&wrong).filter(|(r, w)| r > w).count();
    Ok(wins as f64 / n as f64)
}
