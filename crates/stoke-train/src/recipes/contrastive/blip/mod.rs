//! BLIP's recipes [LI22, Sec. 3] on the procedural shapes: what `blip-shapes` and `capfilt-shapes`
//! share. The model sizes and decoding settings (config JSON `model`, `decoding`), the
//! caption tokenizer (every training caption and the prompt "a picture of "), one
//! pre-training step (ITC + ITM + LM, each logged), and the evaluations: retrieval by ITC
//! and after ITM reranking, ITM accuracy, zero-shot accuracy, and captioning accuracy by
//! beam search (colour, shape and position all right), with the captions picture.

pub mod blip_shapes;
pub mod capfilt_shapes;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stoke_contrastive::blip::{
    BeamSearch, Blip, BlipConfig, BlipInputs, BlipRetrieval, Nucleus, Objectives, Queued,
};
use stoke_contrastive::eval::{accuracy, zero_shot_classifier, zero_shot_predict};
use stoke_core::validate;
use stoke_data::image::Rgb8Image;
use stoke_data::plot::{draw_text, text_height};
use stoke_data::shapes::{self, Scene, ShapesConfig, Split};
use stoke_nn::{MedConfig, VitConfig};

use super::Codec;
use crate::error::{Result, TrainError};
use crate::harness::{Loss, Run};

/// BLIP's captioning prompt [LI22, Sec. 4] ("a picture of ", its trailing space a word
/// boundary here).
pub const PROMPT: &str = "a picture of";

/// Images per forward pass in evaluation.
const EVAL_BLOCK: usize = 256;
/// The largest feature queue a config may ask for.
const MAX_QUEUE: usize = 1 << 20;
/// The most beams a config may ask for.
const MAX_BEAMS: usize = 32;
/// Candidates ITM reranks per query (BLIP's `k_test` is 256 on COCO's 5k images).
const RERANK_K: usize = 32;

/// The model's sizes and BLIP's pre-training settings (config JSON `model`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSizes {
    /// ViT patch side.
    pub patch: usize,
    /// Token width of the ViT and the MED.
    pub d_model: usize,
    /// Blocks of the ViT and of the MED.
    pub n_layers: usize,
    /// Attention heads per block.
    pub n_heads: usize,
    /// Width of the ITC space.
    pub d_embed: usize,
    /// Longest text row in tokens (`<bos>`/`[DEC]`, the prompt, the caption, `<eos>`).
    pub context: usize,
    /// Rows of each feature queue (a multiple of the batch size).
    pub queue_size: usize,
    /// EMA momentum, in `[0, 1)`.
    pub momentum: f64,
    /// The soft targets' final weight.
    pub alpha: f64,
    /// Steps over which alpha ramps up linearly from 0.
    pub alpha_ramp_steps: usize,
}

impl ModelSizes {
    /// The shapes recipes' model: 4x4 patches of 16x16 images, width 64, 2 blocks of 4
    /// heads, a 64-wide ITC space, rows of 12 tokens, queues of 512, BLIP's momentum 0.995
    /// and alpha 0.4.
    pub const SHAPES: ModelSizes = ModelSizes {
        patch: 4,
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        d_embed: 64,
        context: 12,
        queue_size: 512,
        momentum: 0.995,
        alpha: 0.4,
        alpha_ramp_steps: 300,
    };

    /// The model's config for `side x side` images and a tokenizer of `text_vocab` ids.
    pub fn config(&self, side: usize, text_vocab: usize) -> BlipConfig {
        let image = VitConfig::new(
            shapes::CHANNELS,
            side,
            self.patch,
            self.d_model,
            self.n_layers,
            self.n_heads,
        );
        let text = MedConfig::new(
            text_vocab + 2,
            self.context,
            self.d_model,
            self.n_layers,
            self.n_heads,
            self.d_model,
        );
        BlipConfig::new(image, text, self.d_embed, self.queue_size).with_momentum(self.momentum)
    }

    /// Checks every setting (and builds the model once on the CPU) before a run starts.
    ///
    /// # Errors
    /// A setting out of range; a queue size that is not a multiple of the batch; sizes the
    /// networks refuse.
    pub fn validate(&self, side: usize, text_vocab: usize, batch_size: usize) -> Result<()> {
        validate::in_half_open("momentum", self.momentum, 0.0, 1.0, "[0, 1)")?;
        validate::in_range("alpha", self.alpha, 0.0, 1.0, "[0, 1]")?;
        validate::size("queue_size", self.queue_size)?;
        validate::multiple_of("queue_size", self.queue_size, "batch_size", batch_size)?;
        if self.queue_size > MAX_QUEUE {
            return Err(TrainError::Invalid(format!(
                "queue_size {} exceeds {MAX_QUEUE}",
                self.queue_size
            )));
        }
        validate::product("queue_size * d_embed", &[self.queue_size, self.d_embed])?;
        self.config(side, text_vocab).init(&Device::flex())?;
        Ok(())
    }

    /// Alpha at `step`: `alpha * min(1, step / alpha_ramp_steps)` (BLIP ramps it over the
    /// first two epochs).
    pub fn alpha_at(&self, step: usize) -> f64 {
        if self.alpha_ramp_steps == 0 {
            return self.alpha;
        }
        self.alpha * (step as f64 / self.alpha_ramp_steps as f64).min(1.0)
    }
}

/// Captioning settings (config JSON `decoding`): beam search for evaluation, nucleus
/// sampling for CapFilt's synthetic captions. Lengths count the whole decoder row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decoding {
    /// Beams of the search.
    pub beams: usize,
    /// Shortest row before end of text may be chosen.
    pub min_length: usize,
    /// Longest row (at most the context).
    pub max_length: usize,
    /// Beam search's repetition penalty (1: none; BLIP's default).
    pub repetition_penalty: f64,
    /// Nucleus sampling's top-p, in `(0, 1]`.
    pub top_p: f64,
    /// Nucleus sampling's repetition penalty (1.1 in BLIP's CapFilt).
    pub sample_repetition_penalty: f64,
}

impl Default for Decoding {
    fn default() -> Self {
        Self {
            beams: 3,
            min_length: 5,
            max_length: 12,
            repetition_penalty: 1.0,
            top_p: 0.9,
            sample_repetition_penalty: 1.1,
        }
    }
}

impl Decoding {
    /// Checks the settings against the context and the prompt's length.
    ///
    /// # Errors
    /// A value out of range, or a prompt that leaves no room under `max_length`.
    pub fn validate(&self, context: usize, prompt: usize) -> Result<()> {
        validate::size("beams", self.beams)?;
        if self.beams > MAX_BEAMS {
            return Err(TrainError::Invalid(format!("beams {} exceeds {MAX_BEAMS}", self.beams)));
        }
        validate::positive("top_p", self.top_p)?;
        validate::in_range("top_p", self.top_p, 0.0, 1.0, "(0, 1]")?;
        for (name, value) in [
            ("repetition_penalty", self.repetition_penalty),
            ("sample_repetition_penalty", self.sample_repetition_penalty),
        ] {
            validate::in_range(name, value, 1.0, 100.0, "[1, 100]")?;
        }
        if self.max_length > context {
            return Err(TrainError::Invalid(format!(
                "max_length {} exceeds the context {context}",
                self.max_length
            )));
        }
        if 1 + prompt >= self.max_length {
            return Err(TrainError::Invalid(format!(
                "the prompt takes {} tokens with [DEC]: max_length {} leaves no room for a caption",
                1 + prompt,
                self.max_length
            )));
        }
        Ok(())
    }

    fn beam(&self) -> BeamSearch {
        BeamSearch {
            beams: self.beams,
            min_length: self.min_length,
            max_length: self.max_length,
            repetition_penalty: self.repetition_penalty,
            length_penalty: 1.0,
        }
    }

    fn nucleus(&self) -> Nucleus {
        Nucleus {
            top_p: self.top_p,
            min_length: self.min_length,
            max_length: self.max_length,
            repetition_penalty: self.sample_repetition_penalty,
        }
    }
}

/// The tokenizer and the prompt, shared by every BLIP shapes recipe.
pub struct Text {
    /// Word-level tokenizer of every training-split caption and the prompt.
    pub codec: Codec,
    /// The prompt's token ids (after `[DEC]`).
    pub prompt: Vec<i64>,
}

impl Text {
    /// The tokenizer of every training-combination caption and the prompt, cut to
    /// `context`.
    ///
    /// # Errors
    /// A tokenizer that does not train; a caption longer than the context.
    pub fn new(context: usize) -> Result<Self> {
        let mut corpus: Vec<String> =
            Scene::all().iter().filter(|s| !s.is_held_out()).map(Scene::caption).collect();
        corpus.push(PROMPT.to_string());
        let refs: Vec<&str> = corpus.iter().map(String::as_str).collect();
        let codec = Codec::word_level(&refs, context)?;
        let prompt: Vec<i64> = codec.tokenizer.encode(PROMPT)?.into_iter().map(i64::from).collect();
        let longest = corpus
            .iter()
            .map(|c| codec.tokenizer.encode(c).map(|ids| ids.len()))
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .max()
            .unwrap_or(0);
        // `<bos>`, the prompt, the longest caption, `<eos>`.
        let needed = 2 + prompt.len() + longest;
        if needed > context {
            return Err(TrainError::Invalid(format!(
                "context {context} is too short: a prompted caption takes {needed} tokens"
            )));
        }
        Ok(Self { codec, prompt })
    }

    /// The end-of-text id.
    pub fn eos(&self) -> i64 {
        i64::from(self.codec.tokenizer.eos_id())
    }

    /// The tokenizer's vocabulary (the MED adds `[ENC]` and `[DEC]`).
    pub fn vocab_size(&self) -> usize {
        self.codec.vocab_size()
    }

    /// The caption of generated ids (special tokens skipped).
    ///
    /// # Errors
    /// An id the tokenizer does not know (`[ENC]`, `[DEC]`).
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        let known: Vec<u32> = ids
            .iter()
            .filter(|&&id| (0..self.vocab_size() as i64).contains(&id))
            .map(|&id| id as u32)
            .collect();
        Ok(self.codec.tokenizer.decode(&known)?)
    }
}

/// Captions tokenized for one step: the encoders' rows, the decoder's (prompted) rows and
/// the caption groups (identical captions share one).
pub struct Rows {
    ids: Vec<i64>,
    lengths: Vec<usize>,
    decoder_ids: Vec<i64>,
    decoder_lengths: Vec<usize>,
    groups: Vec<usize>,
}

impl Rows {
    /// # Errors
    /// The tokenizer's errors.
    pub fn new(text: &Text, captions: &[String]) -> Result<Self> {
        let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
        let tokens = text.codec.tokens(&refs)?;
        let prompted: Vec<String> = captions.iter().map(|c| format!("{PROMPT} {c}")).collect();
        let refs: Vec<&str> = prompted.iter().map(String::as_str).collect();
        let decoder = text.codec.tokens(&refs)?;
        Ok(Self {
            ids: tokens.ids,
            lengths: tokens.lengths,
            decoder_ids: decoder.ids,
            decoder_lengths: decoder.lengths,
            groups: groups(captions),
        })
    }
}

/// Each caption's id: a hash of its text below 2^23 (so the id queue holds it exactly in
/// `f32`); identical captions get equal ids in every step.
pub fn groups(captions: &[String]) -> Vec<usize> {
    captions
        .iter()
        .map(|c| (crate::harness::collective::fnv1a(c.as_bytes()) % (1 << 23)) as usize)
        .collect()
}

/// One BLIP step on `images` and their `captions` with `objectives`: the loss to
/// differentiate (the sum of the trained objectives) with `itc`, `itm`, `lm`,
/// `itm_accuracy` and `temperature` logged, and what [`Blip::after_step`] queues.
///
/// # Errors
/// The model's errors.
#[allow(clippy::too_many_arguments)]
pub fn step(
    model: &Blip,
    sizes: &ModelSizes,
    text: &Text,
    images: Tensor<4>,
    captions: &[String],
    objectives: Objectives,
    step: usize,
    rng: &mut StdRng,
) -> Result<(Loss, Queued)> {
    let rows = Rows::new(text, captions)?;
    let uniforms: Vec<f32> = (0..2 * captions.len()).map(|_| rng.random::<f32>()).collect();
    let inputs = BlipInputs {
        images,
        ids: &rows.ids,
        lengths: &rows.lengths,
        groups: Some(&rows.groups),
        decoder_ids: &rows.decoder_ids,
        decoder_lengths: &rows.decoder_lengths,
        prompt: text.prompt.len(),
        alpha: sizes.alpha_at(step),
        uniforms: &uniforms,
    };
    let out = model.forward(&inputs, objectives)?;
    let value = |t: &Tensor<1>| f64::from(t.clone().into_scalar::<f32>());
    let mut loss = Loss::new(out.total()).with("temperature", model.temperature());
    if objectives.itc {
        loss = loss.with("itc", value(&out.itc));
    }
    if objectives.itm {
        loss = loss.with("itm", value(&out.itm)).with("itm_accuracy", out.itm_accuracy);
    }
    if objectives.lm {
        loss = loss.with("lm", value(&out.lm));
    }
    Ok((loss, out.queued))
}

/// Images drawn from `scenes` with `draw`'s noise seeded by `seed`.
///
/// # Shapes
/// `[scenes.len(), 3, side, side]`.
pub fn scene_images(
    draw: &ShapesConfig,
    scenes: &[Scene],
    seed: u64,
    device: &Device,
) -> Tensor<4> {
    let side = draw.side();
    let pixels = draw.draw_batch(scenes, seed);
    Tensor::from_data(TensorData::new(pixels, [scenes.len(), shapes::CHANNELS, side, side]), device)
}

/// Everything evaluated on one model (metrics.json keys).
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// ITM-reranked retrieval on seen-combination scenes (BLIP's figure).
    pub retrieval: stoke_contrastive::Retrieval,
    /// ITC retrieval on the same scenes.
    pub retrieval_itc: stoke_contrastive::Retrieval,
    /// ITM-reranked retrieval on scenes of the held-out combinations.
    pub held_out_retrieval: stoke_contrastive::Retrieval,
    /// ITC retrieval on those scenes.
    pub held_out_retrieval_itc: stoke_contrastive::Retrieval,
    /// ITM at 0.5 on each image's true caption and one wrong caption drawn uniformly.
    pub itm_accuracy: f64,
    /// Zero-shot accuracy over the 42 (colour, shape) classes (prompts: the five positions).
    pub zero_shot_accuracy: f64,
    /// Beam-search captions with colour, shape and position all right, held-out images of
    /// seen combinations.
    pub caption_accuracy: f64,
    /// The same on images of the held-out combinations.
    pub held_out_caption_accuracy: f64,
    /// Binomial standard errors of the two caption accuracies and the ITM accuracy.
    pub standard_errors: Value,
}

/// What an evaluation looks at: the scenes and their images.
pub struct EvalSets {
    seen: Vec<Scene>,
    seen_images: Tensor<4>,
    held_out: Vec<Scene>,
    held_out_images: Tensor<4>,
    n_caption: usize,
}

impl EvalSets {
    /// `n_eval` scenes of seen combinations and of held-out ones drawn with `seed`
    /// (disjoint from every training draw by its seed); captioning uses the first
    /// `n_caption` of each.
    pub fn new(
        draw: &ShapesConfig,
        n_eval: usize,
        n_caption: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let seen = shapes::sample(n_eval, seed, Split::Train);
        let held_out = shapes::sample(n_eval, seed ^ 0x9e37, Split::HeldOut);
        Self {
            seen_images: scene_images(draw, &seen, seed, device),
            held_out_images: scene_images(draw, &held_out, seed ^ 0x9e37, device),
            seen,
            held_out,
            n_caption: n_caption.min(n_eval),
        }
    }
}

/// Image tokens and ITC features of `images`, in blocks.
fn encode_images(model: &Blip, images: &Tensor<4>) -> Result<(Tensor<3>, Tensor<2>)> {
    let n = images.dims()[0];
    let (mut tokens, mut feats) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(EVAL_BLOCK) {
        let len = EVAL_BLOCK.min(n - start);
        let (t, f) = model.encode_image(images.clone().narrow(0, start, len))?;
        tokens.push(t);
        feats.push(f);
    }
    Ok((Tensor::cat(tokens, 0), Tensor::cat(feats, 0)))
}

/// ITC text features of `captions`, in blocks.
fn encode_texts(
    model: &Blip,
    text: &Text,
    captions: &[String],
    device: &Device,
) -> Result<Tensor<2>> {
    let mut feats = Vec::new();
    for block in captions.chunks(EVAL_BLOCK) {
        let refs: Vec<&str> = block.iter().map(String::as_str).collect();
        let tokens = text.codec.tokens(&refs)?;
        feats.push(model.encode_text(&tokens.ids, &tokens.lengths, device)?);
    }
    Ok(Tensor::cat(feats, 0))
}

/// ITM match probabilities of `captions` against image tokens, in blocks.
fn itm_scores(
    model: &Blip,
    text: &Text,
    tokens: &Tensor<3>,
    captions: &[String],
) -> Result<Vec<f32>> {
    let mut scores = Vec::with_capacity(captions.len());
    for (b, block) in captions.chunks(EVAL_BLOCK).enumerate() {
        let refs: Vec<&str> = block.iter().map(String::as_str).collect();
        let rows = text.codec.tokens(&refs)?;
        let images = tokens.clone().narrow(0, b * EVAL_BLOCK, block.len());
        scores.extend(model.itm_scores(images, &rows.ids, &rows.lengths)?);
    }
    Ok(scores)
}

/// Beam-search captions of `images`, decoded, in blocks.
fn beam_captions(
    model: &Blip,
    text: &Text,
    decoding: &Decoding,
    images: Tensor<4>,
) -> Result<Vec<String>> {
    let n = images.dims()[0];
    let mut captions = Vec::with_capacity(n);
    for start in (0..n).step_by(EVAL_BLOCK) {
        let len = EVAL_BLOCK.min(n - start);
        let block = images.clone().narrow(0, start, len);
        for ids in model.beam_search(block, &text.prompt, text.eos(), &decoding.beam())? {
            captions.push(text.decode(&ids)?);
        }
    }
    Ok(captions)
}

/// One synthetic caption per image by nucleus sampling (CapFilt's captioner), in blocks.
///
/// # Errors
/// The model's errors.
pub fn sample_captions(
    model: &Blip,
    text: &Text,
    decoding: &Decoding,
    images: &Tensor<4>,
    rng: &mut StdRng,
) -> Result<Vec<String>> {
    let n = images.dims()[0];
    let mut captions = Vec::with_capacity(n);
    let mut uniform = || rng.random::<f32>();
    for start in (0..n).step_by(EVAL_BLOCK) {
        let len = EVAL_BLOCK.min(n - start);
        let block = images.clone().narrow(0, start, len);
        for ids in
            model.nucleus(block, &text.prompt, text.eos(), &decoding.nucleus(), &mut uniform)?
        {
            captions.push(text.decode(&ids)?);
        }
    }
    Ok(captions)
}

/// ITM match probabilities of each image with its caption.
///
/// # Errors
/// The model's errors.
pub fn match_scores(
    model: &Blip,
    text: &Text,
    images: &Tensor<4>,
    captions: &[String],
) -> Result<Vec<f32>> {
    let (tokens, _) = encode_images(model, images)?;
    itm_scores(model, text, &tokens, captions)
}

/// Whether `caption` names the scene's colour, shape and position.
pub fn describes(caption: &str, scene: &Scene) -> bool {
    shapes::parse_caption(caption).is_ok_and(|c| c.describes(scene))
}

/// A scene that differs from `scene` in colour, shape or position, drawn with `rng` among
/// the training combinations (a wrong caption's scene).
pub fn other_scene(scene: &Scene, rng: &mut StdRng) -> Scene {
    loop {
        let other = shapes::sample(1, rng.random::<u64>(), Split::Train)[0];
        if (other.colour, other.shape, other.position)
            != (scene.colour, scene.shape, scene.position)
        {
            return other;
        }
    }
}

fn share(hits: usize, n: usize) -> f64 {
    hits as f64 / n.max(1) as f64
}

fn standard_error(p: f64, n: usize) -> f64 {
    (p * (1.0 - p) / n.max(1) as f64).sqrt()
}

/// ITC and ITM-reranked retrieval of images (tokens and features) and their captions,
/// identical captions interchangeable.
fn retrieve(
    model: &Blip,
    text: &Text,
    tokens: &Tensor<3>,
    image_feat: &Tensor<2>,
    captions: &[String],
    device: &Device,
) -> Result<BlipRetrieval> {
    let text_feat = encode_texts(model, text, captions, device)?;
    let rows = text.codec.tokens(&captions.iter().map(String::as_str).collect::<Vec<_>>())?;
    let groups = groups(captions);
    let (ids, lengths) = (&rows.ids, &rows.lengths);
    let image_feat = image_feat.clone();
    Ok(model.retrieval(tokens.clone(), image_feat, text_feat, ids, lengths, &groups, RERANK_K)?)
}

/// Every figure of one model (the model without autodiff).
///
/// # Errors
/// The model's errors.
pub fn evaluate(
    model: &Blip,
    text: &Text,
    decoding: &Decoding,
    sets: &EvalSets,
    seed: u64,
    device: &Device,
) -> Result<(Evaluation, Vec<String>)> {
    let captions: Vec<String> = sets.seen.iter().map(Scene::caption).collect();
    let n = captions.len();
    let (tokens, image_feat) = encode_images(model, &sets.seen_images)?;
    let both = retrieve(model, text, &tokens, &image_feat, &captions, device)?;
    let held_out_captions: Vec<String> = sets.held_out.iter().map(Scene::caption).collect();
    let (held_tokens, held_feat) = encode_images(model, &sets.held_out_images)?;
    let held_out = retrieve(model, text, &held_tokens, &held_feat, &held_out_captions, device)?;
    // ITM: the true caption and one wrong one per image.
    let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let wrong: Vec<String> = sets.seen.iter().map(|s| other_scene(s, &mut rng).caption()).collect();
    let right_scores = itm_scores(model, text, &tokens, &captions)?;
    let wrong_scores = itm_scores(model, text, &tokens, &wrong)?;
    let itm_hits = right_scores.iter().filter(|&&p| p > 0.5).count()
        + wrong_scores.iter().filter(|&&p| p <= 0.5).count();
    let itm_accuracy = share(itm_hits, 2 * n);
    // Zero-shot over the 42 classes, each class's five position captions ensembled.
    let (classes, prompts) = super::shape_classes();
    let class_texts = prompts
        .iter()
        .map(|prompts| encode_texts(model, text, prompts, device))
        .collect::<Result<Vec<_>>>()?;
    let predicted = zero_shot_predict(image_feat, zero_shot_classifier(class_texts)?)?;
    let truth: Vec<usize> = sets
        .seen
        .iter()
        .map(|s| classes.iter().position(|&(c, k)| c == s.colour && k == s.shape).unwrap_or(0))
        .collect();
    let zero_shot_accuracy = accuracy(&predicted, &truth)?;
    // Captioning by beam search.
    let m = sets.n_caption;
    let seen_captions =
        beam_captions(model, text, decoding, sets.seen_images.clone().narrow(0, 0, m))?;
    let held_captions =
        beam_captions(model, text, decoding, sets.held_out_images.clone().narrow(0, 0, m))?;
    let right = |generated: &[String], scenes: &[Scene]| {
        share(generated.iter().zip(scenes).filter(|(c, s)| describes(c, s)).count(), m)
    };
    let caption_accuracy = right(&seen_captions, &sets.seen);
    let held_out_caption_accuracy = right(&held_captions, &sets.held_out);
    let standard_errors = json!({
        "caption_accuracy": standard_error(caption_accuracy, m),
        "held_out_caption_accuracy": standard_error(held_out_caption_accuracy, m),
        "itm_accuracy": standard_error(itm_accuracy, 2 * n),
        "zero_shot_accuracy": standard_error(zero_shot_accuracy, n),
    });
    let evaluation = Evaluation {
        retrieval: both.reranked,
        retrieval_itc: both.itc,
        held_out_retrieval: held_out.reranked,
        held_out_retrieval_itc: held_out.itc,
        itm_accuracy,
        zero_shot_accuracy,
        caption_accuracy,
        held_out_caption_accuracy,
        standard_errors,
    };
    Ok((evaluation, seen_captions))
}

/// `captions.png`: the first `n` seen evaluation images (upscaled), each with its
/// generated caption and the ITM match probability of that caption, green when the
/// caption is right and red when not.
///
/// # Errors
/// The model's errors; I/O.
pub fn save_captions(
    run: &Run,
    model: &Blip,
    text: &Text,
    sets: &EvalSets,
    generated: &[String],
    draw: &ShapesConfig,
    n: usize,
) -> Result<()> {
    let n = n.min(generated.len()).min(sets.seen.len());
    if n == 0 {
        return Ok(());
    }
    let images = sets.seen_images.clone().narrow(0, 0, n);
    let scores = match_scores(model, text, &images, &generated[..n])?;
    let pixels: Vec<f32> =
        images.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
    let side = draw.side();
    let (zoom, line) = (6, text_height(1) + 4);
    let (cell_w, cell_h) = (260, side * zoom + 3 * line + 8);
    let columns = 4;
    let rows = n.div_ceil(columns);
    let mut picture = Rgb8Image::new(columns * cell_w, rows * cell_h, [255, 255, 255]);
    let len = 3 * side * side;
    for i in 0..n {
        let (x0, y0) = ((i % columns) * cell_w + 4, (i / columns) * cell_h + 4);
        paint_image(&mut picture, &pixels[i * len..(i + 1) * len], side, (x0, y0), zoom);
        let ok = describes(&generated[i], &sets.seen[i]);
        let colour = if ok { [0, 130, 0] } else { [200, 0, 0] };
        let y = y0 + side * zoom + 4;
        draw_text(&mut picture, x0, y, &generated[i], 1, colour);
        draw_text(&mut picture, x0, y + line, &format!("itm {:.3}", scores[i]), 1, [0, 0, 0]);
        draw_text(
            &mut picture,
            x0,
            y + 2 * line,
            &format!("true: {}", sets.seen[i].caption()),
            1,
            [90, 90, 90],
        );
    }
    Ok(picture.save_png(run.dir().file("captions.png"))?)
}

/// Paints a `[3, side, side]` image with its top-left corner at `(x0, y0)`, each pixel a
/// `zoom`-square.
pub fn paint_image(
    picture: &mut Rgb8Image,
    image: &[f32],
    side: usize,
    (x0, y0): (usize, usize),
    zoom: usize,
) {
    let plane = side * side;
    for y in 0..side {
        for x in 0..side {
            let channel =
                |c: usize| (image[c * plane + y * side + x].clamp(0.0, 1.0) * 255.0) as u8;
            let colour = [channel(0), channel(1), channel(2)];
            picture.fill_rect(x0 + x * zoom, y0 + y * zoom, zoom, zoom, colour);
        }
    }
}

/// The model without autodiff, for evaluation.
pub fn frozen(model: &Blip) -> Blip {
    model.valid()
}
