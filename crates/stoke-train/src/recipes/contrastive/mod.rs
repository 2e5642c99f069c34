//! Recipes of `stoke-contrastive`: two towers trained on captioned images, judged by
//! zero-shot classification from prompt templates and by retrieval. What two or more of
//! them share lives here: the tower sizes, the captioned image sets, the caption
//! tokenizer, the training step and the evaluations.

pub mod blip;
pub mod catlip_digits;
pub mod clip;
pub mod clip_shapes;
pub mod dfn_digits;
pub mod flip_digits;
pub mod lit_digits;

use std::ops::Range;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use stoke_contrastive::eval::{
    Retrieval, accuracy, retrieval, zero_shot_classifier, zero_shot_predict,
};
use stoke_contrastive::{
    ContrastiveLoss, ContrastiveLossConfig, ContrastiveModel, FlipMasking, TwoTower, TwoTowerConfig,
};
use stoke_core::validate;
use stoke_data::captions::{self, DIGIT_NAMES, Templates};
use stoke_data::digits::{
    self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION, Digits,
};
use stoke_data::shapes::{Colour, Position, Scene, Shape, Size};
use stoke_data::text::TextTokenizer;
use stoke_nn::{TextPooling, TextTransformerConfig, Visibility, VitConfig, VitPooling};

use crate::error::{Result, TrainError};
use crate::harness::save_line_plot;
use crate::harness::{Group, Loss, LrSchedule, Run, TrainSpec};
pub use crate::harness::{check_eval_every, logged};

/// Images per forward pass in evaluation.
const EVAL_BLOCK: usize = 256;

/// The sizes of both towers (config JSON `towers`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Towers {
    /// ViT patch side.
    pub patch: usize,
    /// Token width of both towers.
    pub d_model: usize,
    /// Blocks per tower.
    pub n_layers: usize,
    /// Attention heads per block.
    pub n_heads: usize,
    /// Width of the shared embedding space.
    pub d_embed: usize,
    /// Longest caption in tokens, start and end of text included.
    pub context: usize,
}

impl Towers {
    /// The digits recipes' towers: 2x2 patches (16 per 8x8 image), width 64, 2 blocks of 4
    /// heads, a 64-wide embedding, captions of at most 10 tokens.
    pub const DIGITS: Towers =
        Towers { patch: 2, d_model: 64, n_layers: 2, n_heads: 4, d_embed: 64, context: 10 };

    /// The model's config for images of `channels x side x side` and a vocabulary.
    pub fn config(&self, channels: usize, side: usize, vocab_size: usize) -> TwoTowerConfig {
        let image =
            VitConfig::new(channels, side, self.patch, self.d_model, self.n_layers, self.n_heads)
                .with_pooling(VitPooling::Mean);
        let text = TextTransformerConfig::new(
            vocab_size,
            self.context,
            self.d_model,
            self.n_layers,
            self.n_heads,
        )
        .with_visibility(Visibility::Causal)
        .with_pooling(TextPooling::EndOfText);
        TwoTowerConfig::new(image, text, self.d_embed)
    }

    /// Builds the model once on the CPU to check every size before a run starts.
    ///
    /// # Errors
    /// A size the towers refuse.
    pub fn validate(&self, channels: usize, side: usize, vocab_size: usize) -> Result<()> {
        validate::at_least("context", self.context, 3)?;
        self.config(channels, side, vocab_size).init(&Device::flex())?;
        Ok(())
    }
}

/// Images with the class each image is and the class its caption names (they differ for
/// a wrong caption).
#[derive(Debug, Clone)]
pub struct Captioned {
    /// Channels of each image.
    pub channels: usize,
    /// Side of each (square) image.
    pub side: usize,
    /// Pixels, image after image, channel-major, in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// The class of each image.
    pub labels: Vec<usize>,
    /// The class each image's caption names.
    pub caption_labels: Vec<usize>,
}

impl Captioned {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Values per image.
    fn image_len(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// The subset at `indices`.
    pub fn select(&self, indices: &[usize]) -> Captioned {
        let n = self.image_len();
        let pixels = indices.iter().flat_map(|&i| self.pixels[i * n..(i + 1) * n].iter().copied());
        Captioned {
            channels: self.channels,
            side: self.side,
            pixels: pixels.collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            caption_labels: indices.iter().map(|&i| self.caption_labels[i]).collect(),
        }
    }

    /// The images at `indices`.
    ///
    /// # Shapes
    /// `[indices.len(), channels, side, side]`.
    pub fn images(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let n = self.image_len();
        let values: Vec<f32> =
            indices.iter().flat_map(|&i| self.pixels[i * n..(i + 1) * n].iter().copied()).collect();
        let shape = [indices.len(), self.channels, self.side, self.side];
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

/// A word-level tokenizer and the context its rows are cut or padded to.
pub struct Codec {
    /// The tokenizer (trained on training captions only).
    pub tokenizer: TextTokenizer,
    /// Longest caption in tokens, start and end of text included.
    pub context: usize,
}

impl Codec {
    /// A word-level tokenizer of `corpus`.
    ///
    /// # Errors
    /// A tokenizer that does not train (an empty corpus).
    pub fn word_level(corpus: &[&str], context: usize) -> Result<Self> {
        Ok(Self { tokenizer: TextTokenizer::word_level(corpus, 1)?, context })
    }

    /// Tokenizes captions to the context.
    ///
    /// # Errors
    /// The tokenizer's errors (an empty list).
    pub fn tokens(&self, texts: &[&str]) -> Result<Tokens> {
        let batch = self.tokenizer.encode_batch(texts, self.context)?;
        Ok(Tokens { truncated: batch.truncated_rows, ids: batch.ids, lengths: batch.lengths })
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.vocab_size()
    }
}

impl Captioned {
    /// The digits, each caption naming its true class.
    pub fn digits(d: &Digits) -> Captioned {
        let labels: Vec<usize> = d.labels.iter().map(|&l| usize::from(l)).collect();
        Captioned {
            channels: 1,
            side: digits::SIDE,
            pixels: d.flat_pixels(),
            caption_labels: labels.clone(),
            labels,
        }
    }
}

/// The digits' fixed three-way split (1078 / 360 / 359), captioned by the digit templates,
/// with the tokenizer of the training captions.
pub struct DigitSplits {
    /// The training split.
    pub train: Captioned,
    /// The validation split (curves and choices).
    pub validation: Captioned,
    /// The test split (reported once).
    pub test: Captioned,
    /// Templates and tokenizer.
    pub captions: Captions,
}

impl DigitSplits {
    /// Loads the splits and checks the towers and the batch against them.
    ///
    /// # Errors
    /// A batch larger than the training split; tower sizes the networks refuse.
    pub fn load(towers: &Towers, batch_size: usize) -> Result<Self> {
        validate::size("batch_size", batch_size)?;
        let all = digits::load()?;
        let (train, validation, test) =
            all.split3(DEFAULT_VALIDATION_FRACTION, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
        validate::at_least("training images (for batch_size)", train.len(), batch_size)?;
        let captions = Captions::new(DIGIT_NAMES.to_vec(), Templates::digits(), towers.context)?;
        towers.validate(1, digits::SIDE, captions.codec.vocab_size())?;
        Ok(Self {
            train: Captioned::digits(&train),
            validation: Captioned::digits(&validation),
            test: Captioned::digits(&test),
            captions,
        })
    }
}

/// The schedule every contrastive recipe trains with: Adam at `learning_rate` after a linear
/// warm-up of `warmup_steps`, cosine decay to 1%.
pub fn warmup_cosine(
    steps: usize,
    learning_rate: f64,
    warmup_steps: usize,
    seed: u64,
) -> TrainSpec {
    TrainSpec::adam(steps, learning_rate, seed)
        .with_schedule(LrSchedule::WarmupCosine { warmup_steps, min_fraction: 0.01 })
}

/// The class names and caption templates of a captioned set, with the tokenizer trained on
/// the training captions only (held-out template words it never saw become `<unk>`).
pub struct Captions {
    /// Class names, by label.
    pub class_names: Vec<&'static str>,
    /// Training and held-out templates.
    pub templates: Templates,
    /// The tokenizer of the training captions.
    pub codec: Codec,
}

/// Token rows of a batch of captions: ids row-major, valid lengths, and how many rows were
/// cut to the context.
pub struct Tokens {
    /// `batch` rows of `context` ids.
    pub ids: Vec<i64>,
    /// Valid tokens per row (start and end of text included).
    pub lengths: Vec<usize>,
    /// Rows cut to the context.
    pub truncated: usize,
}

impl Captions {
    /// Builds the tokenizer from every training template filled with every class.
    ///
    /// # Errors
    /// Templates the caption module refuses; a tokenizer that does not train.
    pub fn new(
        class_names: Vec<&'static str>,
        templates: Templates,
        context: usize,
    ) -> Result<Self> {
        let prompts = captions::class_prompts(&templates.train, &class_names)?;
        let corpus: Vec<&str> = prompts.iter().flatten().map(String::as_str).collect();
        let codec = Codec::word_level(&corpus, context)?;
        Ok(Self { class_names, templates, codec })
    }

    /// A caption of class `class` from a training template drawn with `rng`.
    ///
    /// # Errors
    /// A class without a name.
    pub fn draw(&self, class: usize, rng: &mut StdRng) -> Result<String> {
        let template = &self.templates.train[rng.random_range(0..self.templates.train.len())];
        Ok(captions::fill(template, class_u8(class)?, &self.class_names)?)
    }
}

fn class_u8(class: usize) -> Result<u8> {
    u8::try_from(class).map_err(|_| TrainError::Invalid(format!("class {class} exceeds 255")))
}

/// One training step's loss: `batch_size` images drawn uniformly from `train` (without
/// replacement), each with a fresh caption of the class its caption names, FLIP's patch
/// dropping when `kept_ratio` is below 1. Logs `truncated_captions` when any were cut.
///
/// `ranks`: this rank's rows of the drawn batch and the ranks, for SigLIP over
/// data-parallel ranks: the rank encodes its rows only and the loss passes text blocks
/// round the ranks ([`stoke_contrastive::SiglipLoss::forward_ranks`]).
///
/// # Errors
/// A tower or loss refusing the batch; a collective failure.
#[allow(clippy::too_many_arguments)]
pub fn step_loss(
    model: &ContrastiveModel,
    train: &Captioned,
    captions: &Captions,
    batch_size: usize,
    masking: Option<FlipMasking>,
    rng: &mut StdRng,
    device: &Device,
    ranks: Option<(Range<usize>, &Group)>,
) -> Result<Loss> {
    let indices = rand::seq::index::sample(rng, train.len(), batch_size).into_vec();
    let texts: Vec<String> = indices
        .iter()
        .map(|&i| captions.draw(train.caption_labels[i], rng))
        .collect::<Result<_>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens = captions.codec.tokens(&refs)?;
    let n_patches = model.towers.image.n_patches();
    let noise: Option<Vec<f32>> = match masking {
        Some(masking) if masking.mask_ratio > 0.0 => {
            Some((0..batch_size * n_patches).map(|_| rng.random::<f32>()).collect())
        }
        _ => None,
    };
    // Everything is drawn for the whole batch; a rank then encodes its rows.
    let rows = ranks.as_ref().map_or(0..batch_size, |(rows, _)| rows.clone());
    let m = rows.len();
    let kept = match (masking, &noise) {
        (Some(masking), Some(noise)) => Some(masking.kept(
            &noise[rows.start * n_patches..rows.end * n_patches],
            m,
            n_patches,
        )?),
        _ => None,
    };
    let width = tokens.ids.len() / batch_size.max(1);
    let ids = &tokens.ids[rows.start * width..rows.end * width];
    let images = train.images(&indices[rows.clone()], device);
    let image = model.towers.encode_image(images, kept.as_ref())?;
    let text = model.towers.encode_text(ids, &tokens.lengths[rows], device)?;
    let loss = match (&model.loss, ranks) {
        (ContrastiveLoss::Siglip(siglip), Some((_, group))) => {
            siglip.forward_ranks(image, text, group)?
        }
        (loss, _) => loss.forward(image, text)?,
    };
    let mut out = Loss::new(loss);
    if tokens.truncated > 0 {
        out = out.with("truncated_captions", tokens.truncated as f64);
    }
    Ok(out)
}

/// The image embeddings of a whole set, in blocks.
///
/// # Shapes
/// `[set.len(), d_embed]`.
///
/// # Errors
/// The image tower's errors.
pub fn embed_images(model: &TwoTower, set: &Captioned, device: &Device) -> Result<Tensor<2>> {
    validate::size("images to embed", set.len())?;
    let mut blocks = Vec::new();
    for start in (0..set.len()).step_by(EVAL_BLOCK) {
        let indices: Vec<usize> = (start..set.len().min(start + EVAL_BLOCK)).collect();
        blocks.push(model.encode_image(set.images(&indices, device), None)?);
    }
    Ok(Tensor::cat(blocks, 0))
}

/// The text embeddings of captions, in blocks.
///
/// # Errors
/// The text tower's errors.
pub fn embed_texts(
    model: &TwoTower,
    codec: &Codec,
    texts: &[String],
    device: &Device,
) -> Result<Tensor<2>> {
    validate::size("texts to embed", texts.len())?;
    let mut blocks = Vec::new();
    for chunk in texts.chunks(EVAL_BLOCK) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let tokens = codec.tokens(&refs)?;
        blocks.push(model.encode_text(&tokens.ids, &tokens.lengths, device)?);
    }
    Ok(Tensor::cat(blocks, 0))
}

/// Zero-shot accuracy on `set` (its true labels) with prompts from `templates`, ensembled.
///
/// # Errors
/// The towers' errors; an empty template list.
pub fn zero_shot(
    model: &TwoTower,
    captions: &Captions,
    templates: &[String],
    set: &Captioned,
    device: &Device,
) -> Result<f64> {
    let predicted = zero_shot_predictions(model, captions, templates, set, device)?;
    Ok(accuracy(&predicted, &set.labels)?)
}

/// The zero-shot class of every image of `set` (prompts from `templates`, ensembled).
///
/// # Errors
/// The towers' errors; an empty template list.
pub fn zero_shot_predictions(
    model: &TwoTower,
    captions: &Captions,
    templates: &[String],
    set: &Captioned,
    device: &Device,
) -> Result<Vec<usize>> {
    let prompts = captions::class_prompts(templates, &captions.class_names)?;
    let classifier = prompt_classifier(model, &captions.codec, &prompts, device)?;
    Ok(zero_shot_predict(embed_images(model, set, device)?, classifier)?)
}

/// `confusion.png`: row = true class, column = predicted class, brightness = the share of
/// the row's images (16 pixels per cell).
///
/// # Errors
/// I/O.
pub fn save_confusion(
    run: &Run,
    predicted: &[usize],
    labels: &[usize],
    n_classes: usize,
) -> Result<()> {
    let mut counts = vec![0f32; n_classes * n_classes];
    for (&p, &l) in predicted.iter().zip(labels) {
        if p < n_classes && l < n_classes {
            counts[l * n_classes + p] += 1.0;
        }
    }
    for row in counts.chunks_mut(n_classes) {
        let total: f32 = row.iter().sum();
        row.iter_mut().for_each(|c| *c /= total.max(1.0));
    }
    let path = run.dir().file("confusion.png");
    Ok(stoke_data::image::save_grid(path, &[&counts], n_classes, n_classes, 1, 16)?)
}

/// The zero-shot classifier of `prompts[class]`: each class's prompt embeddings averaged
/// and renormalised (open_clip's ensembling).
///
/// # Shapes
/// `[prompts.len(), d_embed]`.
///
/// # Errors
/// The text tower's errors; a class without prompts.
pub fn prompt_classifier(
    model: &TwoTower,
    codec: &Codec,
    prompts: &[Vec<String>],
    device: &Device,
) -> Result<Tensor<2>> {
    let class_texts =
        prompts.iter().map(|p| embed_texts(model, codec, p, device)).collect::<Result<Vec<_>>>()?;
    Ok(zero_shot_classifier(class_texts)?)
}

/// Retrieval on `set`, each image captioned once by a held-out template (drawn with
/// `seed`) naming its true class; identical captions are interchangeable (one group).
///
/// # Errors
/// The towers' errors.
pub fn retrieval_on(
    model: &TwoTower,
    captions: &Captions,
    set: &Captioned,
    seed: u64,
    device: &Device,
) -> Result<Retrieval> {
    let texts = held_out_captions(captions, set, seed)?;
    let mut distinct: Vec<&String> = texts.iter().collect();
    distinct.sort();
    distinct.dedup();
    let groups: Vec<usize> =
        texts.iter().map(|c| distinct.binary_search(&c).unwrap_or(0)).collect();
    retrieval_with_groups(model, captions, set, &texts, &groups, device)
}

/// [`retrieval_on`] where every caption and image of the right class counts as a hit.
///
/// # Errors
/// The towers' errors.
pub fn class_retrieval_on(
    model: &TwoTower,
    captions: &Captions,
    set: &Captioned,
    seed: u64,
    device: &Device,
) -> Result<Retrieval> {
    let texts = held_out_captions(captions, set, seed)?;
    retrieval_with_groups(model, captions, set, &texts, &set.labels, device)
}

/// One held-out-template caption of each image's true class.
fn held_out_captions(captions: &Captions, set: &Captioned, seed: u64) -> Result<Vec<String>> {
    let labels: Vec<u8> = set.labels.iter().map(|&l| class_u8(l)).collect::<Result<_>>()?;
    let drawn = captions::caption_classes(
        &labels,
        &captions.class_names,
        &captions.templates.held_out,
        0.0,
        seed,
    )?;
    Ok(drawn.captions)
}

fn retrieval_with_groups(
    model: &TwoTower,
    captions: &Captions,
    set: &Captioned,
    texts: &[String],
    groups: &[usize],
    device: &Device,
) -> Result<Retrieval> {
    let image = embed_images(model, set, device)?;
    let text = embed_texts(model, &captions.codec, texts, device)?;
    Ok(retrieval(image, text, groups)?)
}

/// The loss config of the flat recipe keys.
pub fn loss_config(
    kind: LossKind,
    init_bias: f64,
    learn_bias: bool,
    chunk: Option<usize>,
) -> ContrastiveLossConfig {
    match kind {
        LossKind::Clip => ContrastiveLossConfig::clip(),
        LossKind::Siglip => ContrastiveLossConfig::Siglip(stoke_contrastive::SiglipLossConfig {
            init_bias,
            learn_bias,
            chunk,
            ..Default::default()
        }),
    }
}

/// Which pair loss a recipe trains with (`--loss clip|siglip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// CLIP's softmax [RADFORD21, Fig. 3].
    Clip,
    /// SigLIP's sigmoid [ZHAI23, Eq. 1].
    Siglip,
}

/// One contrastive training run: the pairs, the batch, FLIP's masking, and the zero-shot
/// curve on a validation set every `eval_every` steps (0: none).
pub struct Stage<'a> {
    /// The training pairs.
    pub train: &'a Captioned,
    /// Pairs per step.
    pub batch_size: usize,
    /// FLIP's patch dropping, if any.
    pub masking: Option<FlipMasking>,
    /// Steps between zero-shot evaluations (metrics.jsonl `zero_shot_accuracy`).
    pub eval_every: usize,
    /// The images the curve is measured on (true labels, held-out templates).
    pub validation: &'a Captioned,
}

/// Trains trainer `name` of `run` on `stage` from the model `init` builds.
///
/// # Errors
/// As [`Run::fit`] and [`step_loss`].
pub fn fit_pairs(
    run: &mut Run,
    name: &str,
    stage: &Stage,
    captions: &Captions,
    init: impl FnOnce(&Device) -> Result<ContrastiveModel>,
) -> Result<ContrastiveModel> {
    let eval_device = run.device().clone();
    run.fit(name, init, |model, batch| {
        // SigLIP's pairs are independent: over several ranks each takes its share and the
        // loss passes text blocks round them. CLIP's softmax couples the whole batch, so
        // each rank computes all of it.
        let group = batch.group().clone();
        let rows = match &model.loss {
            ContrastiveLoss::Siglip(_) if group.is_distributed() => {
                Some(batch.share_rows(stage.batch_size)?)
            }
            _ => None,
        };
        let mut out = step_loss(
            model,
            stage.train,
            captions,
            stage.batch_size,
            stage.masking,
            &mut batch.rng,
            batch.device,
            rows.map(|rows| (rows, &group)),
        )?;
        if stage.eval_every > 0 && (batch.step + 1) % stage.eval_every == 0 {
            let towers = frozen(model).towers;
            let held_out = &captions.templates.held_out;
            out = out.with(
                "zero_shot_accuracy",
                zero_shot(&towers, captions, held_out, stage.validation, &eval_device)?,
            );
        }
        Ok(out)
    })
}

/// The zero-shot curve trainer `name` logged: `(step, accuracy)`.
///
/// # Errors
/// I/O.
pub fn curve(run: &Run, name: &str) -> Result<Vec<(u64, f64)>> {
    logged(run, name, "zero_shot_accuracy")
}

/// The first logged step whose zero-shot accuracy reached `target` (`None`: never).
pub fn steps_to(curve: &[(u64, f64)], target: f64) -> Option<u64> {
    curve.iter().find(|&&(_, a)| a >= target).map(|&(s, _)| s)
}

/// `zero_shot.png`: the zero-shot accuracy curves, one series per trainer.
///
/// # Errors
/// I/O.
pub fn save_curves(run: &Run, series: &[(&str, &[(u64, f64)])]) -> Result<()> {
    save_line_plot(run, "zero_shot.png", "zero-shot accuracy", "accuracy", series)
}

/// `similarity.png`: the cosine similarities of the first `n` images of `set`, ordered by
/// class, with their held-out captions (row: image, column: caption; bright = similar), 8
/// pixels per cell.
///
/// # Errors
/// The towers' errors; I/O.
pub fn save_similarity(
    run: &Run,
    model: &TwoTower,
    captions: &Captions,
    set: &Captioned,
    n: usize,
) -> Result<()> {
    // The first images of `set` sorted by class, so a good model shows class blocks.
    let mut indices: Vec<usize> = (0..n.min(set.len())).collect();
    indices.sort_by_key(|&i| (set.labels[i], i));
    let n = indices.len();
    let subset = set.select(&indices);
    let texts = held_out_captions(captions, &subset, 0)?;
    let device = run.device();
    let image = embed_images(model, &subset, device)?;
    let text = embed_texts(model, &captions.codec, &texts, device)?;
    let sims: Vec<f32> = image
        .matmul(text.transpose())
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    let (low, high) =
        sims.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let scale = if high > low { high - low } else { 1.0 };
    let pixels: Vec<f32> = sims.iter().map(|v| (v - low) / scale).collect();
    Ok(stoke_data::image::save_grid(run.dir().file("similarity.png"), &[&pixels], n, n, 1, 8)?)
}

/// The model without autodiff, for evaluation.
pub fn frozen(model: &ContrastiveModel) -> ContrastiveModel {
    model.valid()
}

/// Precision and recall of `flagged` at finding `wrong` (0 when nothing is flagged or wrong).
pub fn precision_recall(flagged: &[bool], wrong: &[bool]) -> (f64, f64) {
    let hits = flagged.iter().zip(wrong).filter(|&(&f, &w)| f && w).count() as f64;
    let n_flagged = flagged.iter().filter(|&&f| f).count() as f64;
    let n_wrong = wrong.iter().filter(|&&w| w).count() as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    (ratio(hits, n_flagged), ratio(hits, n_wrong))
}

/// The shapes recipes' 42 zero-shot classes, (colour, shape) colour-major, with each class's
/// prompts: its caption at each of the five positions (ensembled by the classifier).
pub fn shape_classes() -> (Vec<(Colour, Shape)>, Vec<Vec<String>>) {
    let classes: Vec<(Colour, Shape)> = Colour::ALL
        .iter()
        .flat_map(|&colour| Shape::ALL.iter().map(move |&shape| (colour, shape)))
        .collect();
    let prompts = classes
        .iter()
        .map(|&(colour, shape)| {
            Position::ALL
                .iter()
                .map(|&position| Scene { colour, shape, position, size: Size::Large }.caption())
                .collect()
        })
        .collect();
    (classes, prompts)
}
