//! `ar-text`, `mdlm-text`, `sedd-text` and `bd3lm-text`: an autoregressive, a masked
//! diffusion, a score-entropy and a block-diffusion language model of the same backbone,
//! tokenizer and token budget (`steps * batch_size * context` training tokens) on Moby Dick
//! (or `--corpus-file`), split by `stoke_data::corpus`'s fixed rule.
//!
//! All four score every token of the same validation windows with the same context: the
//! autoregressive model exactly (`<bos>` then the window, shifted), the diffusion models by
//! a Monte-Carlo bound on the negative log-likelihood with its standard error (MDLM's
//! time-weighted estimator or LLaDA's count estimator [SAHOO24, Eq. 10], [NIE25, Eq. 6];
//! SEDD's denoising score entropy with its prior term [LOU24, Eq. 10]; BD3-LM's per-block
//! bound over the unclipped range [ARRIOLA25, Sec. 4]). Hyper-parameters are chosen on
//! validation; test is reported once at the end.
//!
//! metrics.json: `val_bpc`, `val_bpc_stderr`, `val_bits_per_token`, `test_bpc`,
//! `test_bpc_stderr`, `tokens_per_second`, `val_bpc_curve` (bits per character on the first
//! `n_curve_windows` validation windows during training), `vocab_size`, and the network
//! calls of the samples (`sample_nfe`: with and without MDLM's cached predictor, with and
//! without BD3-LM's key-value cache, and whether each pair gave the same tokens).
//! `samples.txt` holds `n_samples` unconditional samples; `val_bpc.png` the curve.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate;
use stoke_data::corpus::Windows;
use stoke_discrete::block::{
    BlockObjective, BlockSampling, block_bound, block_diffusion_loss, generate_blocks,
    mask_positions,
};
use stoke_discrete::elbo::{Bound, Estimator};
use stoke_discrete::forward::{Masked, crop_rows, mask_tokens, random_length};
use stoke_discrete::sedd::SeddCorruption;
use stoke_discrete::{
    AncestralConfig, Graph, LmDenoiser, LmScoreModel, MaskedObjective, Normaliser, SeddObjective,
    SeddSampler, TauLeapingConfig, ancestral, autoregressive, masked_diffusion_loss,
    next_token_loss, sedd_bound, sedd_loss, tau_leaping,
};
use stoke_nn::attention::Visibility;
use stoke_nn::{LmTransformer, LmTransformerConfig};

use super::{
    BOS_ID, Backbone, EOS_ID, MASK_ID, TextData, TokenizerKind, ar_bound, chunked_bound,
    diffusion_bound, shifted,
};
use crate::error::{Result, TrainError};
use crate::harness::{
    Entry, Family, Loss, LrSchedule, PRIMARY, Recipe, Run, TrainSpec, check, check_eval_every,
    defaults_json, launch, logged, metrics_map, save_line_plot,
};

/// Seed of the evaluation draws (masks and times of the bound, samples).
const EVAL_SEED: u64 = 0x05EE_DB0C;

/// The config (`config.json`); `method`'s fields (flattened: `--graph`, `--block`, ...)
/// hold what differs between the models.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Monte-Carlo draws per window of a diffusion bound (at least 2).
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
    #[serde(flatten)]
    pub method: M,
}

/// `ar-text`'s own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArMethod {
    /// Sampling temperature.
    pub temperature: f64,
}

/// `mdlm-text`'s own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MdlmMethod {
    /// MDLM's (default) or LLaDA's objective.
    pub objective: MaskedObjective,
    /// Whether the denoiser takes the time (MDLM's log-linear model needs none).
    pub conditioned: bool,
    /// Reverse steps of the ancestral sampler.
    pub sample_steps: usize,
    /// The share of training batches cropped to a random length in `1..=context`
    /// (LLaDA's pre-training crops 1%, `0.01`; MDLM none, the default).
    #[serde(default)]
    pub random_length: f64,
}

/// The transition graph of `sedd-text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphKind {
    /// Tokens jump to the mask token.
    Absorb,
    /// Tokens jump to any token.
    Uniform,
}

/// `sedd-text`'s own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeddMethod {
    /// The transition graph.
    pub graph: GraphKind,
    /// The noise schedule and smallest time.
    pub objective: SeddObjective,
    /// Reverse steps of the analytic (Tweedie tau-leaping) sampler.
    pub sample_steps: usize,
}

/// `bd3lm-text`'s own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bd3Method {
    /// Tokens per block (a divisor of `context`).
    pub block: usize,
    /// The clipped training range of the mask rate [ARRIOLA25, Sec. 4].
    pub mask_rate_low: f64,
    /// Its upper end.
    pub mask_rate_high: f64,
    /// Ancestral steps per block when sampling.
    pub sample_steps: usize,
}

fn defaults<M>(method: M) -> TextConfig<M> {
    TextConfig {
        steps: 750,
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

/// SEDD's tiny run: its per-sequence score entropy, weighted by the noise rate (up to
/// `1 / eps` near `t = 1`), is noisier than the others' losses, so it averages twice the
/// rows over twice the steps per record.
const SEDD_TINY: &[(&str, &str)] = &[
    ("steps", "60"),
    ("batch_size", "16"),
    ("context", "16"),
    ("warmup_steps", "5"),
    ("backbone", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2}"#),
    ("n_curve_windows", "8"),
    ("n_eval_windows", "16"),
    ("n_draws", "2"),
    ("n_samples", "2"),
    ("eval_every", "20"),
    ("log_every", "20"),
    ("checkpoint_every", "20"),
];

/// The registry entries: `ar-text`, `mdlm-text`, `sedd-text`, `bd3lm-text`.
pub const ENTRIES: [Entry; 4] = [
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
    Entry {
        name: "sedd-text",
        family: Family::Discrete,
        summary: "score-entropy discrete diffusion on Moby Dick, --graph absorb|uniform: \
                  validation bits per character from its bound",
        run: |args| launch(&SeddText, args),
        check: |args| check(&SeddText, args),
        defaults: || defaults_json(&SeddText),
        tiny: SEDD_TINY,
    },
    Entry {
        name: "bd3lm-text",
        family: Family::Discrete,
        summary: "block diffusion on Moby Dick, --block 4|8|16: validation bits per \
                  character, block sampling with and without the key-value cache",
        run: |args| launch(&Bd3Text, args),
        check: |args| check(&Bd3Text, args),
        defaults: || defaults_json(&Bd3Text),
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
        self.backbone.validate(data.codec.vocab_size(), 2 * self.context)?;
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
}

/// What differs between the text models: the network, the batch loss, the bound and the
/// samples. [`run_text`] does the rest.
trait TextModel {
    /// The network of `backbone` for `vocab` ids and windows of `context`.
    fn network(&self, backbone: &Backbone, vocab: usize, context: usize) -> LmTransformerConfig;

    /// The training loss of windows `x0` (`batch` rows of `context`), computed on `rows`
    /// of them when the model [shares its batch](TextModel::shares_batch) (this
    /// data-parallel rank's share; all of them in one process), every random draw made for
    /// the whole batch first.
    ///
    /// # Errors
    /// The library's.
    fn loss(
        &self,
        lm: &LmTransformer,
        x0: &[i64],
        shape: [usize; 2],
        rows: Range<usize>,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Tensor<1>>;

    /// Whether [`TextModel::loss`] computes only its `rows` (a loss that is a mean over
    /// rows of per-row terms); the others compute the whole batch on every rank.
    fn shares_batch(&self) -> bool {
        false
    }

    /// The bound on the first `n` windows, `n_draws` draws each, `batch` at a time.
    ///
    /// # Errors
    /// The library's.
    #[allow(clippy::too_many_arguments)]
    fn bound(
        &self,
        lm: &LmTransformer,
        windows: &Windows,
        n: usize,
        batch: usize,
        n_draws: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Bound>;

    /// `n` unconditional samples of `context` tokens (row-major) with their row length;
    /// extra metrics (network calls) go into `metrics`.
    ///
    /// # Errors
    /// The library's.
    fn samples(
        &self,
        lm: &LmTransformer,
        n: usize,
        context: usize,
        rng_seed: u64,
        device: &Device,
        metrics: &mut Map<String, Value>,
    ) -> Result<(Vec<i64>, usize)>;
}

/// Trains `model` on `c`, then writes its bounds, samples and curve.
///
/// # Errors
/// The library's; I/O.
fn run_text<M>(
    c: &TextConfig<M>,
    model: &impl TextModel,
    data: &TextData,
    run: &mut Run,
) -> Result<Map<String, Value>> {
    let (batch, context) = (c.batch_size, c.context);
    let config = model.network(&c.backbone, data.codec.vocab_size(), context);
    let init = |device: &Device| -> Result<LmTransformer> { Ok(config.init(device)?) };
    let eval_device = run.device().clone();
    let n_curve = c.n_curve_windows.min(data.validation.len());
    let curve_chars = chars_of(data.validation_chars, n_curve, data.validation.len());
    let started = Instant::now();
    let lm = run.fit(PRIMARY, init, |lm, step| {
        let x0 = data.draw(batch, &mut step.rng);
        let rows = if model.shares_batch() { step.share_rows(batch)? } else { 0..batch };
        let loss = model.loss(lm, &x0, [batch, context], rows, &mut step.rng, step.device)?;
        let mut out = Loss::new(loss);
        if c.eval_every > 0 && (step.step + 1).is_multiple_of(c.eval_every) {
            let mut rng = StdRng::seed_from_u64(EVAL_SEED);
            let bound = model.bound(
                &lm.valid(),
                &data.validation,
                n_curve,
                batch,
                2,
                &mut rng,
                &eval_device,
            )?;
            out = out.with("val_bpc", bound.bits_per_char(curve_chars.round() as usize));
        }
        Ok(out)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let lm = lm.valid();
    let device = run.device();
    let (n_val, n_test) = (c.n_eval(data.validation.len()), c.n_eval(data.test.len()));
    let mut rng = StdRng::seed_from_u64(EVAL_SEED);
    let val = model.bound(&lm, &data.validation, n_val, batch, c.n_draws, &mut rng, device)?;
    let test = model.bound(&lm, &data.test, n_test, batch, c.n_draws, &mut rng, device)?;
    let mut metrics = metrics_map(bound_metrics(data, &val, n_val, &test, n_test));
    let (samples, seq) = if c.n_samples > 0 {
        model.samples(&lm, c.n_samples, context, EVAL_SEED, device, &mut metrics)?
    } else {
        (Vec::new(), context)
    };
    let curve = logged(run, PRIMARY, "val_bpc")?;
    let mut text = String::new();
    for (i, row) in samples.chunks(seq.max(1)).enumerate() {
        text.push_str(&format!("--- sample {i} ---\n{}\n\n", data.codec.render(row)?));
    }
    crate::harness::run_dir::write_atomic(&run.dir().file("samples.txt"), text.as_bytes())?;
    let title = "validation bits per character (bound)";
    save_line_plot(run, "val_bpc.png", title, "bits per character", &[(PRIMARY, &curve)])?;
    eprintln!(
        "{}: validation {:.4} +- {:.4} bits per character, test {:.4}; wrote metrics.json, \
         samples.txt, val_bpc.png",
        run.dir().path().display(),
        metrics["val_bpc"].as_f64().unwrap_or(f64::NAN),
        metrics["val_bpc_stderr"].as_f64().unwrap_or(f64::NAN),
        metrics["test_bpc"].as_f64().unwrap_or(f64::NAN),
    );
    metrics.insert("tokens_per_second".into(), json!((c.steps * batch * context) as f64 / seconds));
    metrics.insert("val_bpc_curve".into(), json!(curve));
    Ok(metrics)
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

/// A recipe of this file: its name, defaults and model.
macro_rules! text_recipe {
    ($recipe:ident, $method:ty, $index:expr, $defaults:expr, |$c:ident| $check:block) => {
        impl Recipe for $recipe {
            type Config = TextConfig<$method>;
            type Prepared = TextData;

            fn name(&self) -> &'static str {
                ENTRIES[$index].name
            }

            fn defaults(&self) -> Self::Config {
                defaults($defaults)
            }

            fn prepare(&self, $c: &Self::Config) -> Result<TextData> {
                $check
                $c.prepare()
            }

            fn training(&self, c: &Self::Config) -> Vec<(String, TrainSpec)> {
                vec![(PRIMARY.into(), c.spec())]
            }

            fn run(&self, c: &Self::Config, data: &TextData, run: &mut Run) -> Result<Map<String, Value>> {
                run_text(c, &c.method, data, run)
            }
        }
    };
}

/// `ar-text`.
pub struct ArText;

text_recipe!(ArText, ArMethod, 0, ArMethod { temperature: 1.0 }, |c| {
    validate::non_negative("temperature", c.method.temperature)?;
});

impl TextModel for ArMethod {
    fn network(&self, backbone: &Backbone, vocab: usize, context: usize) -> LmTransformerConfig {
        backbone.config(vocab, context, Visibility::Causal, false)
    }

    fn loss(
        &self,
        lm: &LmTransformer,
        x0: &[i64],
        [_, context]: [usize; 2],
        rows: Range<usize>,
        _: &mut StdRng,
        device: &Device,
    ) -> Result<Tensor<1>> {
        // The mean over every token: equal shares of rows average to the whole batch's.
        let x0 = &x0[rows.start * context..rows.end * context];
        let logits = lm.logits(&shifted(x0, context), [rows.len(), context], None, None, device)?;
        Ok(next_token_loss(logits, x0, &vec![true; x0.len()])?)
    }

    fn shares_batch(&self) -> bool {
        true
    }

    fn bound(
        &self,
        lm: &LmTransformer,
        windows: &Windows,
        n: usize,
        batch: usize,
        _: usize,
        _: &mut StdRng,
        device: &Device,
    ) -> Result<Bound> {
        ar_bound(lm, windows, n, batch, device)
    }

    fn samples(
        &self,
        lm: &LmTransformer,
        n: usize,
        context: usize,
        seed: u64,
        device: &Device,
        _: &mut Map<String, Value>,
    ) -> Result<(Vec<i64>, usize)> {
        let denoiser = LmDenoiser { lm, device: device.clone() };
        let mut rng = StdRng::seed_from_u64(seed);
        let out = autoregressive(
            &denoiser,
            &vec![BOS_ID; n],
            [n, 1],
            context - 1,
            self.temperature,
            &mut rng,
        )?;
        Ok((out.ids, out.seq))
    }
}

/// `mdlm-text`.
pub struct MdlmText;

text_recipe!(
    MdlmText,
    MdlmMethod,
    1,
    MdlmMethod {
        objective: MaskedObjective::mdlm(),
        conditioned: false,
        sample_steps: 256,
        random_length: 0.0,
    },
    |c| {
        c.method.objective.validate()?;
        validate::in_range("random_length", c.method.random_length, 0.0, 1.0, "[0, 1]")?;
        validate::in_range("sample_steps", c.method.sample_steps as f64, 1.0, 1e5, "1..=100000")?;
    }
);

impl MdlmMethod {
    /// The bound's estimator for the objective the model was trained with.
    fn estimator(&self) -> Estimator {
        match self.objective {
            MaskedObjective::Llada { .. } => Estimator::Count,
            MaskedObjective::Mdlm { schedule, eps, .. } => Estimator::Time { schedule, eps },
        }
    }

    /// The sampler's settings (LLaDA's schedule is linear in the mask probability).
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

impl TextModel for MdlmMethod {
    fn network(&self, backbone: &Backbone, vocab: usize, context: usize) -> LmTransformerConfig {
        backbone.config(vocab, context, Visibility::Bidirectional, self.conditioned)
    }

    fn loss(
        &self,
        lm: &LmTransformer,
        x0: &[i64],
        [batch, context]: [usize; 2],
        rows: Range<usize>,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Tensor<1>> {
        let seq = random_length(context, self.random_length, rng)?;
        let cropped;
        let x0 = if seq < context {
            cropped = crop_rows(x0, context, seq)?;
            &cropped[..]
        } else {
            x0
        };
        let corruption = self.objective.draw(batch, rng)?;
        let masked = mask_tokens(x0, &corruption.p_mask, None, MASK_ID, rng)?;
        // Row-normalised (a mean over rows): this rank's rows of every draw.
        let cells = rows.start * seq..rows.end * seq;
        let masked = Masked {
            x_t: masked.x_t[cells.clone()].to_vec(),
            masked: masked.masked[cells.clone()].to_vec(),
        };
        let denoiser = LmDenoiser { lm, device: device.clone() };
        let t = &corruption.t[rows.clone()];
        let logits = denoiser.logits_tensor(&masked.x_t, [rows.len(), seq], t)?;
        Ok(masked_diffusion_loss(
            logits,
            &x0[cells],
            &masked,
            &corruption.weight[rows],
            Normaliser::Row,
            MASK_ID,
        )?)
    }

    fn shares_batch(&self) -> bool {
        true
    }

    fn bound(
        &self,
        lm: &LmTransformer,
        windows: &Windows,
        n: usize,
        batch: usize,
        n_draws: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Bound> {
        let denoiser = LmDenoiser { lm, device: device.clone() };
        diffusion_bound(&denoiser, windows, n, batch, &self.estimator(), n_draws, rng)
    }

    fn samples(
        &self,
        lm: &LmTransformer,
        n: usize,
        context: usize,
        seed: u64,
        device: &Device,
        metrics: &mut Map<String, Value>,
    ) -> Result<(Vec<i64>, usize)> {
        let denoiser = LmDenoiser { lm, device: device.clone() };
        let draw = |cache: bool| {
            let mut rng = StdRng::seed_from_u64(seed);
            ancestral(&denoiser, &[], [n, 0], context, MASK_ID, &self.ancestral(cache), &mut rng)
        };
        let (cached, plain) = (draw(true)?, draw(false)?);
        metrics.insert(
            "sample_nfe".into(),
            json!({"cached": cached.nfe, "uncached": plain.nfe, "same_tokens": cached.ids == plain.ids}),
        );
        Ok((cached.ids, cached.seq))
    }
}

/// `sedd-text`.
pub struct SeddText;

text_recipe!(
    SeddText,
    SeddMethod,
    2,
    SeddMethod { graph: GraphKind::Absorb, objective: SeddObjective::sedd(), sample_steps: 256 },
    |c| {
        c.method.objective.validate()?;
        validate::in_range("sample_steps", c.method.sample_steps as f64, 1.0, 1e5, "1..=100000")?;
    }
);

impl SeddMethod {
    /// The graph over `vocab` ids (the absorbing state is the mask token).
    fn graph(&self, vocab: usize) -> Result<Graph> {
        Ok(match self.graph {
            GraphKind::Absorb => Graph::absorbing(vocab, MASK_ID)?,
            GraphKind::Uniform => Graph::uniform(vocab)?,
        })
    }
}

impl TextModel for SeddMethod {
    fn network(&self, backbone: &Backbone, vocab: usize, context: usize) -> LmTransformerConfig {
        // SEDD's network takes the total noise [LOU24, App. C.2].
        backbone.config(vocab, context, Visibility::Bidirectional, true)
    }

    fn loss(
        &self,
        lm: &LmTransformer,
        x0: &[i64],
        [batch, context]: [usize; 2],
        rows: Range<usize>,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Tensor<1>> {
        let graph = self.graph(lm.vocab_size())?;
        let corruption = self.objective.draw(&graph, x0, batch, rng)?;
        // A mean over rows: this rank's rows of every draw.
        let cells = rows.start * context..rows.end * context;
        let corruption = SeddCorruption {
            t: corruption.t[rows.clone()].to_vec(),
            sigma: corruption.sigma[rows.clone()].to_vec(),
            dsigma: corruption.dsigma[rows.clone()].to_vec(),
            x_t: corruption.x_t[cells.clone()].to_vec(),
        };
        let model = LmScoreModel::new(lm, graph, device.clone())?;
        let log_score =
            model.log_score_tensor(&corruption.x_t, [rows.len(), context], &corruption.sigma)?;
        // Per token, so the learning rate means the same as for the other models.
        let loss = sedd_loss(&graph, log_score, &x0[cells], &corruption)?;
        Ok(loss.mean.div_scalar(context as f64))
    }

    fn shares_batch(&self) -> bool {
        true
    }

    fn bound(
        &self,
        lm: &LmTransformer,
        windows: &Windows,
        n: usize,
        batch: usize,
        n_draws: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Bound> {
        let model = LmScoreModel::new(lm, self.graph(lm.vocab_size())?, device.clone())?;
        chunked_bound(windows, n, batch, |chunk, shape| {
            Ok(sedd_bound(&model, chunk, shape, &self.objective, n_draws, rng)?)
        })
    }

    fn samples(
        &self,
        lm: &LmTransformer,
        n: usize,
        context: usize,
        seed: u64,
        device: &Device,
        metrics: &mut Map<String, Value>,
    ) -> Result<(Vec<i64>, usize)> {
        let model = LmScoreModel::new(lm, self.graph(lm.vocab_size())?, device.clone())?;
        let config =
            TauLeapingConfig::new(SeddSampler::Analytic, self.sample_steps, self.objective.noise);
        let mut rng = StdRng::seed_from_u64(seed);
        let out = tau_leaping(&model, &[], [n, 0], context, &config, &mut rng)?;
        metrics.insert("sample_nfe".into(), json!(out.nfe));
        Ok((out.ids, out.seq))
    }
}

/// `bd3lm-text`.
pub struct Bd3Text;

text_recipe!(
    Bd3Text,
    Bd3Method,
    3,
    Bd3Method { block: 8, mask_rate_low: 0.3, mask_rate_high: 0.8, sample_steps: 8 },
    |c| {
        c.method.objective().validate(c.context)?;
        validate::in_range("sample_steps", c.method.sample_steps as f64, 1.0, 1e5, "1..=100000")?;
    }
);

/// The smallest mask rate of the bound (MDLM's and BD3-LM's `1e-3`).
const BOUND_EPS: f64 = 1e-3;

impl Bd3Method {
    fn objective(&self) -> BlockObjective {
        BlockObjective { block: self.block, low: self.mask_rate_low, high: self.mask_rate_high }
    }
}

impl TextModel for Bd3Method {
    fn network(&self, backbone: &Backbone, vocab: usize, context: usize) -> LmTransformerConfig {
        // The network reads x_t (+) x0: its rotary table covers both halves' positions.
        backbone.config(vocab, 2 * context, Visibility::Bidirectional, false)
    }

    fn loss(
        &self,
        lm: &LmTransformer,
        x0: &[i64],
        [batch, context]: [usize; 2],
        rows: Range<usize>,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Tensor<1>> {
        let t = self.objective().draw(batch, context, rng)?;
        let masked = mask_positions(x0, &t, MASK_ID, rng)?;
        // Normalised by the tokens, B L: this rank's rows of every draw.
        let cells = rows.start * context..rows.end * context;
        let masked = Masked {
            x_t: masked.x_t[cells.clone()].to_vec(),
            masked: masked.masked[cells.clone()].to_vec(),
        };
        Ok(block_diffusion_loss(
            lm,
            &x0[cells.clone()],
            [rows.len(), context],
            self.block,
            &masked,
            &t[cells],
            MASK_ID,
            device,
        )?)
    }

    fn shares_batch(&self) -> bool {
        true
    }

    fn bound(
        &self,
        lm: &LmTransformer,
        windows: &Windows,
        n: usize,
        batch: usize,
        n_draws: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Bound> {
        chunked_bound(windows, n, batch, |chunk, shape| {
            Ok(block_bound(lm, chunk, shape, self.block, BOUND_EPS, n_draws, MASK_ID, device, rng)?)
        })
    }

    fn samples(
        &self,
        lm: &LmTransformer,
        n: usize,
        context: usize,
        seed: u64,
        device: &Device,
        metrics: &mut Map<String, Value>,
    ) -> Result<(Vec<i64>, usize)> {
        let draw = |kv_cache: bool| {
            let sampling = BlockSampling {
                block: self.block,
                max_blocks: context / self.block,
                steps: self.sample_steps,
                kv_cache,
            };
            let mut rng = StdRng::seed_from_u64(seed);
            let started = Instant::now();
            let out = generate_blocks(lm, n, &sampling, MASK_ID, Some(EOS_ID), device, &mut rng);
            out.map(|out| (out, started.elapsed().as_secs_f64()))
        };
        let ((cached, cached_seconds), (plain, plain_seconds)) = (draw(true)?, draw(false)?);
        metrics.insert(
            "sample_nfe".into(),
            json!({
                "kv_cache": cached.nfe, "recomputed": plain.nfe, "same_tokens": cached.ids == plain.ids,
                "kv_cache_seconds": cached_seconds, "recomputed_seconds": plain_seconds,
            }),
        );
        Ok((cached.ids, cached.seq))
    }
}
