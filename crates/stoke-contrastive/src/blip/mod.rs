//! BLIP [LI22, Sec. 3]: a ViT and a multimodal mixture of encoder-decoder ([`stoke_nn::Med`])
//! pre-trained with three objectives at once (Sec. 3.2):
//!
//! - ITC: the unimodal image and text features against the momentum encoders' features of
//!   the batch and of two queues, with soft targets from the momentum model
//!   ([`soft_targets`]) and a learnable temperature (0.07 at init, clamped to
//!   `[0.001, 0.5]` after every step as BLIP's code clamps it).
//! - ITM: the image-grounded encoder's `[ENC]` output scores matched / not matched, on the
//!   batch's pairs and one hard negative text per image and one hard negative image per
//!   text, drawn from the ITC similarities ([`hard_negatives`]).
//! - LM: the image-grounded decoder's next-token loss from `[DEC]`, label smoothing 0.1
//!   ([`lm_loss`]).
//!
//! Design decision: the momentum encoders and the queues are part of the module (so a
//! checkpoint keeps them and a resumed run continues exactly) but carry no gradient; the
//! optimizer never sees them. [`Blip::after_step`] moves them once per optimizer step:
//! the EMA towards the new weights, then the batch's momentum features into the queues.
//! Doing the EMA after step `t` is BLIP's order (its forward updates the momentum model
//! first, from the weights step `t - 1` left). The `[ENC]` and `[DEC]` tokens are the last
//! two ids of the MED's vocabulary; the text rows' first token (`<bos>`, BLIP's `[CLS]`)
//! is replaced by them in the grounded modes.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_contrastive::blip::{BlipConfig, BlipInputs, Objectives};
//! use stoke_nn::{MedConfig, VitConfig};
//!
//! let device = Device::flex();
//! let image = VitConfig::new(3, 8, 4, 16, 1, 2);
//! let text = MedConfig::new(12, 6, 16, 1, 2, 16);
//! let blip = BlipConfig::new(image, text, 8, 8).init(&device)?;
//! let ids = [1, 5, 6, 2, 0, 0, 1, 7, 2, 0, 0, 0];
//! let inputs = BlipInputs {
//!     images: Tensor::<4>::ones([2, 3, 8, 8], &device),
//!     ids: &ids,
//!     lengths: &[4, 3],
//!     groups: None,
//!     decoder_ids: &ids,
//!     decoder_lengths: &[4, 3],
//!     prompt: 0,
//!     alpha: 0.4,
//!     uniforms: &[0.5; 4],
//! };
//! let out = blip.forward(&inputs, Objectives::ALL)?;
//! let total = out.total();
//! assert!(total.into_scalar::<f32>() > 0.0);
//! // The momentum model follows, the queues take the batch's momentum features.
//! let blip = blip.after_step(out.queued)?;
//! // A queue that does not divide by the batch: an error.
//! let (image, text) = (VitConfig::new(3, 8, 4, 16, 1, 2), MedConfig::new(12, 6, 16, 1, 2, 16));
//! let bad = BlipConfig::new(image, text, 8, 3);
//! assert!(bad.init(&device)?.forward(&inputs, Objectives::ALL).is_err());
//! # Ok::<(), stoke_contrastive::ContrastiveError>(())
//! ```

mod caption;
mod losses;
mod momentum;
mod rerank;

pub use caption::{BeamSearch, Nucleus};
pub use losses::{hard_negatives, lm_loss, positive_targets, soft_cross_entropy, soft_targets};
pub use momentum::{FeatureQueue, ema_update};
pub use rerank::BlipRetrieval;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use stoke_core::validate;
use stoke_nn::{Med, MedConfig, MedMode, Memory, Vit, VitConfig, VitPooling};

use crate::error::{Result, check_shape};
use crate::normalize::l2_normalize;

/// BLIP's sizes and pre-training settings.
#[derive(Config, Debug)]
pub struct BlipConfig {
    /// The image encoder (its class token is the image's vector).
    pub image: VitConfig,
    /// The MED; its last two ids are `[ENC]` and `[DEC]`, its `d_memory` must be the
    /// image encoder's width.
    pub text: MedConfig,
    /// Width of the shared ITC space.
    pub d_embed: usize,
    /// Rows of each feature queue; a multiple of the batch size (65536 in BLIP's code).
    pub queue_size: usize,
    /// EMA momentum of the momentum encoders, in `[0, 1)`.
    #[config(default = 0.995)]
    pub momentum: f64,
    /// Initial ITC temperature.
    #[config(default = 0.07)]
    pub temperature: f64,
    /// LM label smoothing.
    #[config(default = 0.1)]
    pub label_smoothing: f64,
}

/// Where BLIP clamps its temperature.
pub const TEMPERATURE_RANGE: (f64, f64) = (0.001, 0.5);

impl BlipConfig {
    /// Builds the model on `device`: the online networks, a momentum copy of the unimodal
    /// encoders (equal to them at init) and two queues of random unit vectors.
    ///
    /// # Errors
    /// A size the networks refuse; a MED whose `d_memory` is not the ViT's width or whose
    /// vocabulary has no room for `[ENC]` and `[DEC]`; the momentum outside `[0, 1)`; a
    /// temperature outside the clamp range; label smoothing outside `[0, 1)`.
    pub fn init(&self, device: &Device) -> Result<Blip> {
        validate::in_half_open("momentum", self.momentum, 0.0, 1.0, "[0, 1)")?;
        let (low, high) = TEMPERATURE_RANGE;
        validate::in_range("temperature", self.temperature, low, high, "[0.001, 0.5]")?;
        validate::in_half_open("label_smoothing", self.label_smoothing, 0.0, 1.0, "[0, 1)")?;
        validate::size("d_embed", self.d_embed)?;
        validate::at_least(
            "MED vocabulary ([ENC], [DEC] and the text's)",
            self.text.vocab_size,
            3,
        )?;
        check_shape(
            "MED memory width (the ViT's d_model)",
            &[self.image.d_model],
            &[self.text.d_memory],
        )?;
        let image = self.image.clone().with_pooling(VitPooling::ClassToken);
        let unimodal = |device: &Device| -> Result<Unimodal> {
            let vit = image.init(device)?;
            let med = self.text.init(device)?;
            let projection = |d_in| LinearConfig::new(d_in, self.d_embed).init(device);
            Ok(Unimodal {
                vision_proj: projection(vit.d_model()),
                text_proj: projection(med.d_model()),
                vit,
                med,
            })
        };
        let online = unimodal(device)?;
        // A second build (fresh parameter ids, so no gradient or optimizer state is ever
        // shared) set to the online weights.
        let momentum = ema_update(unimodal(device)?, &online, 0.0)?.no_grad();
        Ok(Blip {
            itm_head: LinearConfig::new(online.med.d_model(), 2).init(device),
            temperature: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![self.temperature as f32], [1]),
                device,
            )),
            online,
            momentum,
            image_queue: FeatureQueue::new(self.queue_size, self.d_embed, device)?,
            text_queue: FeatureQueue::new(self.queue_size, self.d_embed, device)?,
            id_queue: FeatureQueue::filled(self.queue_size, 1, -1.0, device)?,
            momentum_rate: self.momentum,
            label_smoothing: self.label_smoothing,
        })
    }
}

/// The image and text encoders with their ITC projections: the online model's, and the
/// momentum model's copy.
#[derive(Module, Debug)]
pub struct Unimodal {
    /// The image encoder.
    pub vit: Vit,
    /// The MED (the momentum copy runs only its text mode).
    pub med: Med,
    /// Image class token -> ITC space.
    pub vision_proj: Linear,
    /// Text `[CLS]` output -> ITC space.
    pub text_proj: Linear,
}

impl Unimodal {
    /// The image tokens and the L2-normalised image features.
    ///
    /// # Shapes
    /// `images: [batch, channels, side, side]` -> `([batch, 1 + n_patches, d_vit],
    /// [batch, d_embed])`.
    fn image(&self, images: Tensor<4>) -> Result<(Tensor<3>, Tensor<2>)> {
        let tokens = self.vit.tokens(images, None)?;
        let [batch, _, d_model] = tokens.dims();
        let class = tokens.clone().narrow(1, 0, 1).reshape([batch, d_model]);
        Ok((tokens, l2_normalize(self.vision_proj.forward(class))))
    }

    /// The L2-normalised text features: the text mode's output at the first token.
    ///
    /// # Shapes
    /// `batch` rows -> `[batch, d_embed]`.
    fn text(&self, ids: &[i64], lengths: &[usize], device: &Device) -> Result<Tensor<2>> {
        let states = self.med.hidden_states(ids, lengths, device, MedMode::Text, None)?;
        let [batch, _, d_model] = states.dims();
        let first = states.narrow(1, 0, 1).reshape([batch, d_model]);
        Ok(l2_normalize(self.text_proj.forward(first)))
    }
}

/// See [`BlipConfig`].
#[derive(Module, Debug)]
pub struct Blip {
    /// The trained encoders.
    pub online: Unimodal,
    /// Their EMA (no gradient).
    pub momentum: Unimodal,
    /// `[ENC]` output -> matched / not matched logits (index 1 = matched).
    pub itm_head: Linear,
    /// The ITC temperature, `[1]`.
    pub temperature: Param<Tensor<1>>,
    /// The momentum image features of recent batches.
    pub image_queue: FeatureQueue,
    /// The momentum text features of recent batches.
    pub text_queue: FeatureQueue,
    /// The caption ids of the queued rows (`-1`: none; a one-wide queue).
    pub id_queue: FeatureQueue,
    momentum_rate: f64,
    label_smoothing: f64,
}

/// Which objectives a step trains (CapFilt fine-tunes the captioner on LM alone and the
/// filter on ITC and ITM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Objectives {
    /// Image-text contrastive.
    pub itc: bool,
    /// Image-text matching.
    pub itm: bool,
    /// Language modelling.
    pub lm: bool,
}

impl Objectives {
    /// All three: BLIP's pre-training.
    pub const ALL: Objectives = Objectives { itc: true, itm: true, lm: true };
    /// LM alone: the captioner.
    pub const CAPTIONER: Objectives = Objectives { itc: false, itm: false, lm: true };
    /// ITC and ITM: the filter.
    pub const FILTER: Objectives = Objectives { itc: true, itm: true, lm: false };
}

/// One training batch.
pub struct BlipInputs<'a> {
    /// The images, `[batch, channels, side, side]`.
    pub images: Tensor<4>,
    /// Caption rows (`<bos>` first), `batch * seq` row-major, for ITC and ITM.
    pub ids: &'a [i64],
    /// Their valid lengths.
    pub lengths: &'a [usize],
    /// Optional caption ids, equal for identical captions and stable across steps (below
    /// 2^24): every batch and queue candidate of a row's id is its ITC positive (BLIP's
    /// retrieval fine-tuning, with its id queue), and never its hard negative. `None`: BLIP's
    /// pre-training, each row's own pair its one positive.
    pub groups: Option<&'a [usize]>,
    /// The decoder's rows (prompt and caption, `<bos>` first, replaced by `[DEC]`).
    pub decoder_ids: &'a [i64],
    /// Their valid lengths.
    pub decoder_lengths: &'a [usize],
    /// Prompt tokens after `[DEC]`, not learned by the LM loss.
    pub prompt: usize,
    /// The soft targets' weight this step (BLIP ramps it up from 0 to 0.4).
    pub alpha: f64,
    /// `2 * batch` uniforms in `[0, 1)` for the hard negatives: images' texts, then texts'
    /// images.
    pub uniforms: &'a [f32],
}

/// One step's losses and what [`Blip::after_step`] needs.
#[derive(Debug)]
pub struct BlipOutput {
    /// ITC (zero when not trained).
    pub itc: Tensor<1>,
    /// ITM (zero when not trained).
    pub itm: Tensor<1>,
    /// LM (zero when not trained).
    pub lm: Tensor<1>,
    /// What the queues take after the step.
    pub queued: Queued,
    /// The share of ITM rows classified right (0 when ITM is not trained).
    pub itm_accuracy: f64,
}

/// A batch's momentum features and caption ids, for [`Blip::after_step`].
#[derive(Debug, Clone)]
pub struct Queued {
    /// The momentum image features, `[batch, d_embed]` (detached).
    pub image_feat_m: Tensor<2>,
    /// The momentum text features, `[batch, d_embed]` (detached).
    pub text_feat_m: Tensor<2>,
    /// The caption ids ([`BlipInputs::groups`]), if any.
    pub ids: Option<Vec<usize>>,
}

impl BlipOutput {
    /// `ITC + ITM + LM`.
    pub fn total(&self) -> Tensor<1> {
        self.itc.clone() + self.itm.clone() + self.lm.clone()
    }
}

impl Blip {
    /// The `[ENC]` id.
    pub fn enc_token(&self) -> i64 {
        self.online.med.vocab_size() as i64 - 2
    }

    /// The `[DEC]` id.
    pub fn dec_token(&self) -> i64 {
        self.online.med.vocab_size() as i64 - 1
    }

    /// The MED's longest row.
    pub fn context(&self) -> usize {
        self.online.med.context()
    }

    /// The caption ids of the queued rows (`-1`: none).
    pub fn queued_ids(&self) -> Vec<i64> {
        let ids = self.id_queue.features().into_data().convert::<f32>();
        ids.try_to_vec::<f32>().unwrap_or_default().into_iter().map(|v| v as i64).collect()
    }

    /// The temperature as a number.
    pub fn temperature(&self) -> f64 {
        f64::from(self.temperature.val().into_scalar::<f32>())
    }

    /// The image tokens (what the grounded modes read) and ITC features.
    ///
    /// # Errors
    /// Images the ViT refuses.
    pub fn encode_image(&self, images: Tensor<4>) -> Result<(Tensor<3>, Tensor<2>)> {
        self.online.image(images)
    }

    /// The unimodal text features (ITC space).
    ///
    /// # Errors
    /// Rows the MED refuses.
    pub fn encode_text(
        &self,
        ids: &[i64],
        lengths: &[usize],
        device: &Device,
    ) -> Result<Tensor<2>> {
        self.online.text(ids, lengths, device)
    }

    /// The ITM logits `[batch, 2]` of each row against its image tokens (index 1 =
    /// matched).
    ///
    /// # Errors
    /// Rows or tokens the MED refuses.
    pub fn itm_logits(
        &self,
        image_tokens: Tensor<3>,
        ids: &[i64],
        lengths: &[usize],
    ) -> Result<Tensor<2>> {
        let device = image_tokens.device();
        let ids = with_first(ids, lengths.len(), self.enc_token());
        let memory = Memory { tokens: image_tokens, hidden: None };
        let states = self.online.med.hidden_states(
            &ids,
            lengths,
            &device,
            MedMode::Grounded,
            Some(&memory),
        )?;
        let [batch, _, d_model] = states.dims();
        Ok(self.itm_head.forward(states.narrow(1, 0, 1).reshape([batch, d_model])))
    }

    /// The probability that each row matches its image: `softmax(itm_logits)[:, 1]`.
    ///
    /// # Errors
    /// As [`Blip::itm_logits`].
    pub fn itm_scores(
        &self,
        image_tokens: Tensor<3>,
        ids: &[i64],
        lengths: &[usize],
    ) -> Result<Vec<f32>> {
        let logits = self.itm_logits(image_tokens, ids, lengths)?;
        let [batch, _] = logits.dims();
        let p = softmax(logits, 1).narrow(1, 1, 1).reshape([batch]);
        Ok(p.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default())
    }

    /// The decoder's next-token logits, `[batch, seq, vocab]`, the rows' first token
    /// replaced by `[DEC]`.
    ///
    /// # Errors
    /// Rows or tokens the MED refuses.
    pub fn decoder_logits(
        &self,
        image_tokens: Tensor<3>,
        ids: &[i64],
        lengths: &[usize],
    ) -> Result<Tensor<3>> {
        let device = image_tokens.device();
        let ids = with_first(ids, lengths.len(), self.dec_token());
        let memory = Memory { tokens: image_tokens, hidden: None };
        Ok(self.online.med.logits(&ids, lengths, &device, &memory)?)
    }

    /// One step's losses [LI22, Sec. 3.2].
    ///
    /// # Errors
    /// Inputs of inconsistent sizes; a queue size that is not a multiple of the batch; a
    /// batch of one with ITM (no negative); the networks' errors.
    pub fn forward(&self, x: &BlipInputs, objectives: Objectives) -> Result<BlipOutput> {
        let device = x.images.device();
        let batch = validate::size("batch", x.lengths.len())?;
        validate::same_length("decoder rows", batch, x.decoder_lengths.len())?;
        validate::same_length("images", batch, x.images.dims()[0])?;
        validate::multiple_of("queue_size", self.image_queue.len(), "batch_size", batch)?;
        validate::same_length("uniforms (2 x batch)", 2 * batch, x.uniforms.len())?;
        validate::in_range("alpha", x.alpha, 0.0, 1.0, "[0, 1]")?;
        let zero = || Tensor::<1>::zeros([1], &device);
        let (image_tokens, image_feat) = self.online.image(x.images.clone())?;
        // The momentum model's features (no gradient).
        let (_, image_feat_m) = self.momentum.image(x.images.clone().detach())?;
        let text_feat_m = self.momentum.text(x.ids, x.lengths, &device)?;
        let (image_feat_m, text_feat_m) = (image_feat_m.detach(), text_feat_m.detach());
        let mut out = BlipOutput {
            itc: zero(),
            itm: zero(),
            lm: zero(),
            queued: Queued {
                image_feat_m: image_feat_m.clone(),
                text_feat_m: text_feat_m.clone(),
                ids: x.groups.map(<[usize]>::to_vec),
            },
            itm_accuracy: 0.0,
        };
        if objectives.itc || objectives.itm {
            let text_feat = self.online.text(x.ids, x.lengths, &device)?;
            let temperature =
                self.temperature.val().clamp(TEMPERATURE_RANGE.0, TEMPERATURE_RANGE.1);
            // [batch + queue, d_embed]: the batch's momentum features, then the queue's
            let text_all = Tensor::cat(vec![text_feat_m.clone(), self.text_queue.features()], 0);
            let image_all = Tensor::cat(vec![image_feat_m.clone(), self.image_queue.features()], 0);
            // [batch, d] x [d, batch + queue] -> [batch, batch + queue], divided by the temperature
            let scale = |sim: Tensor<2>| sim / temperature.clone().reshape([1, 1]);
            let sim_i2t = scale(image_feat.matmul(text_all.clone().transpose()));
            let sim_t2i = scale(text_feat.matmul(image_all.clone().transpose()));
            if objectives.itc {
                let queue_ids = self.queued_ids();
                let positives = positive_targets(batch, x.groups, &queue_ids, &device)?;
                let t = temperature.clone().detach().reshape([1, 1]);
                let sim_i2t_m = image_feat_m.clone().matmul(text_all.transpose()) / t.clone();
                let sim_t2i_m = text_feat_m.clone().matmul(image_all.transpose()) / t;
                let i2t_targets = soft_targets(sim_i2t_m, positives.clone(), x.alpha)?;
                let t2i_targets = soft_targets(sim_t2i_m, positives, x.alpha)?;
                out.itc = (soft_cross_entropy(sim_i2t.clone(), i2t_targets)
                    + soft_cross_entropy(sim_t2i.clone(), t2i_targets))
                .div_scalar(2.0);
            }
            if objectives.itm {
                let (itm, accuracy) = self.itm(x, image_tokens.clone(), sim_i2t, sim_t2i)?;
                out.itm = itm;
                out.itm_accuracy = accuracy;
            }
        }
        if objectives.lm {
            let logits = self.decoder_logits(image_tokens, x.decoder_ids, x.decoder_lengths)?;
            out.lm =
                lm_loss(logits, x.decoder_ids, x.decoder_lengths, x.prompt, self.label_smoothing)?;
        }
        Ok(out)
    }

    /// ITM on the batch's pairs, then each text with a hard negative image, then each
    /// image with a hard negative text (labels 1, 0, 0); returns the loss and accuracy.
    fn itm(
        &self,
        x: &BlipInputs,
        image_tokens: Tensor<3>,
        sim_i2t: Tensor<2>,
        sim_t2i: Tensor<2>,
    ) -> Result<(Tensor<1>, f64)> {
        let batch = x.lengths.len();
        let device = image_tokens.device();
        let in_batch = |sim: Tensor<2>| -> Vec<f32> {
            sim.detach()
                .narrow(1, 0, batch)
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default()
        };
        let (uniform_i2t, uniform_t2i) = x.uniforms.split_at(batch);
        let negative_text = hard_negatives(&in_batch(sim_i2t), batch, x.groups, uniform_i2t)?;
        let negative_image = hard_negatives(&in_batch(sim_t2i), batch, x.groups, uniform_t2i)?;
        let seq = x.ids.len() / batch;
        let row = |i: usize| &x.ids[i * seq..(i + 1) * seq];
        // Texts: the batch's, the batch's again (with negative images), the negative texts.
        let mut ids: Vec<i64> = x.ids.to_vec();
        ids.extend_from_slice(x.ids);
        negative_text.iter().for_each(|&j| ids.extend_from_slice(row(j)));
        let mut lengths: Vec<usize> = x.lengths.to_vec();
        lengths.extend_from_slice(x.lengths);
        lengths.extend(negative_text.iter().map(|&j| x.lengths[j]));
        // Images: the batch's, the negative images, the batch's again.
        let index = |indices: Vec<usize>| {
            let indices: Vec<i64> = indices.into_iter().map(|i| i as i64).collect();
            Tensor::<1, Int>::from_data(TensorData::new(indices, [batch]), &device)
        };
        let negative_tokens = image_tokens.clone().select(0, index(negative_image));
        let tokens = Tensor::cat(vec![image_tokens.clone(), negative_tokens, image_tokens], 0);
        let logits = self.itm_logits(tokens, &ids, &lengths)?;
        let mut labels = vec![1i64; batch];
        labels.extend(std::iter::repeat_n(0, 2 * batch));
        let predicted: Vec<i64> = logits
            .clone()
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        let right = predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [3 * batch]), &device);
        let loss = CrossEntropyLossConfig::new().init(&device).forward(logits, targets);
        Ok((loss, right as f64 / (3 * batch) as f64))
    }

    /// After the optimizer's step: the temperature clamped to `[0.001, 0.5]`, the momentum
    /// encoders moved by the EMA towards the new weights, the batch's momentum features
    /// put at the front of the queues.
    ///
    /// # Errors
    /// Features of another width than the queues', or more rows than they hold.
    pub fn after_step(mut self, queued: Queued) -> Result<Self> {
        let Queued { image_feat_m, text_feat_m, ids } = queued;
        let (low, high) = TEMPERATURE_RANGE;
        self.temperature = self.temperature.map(|t| {
            // A fresh leaf (an operation's output cannot be made a trained parameter).
            let require_grad = t.is_require_grad();
            let value = t.clone().into_scalar::<f32>().clamp(low as f32, high as f32);
            Tensor::<1>::from_data(TensorData::new(vec![value], [1]), &t.device())
                .set_require_grad(require_grad)
        });
        self.momentum = ema_update(self.momentum, &self.online, self.momentum_rate)?;
        let rows = image_feat_m.dims()[0];
        let ids: Vec<f32> = match ids {
            Some(ids) => ids.iter().map(|&id| id as f32).collect(),
            None => vec![-1.0; rows],
        };
        validate::same_length("queued ids", rows, ids.len())?;
        let device = image_feat_m.device();
        self.text_queue = self.text_queue.enqueue(text_feat_m)?;
        self.image_queue = self.image_queue.enqueue(image_feat_m)?;
        let ids = Tensor::<2>::from_data(TensorData::new(ids, [rows, 1]), &device);
        self.id_queue = self.id_queue.enqueue(ids)?;
        Ok(self)
    }
}

/// `ids` (rows of equal length) with each row's first token set to `token`.
fn with_first(ids: &[i64], rows: usize, token: i64) -> Vec<i64> {
    let mut ids = ids.to_vec();
    let seq = ids.len() / rows.max(1);
    if seq > 0 {
        ids.iter_mut().step_by(seq).for_each(|id| *id = token);
    }
    ids
}
