//! `clip-digits`, `siglip-digits` and `clip-fashion`: a ViT and a causal text transformer
//! trained from scratch on images captioned from their class name by templates ("a
//! handwritten 7", "the digit seven"; "a photo of a sneaker"), with CLIP's softmax loss
//! [RADFORD21, Fig. 3] or SigLIP's sigmoid loss [ZHAI23, Eq. 1]. `--loss`, `--init-bias`, `--learn-bias`
//! and `--chunk` choose the loss (the SigLIP bias ablation is `--init-bias 0` and
//! `--learn-bias false`). The digits are embedded; Fashion-MNIST (60k + 10k, 28x28) is read
//! from `--data-dir`, `$STOKE_FASHION_MNIST` or Debian's `dataset-fashion-mnist` (`cargo
//! xtask data fashion-mnist` installs it).
//!
//! Each step draws `batch_size` training images and a fresh caption for each from the
//! training templates. Evaluation uses templates held out of training (whose framing words
//! the tokenizer never saw): `zero_shot_accuracy` on the test split with the held-out
//! templates ensembled per class, `retrieval` (`i2t_r1` ... `t2i_r10`) on the test split
//! captioned once by held-out templates (identical captions are interchangeable),
//! `class_retrieval` (any caption or image of the right class counts),
//! `validation_zero_shot_accuracy` for choosing settings, the zero-shot curve on the
//! validation split every `eval_every` steps (`zero_shot_curve`, also in metrics.jsonl),
//! `initial_loss`, the final logit scale and bias, `batch_size`, `steps` and `seconds`.
//! Pictures: `zero_shot.png` (the curve), `similarity.png` (32 test images against
//! their held-out captions) and `confusion.png` (test, held-out templates).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::eval::accuracy;
use stoke_contrastive::{ContrastiveLoss, ContrastiveModel};
use stoke_core::validate;
use stoke_data::digits::DEFAULT_SPLIT_SEED;
use stoke_data::fashion_mnist::{self, FashionMnist, LabelledImages};

use super::{
    Captioned, Captions, DigitSplits, LossKind, Stage, Towers, check_eval_every,
    class_retrieval_on, curve, fit_pairs, frozen, loss_config, retrieval_on, save_confusion,
    save_curves, save_similarity, step_loss, warmup_cosine, zero_shot, zero_shot_predictions,
};
use crate::error::{Result, TrainError};
use crate::harness::trainer::step_rng;
use crate::harness::{
    Entry, Family, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipConfig {
    /// `clip` or `siglip`.
    pub loss: LossKind,
    /// SigLIP's initial bias (-10 in [ZHAI23, Sec. 3.2]).
    pub init_bias: f64,
    /// Whether SigLIP's bias is learned.
    pub learn_bias: bool,
    /// SigLIP computed in blocks of this many texts (`null`: one block).
    pub chunk: Option<usize>,
    /// Pairs per step.
    pub batch_size: usize,
    /// Optimisation steps.
    pub steps: usize,
    /// Adam's peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Seed of the initialisation and of every step's draws.
    pub seed: u64,
    /// Tower sizes.
    pub towers: Towers,
    /// Steps between zero-shot evaluations on the validation split (0: none).
    pub eval_every: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Fashion-MNIST's directory (`null`: `$STOKE_FASHION_MNIST`, then Debian's); must be
    /// `null` for the embedded digits.
    pub data_dir: Option<String>,
    /// Validation images held out of Fashion-MNIST's training set, per class share
    /// (the digits use their fixed three-way split).
    pub validation_fraction: f64,
}

impl ClipConfig {
    fn defaults(dataset: Dataset, loss: LossKind) -> Self {
        match dataset {
            Dataset::Digits => Self::with_loss(loss),
            Dataset::FashionMnist => Self {
                batch_size: 128,
                steps: 2500,
                warmup_steps: 200,
                towers: Towers {
                    patch: 7,
                    d_model: 64,
                    n_layers: 2,
                    n_heads: 4,
                    d_embed: 64,
                    context: 12,
                },
                eval_every: 250,
                log_every: 50,
                checkpoint_every: 500,
                ..Self::with_loss(loss)
            },
        }
    }

    fn with_loss(loss: LossKind) -> Self {
        Self {
            loss,
            init_bias: -10.0,
            learn_bias: true,
            chunk: None,
            batch_size: 64,
            steps: 1500,
            learning_rate: 1e-3,
            warmup_steps: 100,
            seed: 0,
            towers: Towers::DIGITS,
            eval_every: 100,
            log_every: 50,
            checkpoint_every: 500,
            data_dir: None,
            validation_fraction: 1.0 / 12.0,
        }
    }
}

const TINY: &[(&str, &str)] = &[
    ("steps", "40"),
    ("batch_size", "16"),
    ("warmup_steps", "5"),
    ("eval_every", "20"),
    ("log_every", "10"),
    ("checkpoint_every", "20"),
    ("towers", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2, "d_embed": 16}"#),
];

/// The registry entries: `clip-digits`, `siglip-digits`, `clip-fashion`.
pub const ENTRIES: [Entry; 3] = [
    Entry {
        name: "clip-digits",
        family: Family::Contrastive,
        summary: "CLIP (softmax) on the 8x8 digits with templated captions; zero-shot accuracy \
                  with held-out templates, retrieval R@1/5/10",
        run: |args| launch(&CLIP_DIGITS, args),
        check: |args| check(&CLIP_DIGITS, args),
        defaults: || defaults_json(&CLIP_DIGITS),
        tiny: TINY,
    },
    Entry {
        name: "siglip-digits",
        family: Family::Contrastive,
        summary: "SigLIP (sigmoid, --init-bias/--learn-bias/--chunk) on the 8x8 digits; \
                  zero-shot accuracy with held-out templates, retrieval R@1/5/10",
        run: |args| launch(&SIGLIP_DIGITS, args),
        check: |args| check(&SIGLIP_DIGITS, args),
        defaults: || defaults_json(&SIGLIP_DIGITS),
        tiny: TINY,
    },
    Entry {
        name: "clip-fashion",
        family: Family::Contrastive,
        summary: "CLIP (or --loss siglip) on Fashion-MNIST (60k/10k, cargo xtask data \
                  fashion-mnist); zero-shot accuracy on the 10k test images from class-name prompts",
        run: |args| launch(&CLIP_FASHION, args),
        check: |args| check(&CLIP_FASHION, args),
        defaults: || defaults_json(&CLIP_FASHION),
        tiny: TINY,
    },
];

const CLIP_DIGITS: ClipRecipe =
    ClipRecipe { name: "clip-digits", dataset: Dataset::Digits, loss: LossKind::Clip };
const SIGLIP_DIGITS: ClipRecipe =
    ClipRecipe { name: "siglip-digits", dataset: Dataset::Digits, loss: LossKind::Siglip };
const CLIP_FASHION: ClipRecipe =
    ClipRecipe { name: "clip-fashion", dataset: Dataset::FashionMnist, loss: LossKind::Clip };

/// The images a [`ClipRecipe`] trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    /// The embedded 8x8 digits.
    Digits,
    /// Fashion-MNIST.
    FashionMnist,
}

/// A class-captioned dataset with a default loss.
pub struct ClipRecipe {
    name: &'static str,
    dataset: Dataset,
    loss: LossKind,
}

/// The three splits and the captions.
pub struct Prepared {
    train: Captioned,
    validation: Captioned,
    test: Captioned,
    captions: Captions,
}

/// Fashion-MNIST images as captioned images.
fn captioned_fashion(d: &LabelledImages) -> Captioned {
    let labels: Vec<usize> = d.labels.iter().map(|&l| usize::from(l)).collect();
    let all: Vec<usize> = (0..d.len()).collect();
    Captioned {
        channels: 1,
        side: d.rows,
        pixels: d.pixels_f32(&all),
        caption_labels: labels.clone(),
        labels,
    }
}

impl ClipRecipe {
    /// The three splits and the captions of the dataset.
    fn load(&self, c: &ClipConfig) -> Result<Prepared> {
        match self.dataset {
            Dataset::Digits => {
                if let Some(dir) = &c.data_dir {
                    return Err(TrainError::Invalid(format!(
                        "--data-dir {dir}: {} reads the embedded digits, not a directory",
                        self.name
                    )));
                }
                let DigitSplits { train, validation, test, captions } =
                    DigitSplits::load(&c.towers, c.batch_size)?;
                Ok(Prepared { train, validation, test, captions })
            }
            Dataset::FashionMnist => {
                let dir = match &c.data_dir {
                    Some(dir) => dir.into(),
                    None => fashion_mnist::find()?,
                };
                let data = FashionMnist::load(&dir)?;
                let (train, validation) =
                    data.train.split(c.validation_fraction, DEFAULT_SPLIT_SEED)?;
                let names = fashion_mnist::CLASS_NAMES.to_vec();
                let captions = Captions::new(names, fashion_mnist::templates(), c.towers.context)?;
                Ok(Prepared {
                    train: captioned_fashion(&train),
                    validation: captioned_fashion(&validation),
                    test: captioned_fashion(&data.test),
                    captions,
                })
            }
        }
    }
}

impl Recipe for ClipRecipe {
    type Config = ClipConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        self.name
    }

    fn defaults(&self) -> ClipConfig {
        ClipConfig::defaults(self.dataset, self.loss)
    }

    fn prepare(&self, c: &ClipConfig) -> Result<Prepared> {
        validate::size("batch_size", c.batch_size)?;
        validate::count("steps", c.steps)?;
        loss_config(c.loss, c.init_bias, c.learn_bias, c.chunk).validate()?;
        check_eval_every(c.eval_every, c.log_every)?;
        let p = self.load(c)?;
        validate::at_least("training images (for batch_size)", p.train.len(), c.batch_size)?;
        c.towers.validate(1, p.train.side, p.captions.codec.vocab_size())?;
        Ok(p)
    }

    fn training(&self, c: &ClipConfig) -> Vec<(String, TrainSpec)> {
        let spec = warmup_cosine(c.steps, c.learning_rate, c.warmup_steps, c.seed)
            .every(c.log_every, c.checkpoint_every);
        vec![(PRIMARY.into(), spec)]
    }

    fn run(&self, c: &ClipConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let loss = loss_config(c.loss, c.init_bias, c.learn_bias, c.chunk);
        let vocab = p.captions.codec.vocab_size();
        let init = |device: &Device| -> Result<ContrastiveModel> {
            let towers = c.towers.config(1, p.train.side, vocab).init(device)?;
            Ok(ContrastiveModel { towers, loss: loss.init(device)? })
        };
        let initial_loss = initial_loss(c, p, run.device(), init)?;
        let stage = Stage {
            train: &p.train,
            batch_size: c.batch_size,
            masking: None,
            eval_every: c.eval_every,
            validation: &p.validation,
        };
        let model = fit_pairs(run, PRIMARY, &stage, &p.captions, init)?;
        let model = frozen(&model);
        let device = run.device();
        let held_out = &p.captions.templates.held_out;
        let predicted =
            zero_shot_predictions(&model.towers, &p.captions, held_out, &p.test, device)?;
        let zero_shot_accuracy = accuracy(&predicted, &p.test.labels)?;
        save_confusion(run, &predicted, &p.test.labels, p.captions.class_names.len())?;
        let validation = zero_shot(&model.towers, &p.captions, held_out, &p.validation, device)?;
        let train_templates =
            zero_shot(&model.towers, &p.captions, &p.captions.templates.train, &p.test, device)?;
        let retrieval =
            retrieval_on(&model.towers, &p.captions, &p.test, DEFAULT_SPLIT_SEED, device)?;
        let class_retrieval =
            class_retrieval_on(&model.towers, &p.captions, &p.test, DEFAULT_SPLIT_SEED, device)?;
        let curve = curve(run, PRIMARY)?;
        save_curves(run, &[("validation, held-out templates", &curve)])?;
        save_similarity(run, &model.towers, &p.captions, &p.test, 32)?;
        let (scale, bias) = scalars(&model.loss);
        eprintln!(
            "{}: zero-shot accuracy {zero_shot_accuracy:.4} (held-out templates, test), \
             i2t R@1 {:.3}, t2i R@1 {:.3}",
            run.dir().path().display(),
            retrieval.i2t_r1,
            retrieval.t2i_r1
        );
        Ok(metrics_map(json!({
            "zero_shot_accuracy": zero_shot_accuracy,
            "validation_zero_shot_accuracy": validation,
            "zero_shot_accuracy_train_templates": train_templates,
            "retrieval": retrieval,
            "class_retrieval": class_retrieval,
            "zero_shot_curve": curve,
            "initial_loss": initial_loss,
            "logit_scale": scale,
            "logit_bias": bias,
            "batch_size": c.batch_size,
            "test_size": p.test.len(),
        })))
    }
}

/// The loss of the freshly initialised model on step 0's batch (drawn from `step_rng(seed,
/// 0)`, as the trainer draws it): what the SigLIP bias ablation compares.
fn initial_loss(
    c: &ClipConfig,
    p: &Prepared,
    device: &Device,
    init: impl Fn(&Device) -> Result<ContrastiveModel>,
) -> Result<f64> {
    device.seed(c.seed);
    let model = init(device)?;
    let mut rng = step_rng(c.seed, 0);
    let loss =
        step_loss(&model, &p.train, &p.captions, c.batch_size, None, &mut rng, device, None)?;
    Ok(f64::from(loss.value()))
}

/// The final logit scale and bias (`null` for CLIP's bias).
fn scalars(loss: &ContrastiveLoss) -> (f64, Option<f64>) {
    let first = |t: burn::tensor::Tensor<1>| f64::from(t.into_scalar::<f32>());
    match loss {
        ContrastiveLoss::Clip(l) => (first(l.scale()), None),
        ContrastiveLoss::Siglip(l) => (first(l.scale()), Some(first(l.bias()))),
    }
}
