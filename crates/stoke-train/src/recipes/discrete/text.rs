//! `ar-text` and `mdlm-text`: an autoregressive and a masked-diffusion language model of
//! the same backbone, tokenizer and token budget (`steps * batch_size * context` training
//! tokens) on Moby Dick (or `--corpus-file`), split by `stoke_data::corpus`'s fixed rule.
//!
//! Both score every token of the same validation windows with the same context: the
//! autoregressive model exactly (`<bos>` then the window, shifted), the masked-diffusion
//! model by a Monte-Carlo bound on its negative log-likelihood with its standard error
//! ([`stoke_discrete::elbo`]: MDLM's time-weighted estimator, or LLaDA's count estimator
//! for the `llada` objective) [SAHOO24, Eq. 10], [NIE25, Eq. 6]. Hyper-parameters are
//! chosen on validation; test is reported once at the end.
//!
//! metrics.json: `val_bpc`, `val_bpc_stderr`, `val_bits_per_token`, `test_bpc`,
//! `test_bpc_stderr`, `tokens_per_second`, `val_bpc_curve` (bits per character on the first
//! `n_curve_windows` validation windows during training), `vocab_size`, and for the
//! diffusion model `sample_nfe` with the cache and without it. `samples.txt` holds
//! `n_samples` unconditional samples; `val_bpc.png` the curve.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate;
use stoke_discrete::elbo::{Bound, Estimator};
use stoke_discrete::forward::mask_tokens;
use stoke_discrete::{
    AncestralConfig, LmDenoiser, MaskedObjective, Normaliser, ancestral, autoregressive,
    masked_diffusion_loss, next_token_loss,
};
use stoke_nn::LmTransformer;
use stoke_nn::attention::Visibility;

use super::{
    BOS_ID, Backbone, MASK_ID, TextData, TokenizerKind, ar_bound, diffusion_bound, save_bpc_curve,
    shifted,
};
use crate::error::{Result, TrainError};
use crate::harness::{
    Entry, Family, Loss, LrSchedule, PRIMARY, Recipe, Run, TrainSpec, check, check_eval_every,
    defaults_json, launch, logged, metrics_map,
};

/// Seed of the evaluation draws (masks and times of the bound, samples).
const EVAL_SEED: u64 = 0x5EED_B0C;

/// The config (`config.json`); `method` holds what differs between the models.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig<M> {
    /// Optimisation steps.
    pub steps: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Tokens per window (the models' context).
    pub context: usize,
    /// Adam's peak learning rate (linear warm-up, then cosine decay to a tenth).
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Seed of the initialisation and every step's draws.
    pub seed: u64,
    /// The backbone's sizes.
    pub backbone: Backbone,
    /// Character or BPE tokens.
    pub tokenizer: TokenizerKind,
    /// A UTF-8 text file to train on instead of Moby Dick.
    pub corpus_file: Option<PathBuf>,
    /// Validation windows scored during training (the curve).
    pub n_curve_windows: usize,
    /// Validation and test windows scored at the end (0: all).
    pub n_eval_windows: usize,
    /// Monte-Carlo draws per window of the diffusion bound (at least 2).
    pub n_draws: usize,
    /// Unconditional samples written to `samples.txt`.
    pub n_samples: usize,
    /// Steps between validation evaluations (a multiple of `log_every`; 0: none).
    pub eval_every: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// The model's own settings.
    pub method: M,
}

/// `ar-text`'s own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArMethod {
    /// Sampling temperature.
    pub temperature: f64,
}

/// `mdlm-text`'s own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdlmMethod {
    /// MDLM's (default) or LLaDA's objective.
    pub objective: MaskedObjective,
    /// Whether the denoiser takes the time (MDLM's log-linear model needs none).
    pub conditioned: bool,
    /// Reverse steps of the ancestral sampler.
    pub sample_steps: usize,
}

fn defaults<M>(method: M) -> TextConfig<M> {
    TextConfig {
        steps: 1500,
        batch_size: 32,
        context: 64,
        learning_rate: 2e-3,
        warmup_steps: 100,
        seed: 0,
        backbone: Backbone { d_model: 96, n_layers: 3, n_heads: 4, mlp_ratio: 4 },
        tokenizer: TokenizerKind::Char,
        corpus_file: None,
        n_curve_windows: 64,
        n_eval_windows: 0,
        n_draws: 4,
        n_samples: 4,
        eval_every: 250,
        log_every: 50,
        checkpoint_every: 500,
        method,
    }
}

/// The `--key value` settings of a seconds-long run.
const TINY: &[(&str, &str)] = &[
    ("steps", "30"),
    ("batch_size", "8"),
    ("context", "16"),
    ("warmup_steps", "5"),
    ("backbone", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2}"#),
    ("n_curve_windows", "8"),
    ("n_eval_windows", "16"),
    ("n_draws", "2"),
    ("n_samples", "2"),
    ("eval_every", "10"),
    ("log_every", "10"),
    ("checkpoint_every", "10"),
];

/// The registry entries: `ar-text`, `mdlm-text`.
pub const ENTRIES: [Entry; 2] = [
    Entry {
        name: "ar-text",
        family: Family::Discrete,
        summary: "autoregressive baseline on Moby Dick (characters or BPE): exact validation \
                  bits per character, the reference for the diffusion models",
        run: |args| launch(&ArText, args),
        check: |args| check(&ArText, args),
        defaults: || defaults_json(&ArText),
        tiny: TINY,
    },
    Entry {
        name: "mdlm-text",
        family: Family::Discrete,
        summary: "masked diffusion LM (MDLM's or LLaDA's objective) on Moby Dick: validation \
                  bits per character as a Monte-Carlo bound with its standard error",
        run: |args| launch(&MdlmText, args),
        check: |args| check(&MdlmText, args),
        defaults: || defaults_json(&MdlmText),
        tiny: TINY,
    },
];

impl<M> TextConfig<M> {
    /// Checks everything but the method and loads the data.
    ///
    /// # Errors
    /// A message naming the bad value.
    fn prepare(&self) -> Result<TextData> {
        validate::size("steps", self.steps)?;
        validate::size("batch_size", self.batch_size)?;
        validate::at_least("context", self.context, 2)?;
        if self.context > 4096 || self.batch_size > 1 << 16 {
            return Err(TrainError::Invalid(format!(
                "context {} or batch_size {} is larger than these recipes support (4096, 65536)",
                self.context, self.batch_size
            )));
        }
        validate::size("n_curve_windows", self.n_curve_windows)?;
        validate::at_least("n_draws", self.n_draws, 2)?;
        validate::in_range("n_draws", self.n_draws as f64, 2.0, 1024.0, "2..=1024")?;
        validate::in_range("n_samples", self.n_samples as f64, 0.0, 1024.0, "0..=1024")?;
        validate::positive("learning_rate", self.learning_rate)?;
        check_eval_every(self.eval_every, self.log_every)?;
        if let TokenizerKind::Bpe { vocab_size } = self.tokenizer {
            validate::in_range(
                "tokenizer.vocab_size",
                vocab_size as f64,
                261.0,
                65536.0,
                "261..=65536",
            )?;
        }
        let data = TextData::load(self.corpus_file.as_ref(), self.tokenizer, self.context)?;
        self.backbone.validate(data.codec.vocab_size(), self.context)?;
        Ok(data)
    }

    fn spec(&self) -> TrainSpec {
        let schedule =
            LrSchedule::WarmupCosine { warmup_steps: self.warmup_steps, min_fraction: 0.1 };
        TrainSpec::adam(self.steps, self.learning_rate, self.seed)
            .with_schedule(schedule)
            .every(self.log_every, self.checkpoint_every)
    }

    /// Windows scored at the end.
    fn n_eval(&self, available: usize) -> usize {
        if self.n_eval_windows == 0 { available } else { self.n_eval_windows.min(available) }
    }

    /// Whether `step` (0-based) ends with a validation evaluation.
    fn evaluates(&self, step: usize) -> bool {
        self.eval_every > 0 && (step + 1) % self.eval_every == 0
    }
}

/// The characters the first `n` of `n_windows` windows cover.
fn chars_of(chars: f64, n: usize, n_windows: usize) -> f64 {
    chars * n.min(n_windows) as f64 / n_windows as f64
}

/// The metrics every text model reports, from its validation and test bounds.
fn bound_metrics(data: &TextData, val: &Bound, n_val: usize, test: &Bound, n_test: usize) -> Value {
    let val_chars = chars_of(data.validation_chars, n_val, data.validation.len()).round() as usize;
    let test_chars = chars_of(data.test_chars, n_test, data.test.len()).round() as usize;
    json!({
        "val_bpc": val.bits_per_char(val_chars),
        "val_bpc_stderr": val.bits_per_char_stderr(val_chars),
        "val_bits_per_token": val.bits_per_token(),
        "test_bpc": test.bits_per_char(test_chars),
        "test_bpc_stderr": test.bits_per_char_stderr(test_chars),
        "val_tokens": val.tokens,
        "test_tokens": test.tokens,
        "vocab_size": data.codec.vocab_size(),
        "corpus_chars": data.corpus_chars,
    })
}

/// Writes `samples.txt` (one sample per paragraph) and `val_bpc.png`.
///
/// # Errors
/// I/O; an id the tokenizer cannot render.
fn write_outputs(
    run: &Run,
    data: &TextData,
    samples: &[i64],
    seq: usize,
    curve: &[(u64, f64)],
) -> Result<()> {
    let mut text = String::new();
    for (i, row) in samples.chunks(seq.max(1)).enumerate() {
        text.push_str(&format!("--- sample {i} ---\n{}\n\n", data.codec.render(row)?));
    }
    crate::harness::run_dir::write_atomic(&run.dir().file("samples.txt"), text.as_bytes())?;
    save_bpc_curve(run, &[(PRIMARY, curve)])
}

/// `ar-text`.
pub struct ArText;

impl Recipe for ArText {
    type Config = TextConfig<ArMethod>;
    type Prepared = TextData;

    fn name(&self) -> &'static str {
        ENTRIES[0].name
    }

    fn defaults(&self) -> Self::Config {
        defaults(ArMethod { temperature: 1.0 })
    }

    fn prepare(&self, c: &Self::Config) -> Result<TextData> {
        validate::non_negative("method.temperature", c.method.temperature)?;
        c.prepare()
    }

    fn training(&self, c: &Self::Config) -> Vec<(String, TrainSpec)> {
        vec![(PRIMARY.into(), c.spec())]
    }

    fn run(&self, c: &Self::Config, data: &TextData, run: &mut Run) -> Result<Map<String, Value>> {
        let (batch, context) = (c.batch_size, c.context);
        let vocab = data.codec.vocab_size();
        let init = |device: &Device| -> Result<LmTransformer> {
            Ok(c.backbone.config(vocab, context, Visibility::Causal, false).init(device)?)
        };
        let eval_device = run.device().clone();
        let curve_chars = chars_of(data.validation_chars, c.n_curve_windows, data.validation.len());
        let valid = vec![true; batch * context];
        let started = Instant::now();
        let model = run.fit(PRIMARY, init, |model, step| {
            let targets = data.draw(batch, &mut step.rng);
            let logits = model.logits(
                &shifted(&targets, context),
                [batch, context],
                None,
                None,
                step.device,
            )?;
            let mut out = Loss::new(next_token_loss(logits, &targets, &valid)?);
            if c.evaluates(step.step) {
                let bound = ar_bound(
                    &model.valid(),
                    &data.validation,
                    c.n_curve_windows,
                    batch,
                    &eval_device,
                )?;
                out = out.with("val_bpc", bound.bits_per_char(curve_chars.round() as usize));
            }
            Ok(out)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let model = model.valid();
        let device = run.device();
        let (n_val, n_test) = (c.n_eval(data.validation.len()), c.n_eval(data.test.len()));
        let val = ar_bound(&model, &data.validation, n_val, batch, device)?;
        let test = ar_bound(&model, &data.test, n_test, batch, device)?;
        let mut rng = StdRng::seed_from_u64(EVAL_SEED);
        let denoiser = LmDenoiser { lm: &model, device: device.clone() };
        let samples = if c.n_samples > 0 {
            let prompts = vec![BOS_ID; c.n_samples];
            autoregressive(
                &denoiser,
                &prompts,
                [c.n_samples, 1],
                context - 1,
                c.method.temperature,
                &mut rng,
            )?
            .ids
        } else {
            Vec::new()
        };
        let curve = logged(run, PRIMARY, "val_bpc")?;
        write_outputs(run, data, &samples, context, &curve)?;
        let mut metrics = metrics_map(bound_metrics(data, &val, n_val, &test, n_test));
        report(run, &metrics);
        metrics.insert(
            "tokens_per_second".into(),
            json!((c.steps * batch * context) as f64 / seconds),
        );
        metrics.insert("val_bpc_curve".into(), json!(curve));
        Ok(metrics)
    }
}

/// `mdlm-text`.
pub struct MdlmText;

impl MdlmMethod {
    /// The bound's estimator for the objective the model was trained with.
    fn estimator(&self) -> Estimator {
        match self.objective {
            MaskedObjective::Llada { .. } => Estimator::Count,
            MaskedObjective::Mdlm { schedule, eps, .. } => Estimator::Time { schedule, eps },
        }
    }

    /// The schedule the sampler walks (LLaDA's is linear in the mask probability).
    fn ancestral(&self, cache: bool) -> AncestralConfig {
        let schedule = match self.objective {
            MaskedObjective::Llada { eps } => {
                stoke_core::schedule::MaskingSchedule::LogLinear { eps }
            }
            MaskedObjective::Mdlm { schedule, .. } => schedule,
        };
        AncestralConfig {
            steps: self.sample_steps,
            schedule,
            eps: 1e-5,
            cache: cache && !self.conditioned,
        }
    }
}

impl Recipe for MdlmText {
    type Config = TextConfig<MdlmMethod>;
    type Prepared = TextData;

    fn name(&self) -> &'static str {
        ENTRIES[1].name
    }

    fn defaults(&self) -> Self::Config {
        defaults(MdlmMethod {
            objective: MaskedObjective::mdlm(),
            conditioned: false,
            sample_steps: 256,
        })
    }

    fn prepare(&self, c: &Self::Config) -> Result<TextData> {
        c.method.objective.validate()?;
        validate::in_range(
            "method.sample_steps",
            c.method.sample_steps as f64,
            1.0,
            1e5,
            "1..=100000",
        )?;
        c.prepare()
    }

    fn training(&self, c: &Self::Config) -> Vec<(String, TrainSpec)> {
        vec![(PRIMARY.into(), c.spec())]
    }

    fn run(&self, c: &Self::Config, data: &TextData, run: &mut Run) -> Result<Map<String, Value>> {
        let (batch, context) = (c.batch_size, c.context);
        let vocab = data.codec.vocab_size();
        let method = c.method;
        let init = |device: &Device| -> Result<LmTransformer> {
            Ok(c.backbone
                .config(vocab, context, Visibility::Bidirectional, method.conditioned)
                .init(device)?)
        };
        let eval_device = run.device().clone();
        let curve_chars = chars_of(data.validation_chars, c.n_curve_windows, data.validation.len());
        let estimator = method.estimator();
        let started = Instant::now();
        let model = run.fit(PRIMARY, init, |model, step| {
            let x0 = data.draw(batch, &mut step.rng);
            let corruption = method.objective.draw(batch, &mut step.rng)?;
            let masked = mask_tokens(&x0, &corruption.p_mask, None, MASK_ID, &mut step.rng)?;
            let denoiser = LmDenoiser { lm: model, device: step.device.clone() };
            let logits = denoiser.logits_tensor(&masked.x_t, [batch, context], &corruption.t)?;
            let loss = masked_diffusion_loss(
                logits,
                &x0,
                &masked,
                &corruption.weight,
                Normaliser::Row,
                MASK_ID,
            )?;
            let mut out = Loss::new(loss);
            if c.evaluates(step.step) {
                let frozen = model.valid();
                let denoiser = LmDenoiser { lm: &frozen, device: eval_device.clone() };
                let mut rng = StdRng::seed_from_u64(EVAL_SEED);
                let bound = diffusion_bound(
                    &denoiser,
                    &data.validation,
                    c.n_curve_windows,
                    batch,
                    &estimator,
                    2,
                    &mut rng,
                )?;
                out = out.with("val_bpc", bound.bits_per_char(curve_chars.round() as usize));
            }
            Ok(out)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let model = model.valid();
        let device = run.device();
        let denoiser = LmDenoiser { lm: &model, device: device.clone() };
        let (n_val, n_test) = (c.n_eval(data.validation.len()), c.n_eval(data.test.len()));
        let mut rng = StdRng::seed_from_u64(EVAL_SEED);
        let val = diffusion_bound(
            &denoiser,
            &data.validation,
            n_val,
            batch,
            &estimator,
            c.n_draws,
            &mut rng,
        )?;
        let test =
            diffusion_bound(&denoiser, &data.test, n_test, batch, &estimator, c.n_draws, &mut rng)?;
        let mut metrics = metrics_map(bound_metrics(data, &val, n_val, &test, n_test));
        let (samples, seq) = if c.n_samples > 0 {
            let mut rng = StdRng::seed_from_u64(EVAL_SEED);
            let cached = ancestral(
                &denoiser,
                &[],
                [c.n_samples, 0],
                context,
                MASK_ID,
                &method.ancestral(true),
                &mut rng,
            )?;
            let mut rng = StdRng::seed_from_u64(EVAL_SEED);
            let plain = ancestral(
                &denoiser,
                &[],
                [c.n_samples, 0],
                context,
                MASK_ID,
                &method.ancestral(false),
                &mut rng,
            )?;
            metrics
                .insert("sample_nfe".into(), json!({"cached": cached.nfe, "uncached": plain.nfe}));
            metrics.insert("cached_equals_uncached".into(), json!(cached.ids == plain.ids));
            (cached.ids, cached.seq)
        } else {
            (Vec::new(), context)
        };
        let curve = logged(run, PRIMARY, "val_bpc")?;
        write_outputs(run, data, &samples, seq, &curve)?;
        report(run, &metrics);
        metrics.insert(
            "tokens_per_second".into(),
            json!((c.steps * batch * context) as f64 / seconds),
        );
        metrics.insert("val_bpc_curve".into(), json!(curve));
        Ok(metrics)
    }
}

/// One line on stderr with the headline figures.
fn report(run: &Run, metrics: &Map<String, Value>) {
    eprintln!(
        "{}: validation {:.4} +- {:.4} bits per character, test {:.4}; wrote metrics.json, \
         samples.txt, val_bpc.png",
        run.dir().path().display(),
        metrics["val_bpc"].as_f64().unwrap_or(f64::NAN),
        metrics["val_bpc_stderr"].as_f64().unwrap_or(f64::NAN),
        metrics["test_bpc"].as_f64().unwrap_or(f64::NAN),
    );
}
