//! `clip-digits` and `siglip-digits`: a ViT and a causal text transformer trained from
//! scratch on the 8x8 digits with templated captions ("a handwritten 7", "the digit
//! seven"), with CLIP's softmax loss [RADFORD21] or SigLIP's sigmoid loss [ZHAI23].
//! `--loss`, `--init-bias`, `--learn-bias` and `--chunk` choose the loss (the SigLIP bias
//! ablation is `--init-bias 0` and `--learn-bias false`).
//!
//! Each step draws `batch_size` training images and a fresh caption for each from the
//! training templates. Evaluation uses templates held out of training (whose framing words
//! the tokenizer never saw): `zero_shot_accuracy` on the test split with the held-out
//! templates ensembled per class, `retrieval` (`i2t_r1` ... `t2i_r10`) on the test split
//! captioned once by held-out templates, `validation_zero_shot_accuracy` for choosing
//! settings, the zero-shot curve on the validation split every `eval_every` steps
//! (`zero_shot_curve`, also in metrics.jsonl), `initial_loss`, the final logit scale and
//! bias, `batch_size`, `steps` and `seconds`.

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::{ContrastiveLoss, ContrastiveModel};
use stoke_core::validate;
use stoke_data::captions::{DIGIT_NAMES, Templates};
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION, Digits};

use super::{Captioned, Captions, LossKind, Towers, frozen, loss_config, retrieval_on, step_loss, zero_shot};
use crate::error::Result;
use crate::harness::{
    Entry, Family, LrSchedule, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipDigitsConfig {
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
}

impl ClipDigitsConfig {
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
            towers: Towers { patch: 2, d_model: 64, n_layers: 2, n_heads: 4, d_embed: 64, context: 10 },
            eval_every: 100,
            log_every: 50,
            checkpoint_every: 500,
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

/// The registry entries: `clip-digits`, `siglip-digits`.
pub const ENTRIES: [Entry; 2] = [
    Entry {
        name: "clip-digits",
        family: Family::Contrastive,
        summary: "CLIP (softmax) on the 8x8 digits with templated captions; zero-shot accuracy \
                  with held-out templates, retrieval R@1/5/10",
        run: |args| launch(&ClipDigits(LossKind::Clip), args),
        check: |args| check(&ClipDigits(LossKind::Clip), args),
        defaults: || defaults_json(&ClipDigits(LossKind::Clip)),
        tiny: TINY,
    },
    Entry {
        name: "siglip-digits",
        family: Family::Contrastive,
        summary: "SigLIP (sigmoid, --init-bias/--learn-bias/--chunk) on the 8x8 digits; \
                  zero-shot accuracy with held-out templates, retrieval R@1/5/10",
        run: |args| launch(&ClipDigits(LossKind::Siglip), args),
        check: |args| check(&ClipDigits(LossKind::Siglip), args),
        defaults: || defaults_json(&ClipDigits(LossKind::Siglip)),
        tiny: TINY,
    },
];

/// `clip-digits` / `siglip-digits`, by default loss.
pub struct ClipDigits(pub LossKind);

/// The three splits and the captions.
pub struct Prepared {
    train: Captioned,
    validation: Captioned,
    test: Captioned,
    captions: Captions,
}

/// The digits as captioned images (captions naming the true class).
fn captioned(d: &Digits) -> Captioned {
    let labels: Vec<usize> = d.labels.iter().map(|&l| usize::from(l)).collect();
    Captioned { channels: 1, side: digits::SIDE, pixels: d.flat_pixels(), caption_labels: labels.clone(), labels }
}

impl Recipe for ClipDigits {
    type Config = ClipDigitsConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        match self.0 {
            LossKind::Clip => ENTRIES[0].name,
            LossKind::Siglip => ENTRIES[1].name,
        }
    }

    fn defaults(&self) -> ClipDigitsConfig {
        ClipDigitsConfig::with_loss(self.0)
    }

    fn prepare(&self, c: &ClipDigitsConfig) -> Result<Prepared> {
        validate::size("batch_size", c.batch_size)?;
        validate::count("steps", c.steps)?;
        loss_config(c.loss, c.init_bias, c.learn_bias, c.chunk).validate()?;
        let all = digits::load()?;
        let (train, validation, test) =
            all.split3(DEFAULT_VALIDATION_FRACTION, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED)?;
        validate::at_least("training images (for batch_size)", train.len(), c.batch_size)?;
        let captions = Captions::new(DIGIT_NAMES.to_vec(), Templates::digits(), c.towers.context)?;
        c.towers.validate(1, digits::SIDE, captions.tokenizer.vocab_size())?;
        Ok(Prepared { train: captioned(&train), validation: captioned(&validation), test: captioned(&test), captions })
    }

    fn training(&self, c: &ClipDigitsConfig) -> Vec<(String, TrainSpec)> {
        let schedule = LrSchedule::WarmupCosine { warmup_steps: c.warmup_steps, min_fraction: 0.01 };
        let spec = TrainSpec::adam(c.steps, c.learning_rate, c.seed)
            .with_schedule(schedule)
            .every(c.log_every, c.checkpoint_every);
        vec![(PRIMARY.into(), spec)]
    }

    fn run(&self, c: &ClipDigitsConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let loss = loss_config(c.loss, c.init_bias, c.learn_bias, c.chunk);
        let vocab = p.captions.tokenizer.vocab_size();
        let init = |device: &Device| -> Result<ContrastiveModel> {
            let towers = c.towers.config(1, digits::SIDE, vocab).init(device)?;
            Ok(ContrastiveModel { towers, loss: loss.init(device)? })
        };
        let initial_loss = initial_loss(c, p, run.device(), init)?;
        let eval_device = run.device().clone();
        let model = run.fit(PRIMARY, init, |model, batch| {
            let mut out = step_loss(model, &p.train, &p.captions, c.batch_size, None, &mut batch.rng, batch.device)?;
            if c.eval_every > 0 && (batch.step + 1) % c.eval_every == 0 {
                let towers = frozen(model).towers;
                let accuracy = zero_shot(&towers, &p.captions, &p.captions.templates.held_out, &p.validation, &eval_device)?;
                out = out.with("zero_shot_accuracy", accuracy);
            }
            Ok(out)
        })?;
        let model = frozen(&model);
        let device = run.device();
        let held_out = &p.captions.templates.held_out;
        let zero_shot_accuracy = zero_shot(&model.towers, &p.captions, held_out, &p.test, device)?;
        let validation = zero_shot(&model.towers, &p.captions, held_out, &p.validation, device)?;
        let train_templates = zero_shot(&model.towers, &p.captions, &p.captions.templates.train, &p.test, device)?;
        let retrieval = retrieval_on(&model.towers, &p.captions, &p.test, DEFAULT_SPLIT_SEED, device)?;
        let curve: Vec<Value> = run
            .dir()
            .read_metrics()?
            .iter()
            .filter_map(|r| Some(json!([r["step"].as_u64()?, r.get("zero_shot_accuracy")?.as_f64()?])))
            .collect();
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
            "zero_shot_curve": curve,
            "initial_loss": initial_loss,
            "logit_scale": scale,
            "logit_bias": bias,
            "batch_size": c.batch_size,
            "test_size": p.test.len(),
        })))
    }
}

/// The loss of the freshly initialised model on the first step's batch (what the SigLIP
/// bias ablation compares).
fn initial_loss(
    c: &ClipDigitsConfig,
    p: &Prepared,
    device: &Device,
    init: impl Fn(&Device) -> Result<ContrastiveModel>,
) -> Result<f64> {
    device.seed(c.seed);
    let model = init(device)?;
    let mut rng = StdRng::seed_from_u64(c.seed);
    let loss = step_loss(&model, &p.train, &p.captions, c.batch_size, None, &mut rng, device)?;
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
