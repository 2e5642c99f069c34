//! `vae-digits`: a categorical VAE (20 variables x 10 categories) on binarised 8x8 digits,
//! trained with one gradient estimator for the encoder on the training split, scored by the
//! -ELBO in nats on the validation split (`val_neg_elbo`, where settings are chosen) and on the
//! test split (`test_neg_elbo`, the figure to report) [JANG17, Sec. 4.2, Table 1]; `--estimator gaussian` trains a
//! Gaussian VAE (reparameterisation) as the reference point [KINGMA14, Sec. 3]. Every
//! estimator makes the same number of decoder passes per step (`decoder_passes_per_step`).

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate::{at_least, positive, size};
use stoke_data::digits::{
    self, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION, PIXELS, SIDE,
};
use stoke_data::image;
use stoke_estimators::EstimatorKind;
use stoke_estimators::control_net::ControlNet;
use stoke_estimators::control_variate::{
    CategoricalRelaxation, relax_estimate, variance_objective,
};
use stoke_estimators::gaussian::{kl_standard_normal, reparameterize};
use stoke_estimators::gumbel::{TemperatureSchedule, gumbel_max, gumbel_softmax, sample_gumbel};
use stoke_estimators::score_function::{leave_one_out_baseline, log_prob_bernoulli};
use stoke_estimators::straight_through::straight_through;

use crate::error::{Result, TrainError};
use crate::harness::{
    Entry, Family, Loss, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeDigitsConfig {
    /// The encoder's estimator: `gumbel`, `st-gumbel`, `st`, `reinforce`, `rloo`, `nvil`
    /// (REINFORCE with a learned baseline network `b(x)`), `rebar`, `relax` or `gaussian`.
    pub estimator: EstimatorKind,
    /// Categorical latent variables (Jang et al. use 20 of 10 categories on MNIST).
    pub n_latent: usize,
    /// Categories per variable.
    pub n_categories: usize,
    /// Latent dimension of the Gaussian reference VAE.
    pub gaussian_dim: usize,
    /// Hidden width of encoder and decoder.
    pub width: usize,
    /// Training steps.
    pub steps: usize,
    /// Decoder passes per step: inputs per batch (RLOO takes `batch_size / rloo_samples`
    /// inputs with `rloo_samples` samples each).
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Gumbel temperature floor; annealed as `max(tau_min, exp(-tau_rate step))`
    /// [JANG17, Sec. 4.1].
    pub tau_min: f64,
    /// Annealing rate.
    pub tau_rate: f64,
    /// Samples per input for the leave-one-out baseline.
    pub rloo_samples: usize,
    /// REBAR/RELAX relaxation temperature `lambda` (fixed: learning it needs a second
    /// derivative through the decoder, which Burn's first-order autodiff does not give).
    pub rebar_lambda: f64,
    /// Hidden width of the learned baseline (`nvil`) and RELAX's control network.
    pub control_width: usize,
    /// Monte-Carlo samples per test image for the -ELBO.
    pub eval_samples: usize,
    /// Seed.
    pub seed: u64,
    /// Steps between logged losses.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for VaeDigitsConfig {
    fn default() -> Self {
        Self {
            estimator: EstimatorKind::Gumbel,
            n_latent: 20,
            n_categories: 10,
            gaussian_dim: 20,
            width: 128,
            steps: 3000,
            batch_size: 100,
            learning_rate: 1e-3,
            tau_min: 0.5,
            tau_rate: 3e-4,
            rloo_samples: 4,
            rebar_lambda: 0.5,
            control_width: 64,
            eval_samples: 10,
            seed: 0,
            log_every: 100,
            checkpoint_every: 1000,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "vae-digits",
    family: Family::Estimators,
    summary: "categorical VAE (20 x 10) on binarised digits, --estimator \
              gumbel|st-gumbel|st|reinforce|rloo|nvil|rebar|relax|gaussian; test -ELBO",
    run: |args| launch(&VaeDigits, args),
    check: |args| check(&VaeDigits, args),
    defaults: || defaults_json(&VaeDigits),
    tiny: &[
        ("steps", "40"),
        ("log_every", "10"),
        ("checkpoint_every", "20"),
        ("eval_samples", "1"),
    ],
};

impl VaeDigitsConfig {
    fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("n_latent", self.n_latent),
            ("gaussian_dim", self.gaussian_dim),
            ("width", self.width),
            ("control_width", self.control_width),
            ("batch_size", self.batch_size),
            ("eval_samples", self.eval_samples),
        ] {
            size(name, value)?;
        }
        at_least("n_categories", self.n_categories, 2)?;
        at_least("rloo_samples", self.rloo_samples, 2)?;
        positive("rebar_lambda", self.rebar_lambda)?;
        TemperatureSchedule::new(self.tau_min, self.tau_rate)
            .map(|_| ())
            .map_err(|e| TrainError::Invalid(e.to_string()))
    }

    /// Decoder passes per input per step: REBAR and RELAX decode `b`, `z` and `z~`, RLOO
    /// decodes `rloo_samples` samples; the others one.
    fn passes_per_input(&self) -> usize {
        match self.estimator {
            EstimatorKind::Rloo => self.rloo_samples,
            EstimatorKind::Rebar | EstimatorKind::Relax => 3,
            _ => 1,
        }
    }

    /// Inputs per step: estimators that decode several codes per input get that many fewer
    /// inputs, so every estimator makes the same number of decoder passes per step.
    fn inputs_per_step(&self) -> usize {
        (self.batch_size / self.passes_per_input()).max(1)
    }
}

/// Encoder and decoder MLPs.
#[derive(Module, Debug)]
pub struct Vae {
    enc_hidden: Linear,
    enc_out: Linear,
    dec_hidden: Linear,
    dec_out: Linear,
}

impl Vae {
    fn new(code: usize, enc_out: usize, width: usize, device: &Device) -> Self {
        Self {
            enc_hidden: LinearConfig::new(PIXELS, width).init(device),
            enc_out: LinearConfig::new(width, enc_out).init(device),
            dec_hidden: LinearConfig::new(code, width).init(device),
            dec_out: LinearConfig::new(width, PIXELS).init(device),
        }
    }

    /// Encoder output. `[batch, 64] -> [batch, enc_out]`.
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        self.enc_out.forward(relu(self.enc_hidden.forward(x)))
    }

    /// Bernoulli logits of the pixels. `[batch, code] -> [batch, 64]`.
    fn decode(&self, code: Tensor<2>) -> Tensor<2> {
        self.dec_out.forward(relu(self.dec_hidden.forward(code)))
    }

    /// [`Self::decode`] with the weights detached: gradients reach `code` only.
    fn decode_frozen(&self, code: Tensor<2>) -> Tensor<2> {
        let linear = |layer: &Linear, input: Tensor<2>| {
            let out = input.matmul(layer.weight.val().detach());
            match &layer.bias {
                Some(bias) => out + bias.val().detach().unsqueeze(),
                None => out,
            }
        };
        linear(&self.dec_out, relu(linear(&self.dec_hidden, code)))
    }
}

/// The trained parts of the encoder's control variate: REBAR's `eta` (RELAX's too), and a
/// [`ControlNet`]: NVIL's baseline `b(x)` or RELAX's `r(z, x)`. Trained on the variance
/// objective (`rebar`, `relax`) or the squared error to the reward (`nvil`), by its own Adam.
#[derive(Module, Debug)]
pub struct Control {
    eta: Param<Tensor<1>>,
    net: ControlNet,
}

impl Control {
    fn new(config: &VaeDigitsConfig, device: &Device) -> Self {
        let inputs = match config.estimator {
            EstimatorKind::Relax => config.n_latent * config.n_categories + PIXELS,
            _ => PIXELS,
        };
        Self {
            eta: Param::from_tensor(Tensor::ones([1], device)),
            net: ControlNet::new(inputs, config.control_width, device),
        }
    }
}

/// `-log p(x | code)` per example. `[batch, 64] -> [batch]`.
fn reconstruction_nll(pixel_logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let [batch, _] = x.dims();
    log_prob_bernoulli(pixel_logits, x).sum_dim(1).neg().reshape([batch])
}

/// `KL(q || uniform)` per example for categorical `q = softmax(logits)`.
/// `logits: [batch * n_latent, k] -> [batch]`.
fn kl_uniform(logits: Tensor<2>, batch: usize, k: usize) -> Tensor<1> {
    let log_q = log_softmax(logits, 1);
    let kl = (log_q.clone().exp() * log_q).sum_dim(1).add_scalar((k as f64).ln());
    let [rows] = [kl.dims()[0]];
    kl.reshape([batch, rows / batch]).sum_dim(1).reshape([batch])
}

fn binarised(images: &[[f32; PIXELS]]) -> Vec<f32> {
    images.iter().flatten().map(|&p| if p > 0.5 { 1.0 } else { 0.0 }).collect()
}

fn uniform_matrix<R: Rng + ?Sized>(
    rows: usize,
    cols: usize,
    rng: &mut R,
    device: &Device,
) -> Tensor<2> {
    let values: Vec<f32> = (0..rows * cols).map(|_| rng.random::<f32>()).collect();
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

fn rows(data: &[f32], indices: &[usize], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> =
        indices.iter().flat_map(|&i| data[i * PIXELS..(i + 1) * PIXELS].to_vec()).collect();
    Tensor::from_data(TensorData::new(flat, [indices.len(), PIXELS]), device)
}

struct Setup<'a> {
    config: &'a VaeDigitsConfig,
    device: Device,
}

impl Setup<'_> {
    fn code_dim(&self) -> usize {
        if self.config.estimator == EstimatorKind::Gaussian {
            self.config.gaussian_dim
        } else {
            self.config.n_latent * self.config.n_categories
        }
    }

    /// The Gaussian VAE's -ELBO per example, one reparameterised sample [KINGMA14, Eq. 10].
    /// `[batch, 64] -> [batch]`.
    fn gaussian_neg_elbo<R: Rng + ?Sized>(
        &self,
        model: &Vae,
        x: Tensor<2>,
        rng: &mut R,
    ) -> Tensor<1> {
        let [batch, _] = x.dims();
        let d = self.config.gaussian_dim;
        let stats = model.encode(x.clone()); // [batch, 2 d]
        let (mean, log_var) =
            (stats.clone().slice([0..batch, 0..d]), stats.slice([0..batch, d..2 * d]));
        let eps: Vec<f32> = (0..batch * d).map(|_| StandardNormal.sample(rng)).collect();
        let eps = Tensor::from_data(TensorData::new(eps, [batch, d]), &self.device);
        let z = reparameterize(mean.clone(), log_var.clone(), eps);
        reconstruction_nll(model.decode(z), x)
            + kl_standard_normal(mean, log_var).sum_dim(1).reshape([batch])
    }

    /// REBAR/RELAX [TUCKER17; GRATHWOHL18, Sec. 3.3] for the encoder: the training objective,
    /// the batch's mean -ELBO, and the control variate's variance objective.
    fn controlled_loss<R: Rng + ?Sized>(
        &self,
        model: &Vae,
        control: &Control,
        x: Tensor<2>,
        rng: &mut R,
    ) -> (Tensor<1>, f64, Tensor<1>) {
        let c = self.config;
        let [n, _] = x.dims();
        let (l, k) = (c.n_latent, c.n_categories);
        let device = &self.device;
        let logits = model.encode(x.clone()).reshape([n * l, k]);
        let kl = kl_uniform(logits.clone(), n, k);
        let leaf = logits.clone().detach().require_grad();
        let relaxed = CategoricalRelaxation::new(
            leaf.clone(),
            uniform_matrix(n * l, k, rng, device),
            uniform_matrix(n * l, k, rng, device),
        );
        // The relaxed reconstruction through a decoder whose weights get no gradient: the
        // control variate must not feed the decoder's update.
        let lambda = c.rebar_lambda;
        let c1 = |z: Tensor<2>| {
            let code = softmax(z.div_scalar(lambda), 1).reshape([n, l * k]);
            reconstruction_nll(model.decode_frozen(code), x.clone())
        };
        let c1_tilde = c1(relaxed.z_tilde.clone());
        let grads = (c1(relaxed.z.clone()) - c1_tilde.clone()).sum().backward();
        let pathwise_c1 = leaf
            .grad(&grads)
            .map_or_else(|| relaxed.z.zeros_like().detach(), |g| g.autodiff())
            .reshape([n, l * k]);
        let nll =
            reconstruction_nll(model.decode(relaxed.b.clone().reshape([n, l * k])), x.clone());
        let neg_elbo = nll.clone() + kl;
        let value = f64::from(neg_elbo.clone().mean().into_scalar::<f32>());
        let eta = control.eta.val();
        let eta_column = eta.clone().reshape([1, 1]);
        let mut c_tilde = c1_tilde.detach() * eta.clone();
        let mut pathwise = pathwise_c1 * eta_column;
        if c.estimator == EstimatorKind::Relax {
            let input = |z: Tensor<2>| Tensor::cat(vec![z.reshape([n, l * k]), x.clone()], 1);
            let gradient = |z: Tensor<2>| {
                control.net.input_gradient(input(z)).slice([0..n, 0..l * k]).reshape([n * l, k])
            };
            let (z, z_tilde) = (relaxed.z.clone().detach(), relaxed.z_tilde.clone().detach());
            pathwise = pathwise
                + (relaxed.vjp_z(gradient(z)) - relaxed.vjp_z_tilde(gradient(z_tilde.clone())))
                    .reshape([n, l * k]);
            c_tilde = c_tilde + control.net.forward(input(z_tilde));
        }
        let score = relaxed.score.clone().reshape([n, l * k]);
        let estimate = relax_estimate(score, nll.detach(), c_tilde, pathwise);
        let variance = variance_objective(estimate.clone());
        // The encoder's gradient is the estimate pushed through d logits / d weights; the KL
        // and the decoder get their pathwise gradients.
        let encoder_term = (logits.reshape([n, l * k]) * estimate.detach()).sum_dim(1).reshape([n]);
        ((neg_elbo + encoder_term).mean(), value, variance)
    }

    /// The training objective on a batch (its gradient is the estimator's), the batch's
    /// mean -ELBO for logging, and the control's objective where it has one.
    fn loss<R: Rng + ?Sized>(
        &self,
        model: &Vae,
        control: &Control,
        x: Tensor<2>,
        tau: f64,
        rng: &mut R,
    ) -> Result<(Tensor<1>, f64, Option<Tensor<1>>)> {
        let c = self.config;
        let [batch, _] = x.dims();
        let (l, k) = (c.n_latent, c.n_categories);
        let device = &self.device;
        if c.estimator == EstimatorKind::Gaussian {
            let neg_elbo = self.gaussian_neg_elbo(model, x, rng);
            let value = f64::from(neg_elbo.clone().mean().into_scalar::<f32>());
            return Ok((neg_elbo.mean(), value, None));
        }
        if c.estimator.is_controlled() {
            let (objective, value, variance) = self.controlled_loss(model, control, x, rng);
            return Ok((objective, value, Some(variance)));
        }
        // Replicate inputs for the leave-one-out baseline: [samples * batch, 64].
        let samples = if c.estimator == EstimatorKind::Rloo { c.rloo_samples } else { 1 };
        let x = x.repeat_dim(0, samples);
        let n = samples * batch;
        let logits = model.encode(x.clone()).reshape([n * l, k]);
        let noise = sample_gumbel(n * l, k, rng, device);
        let kl = kl_uniform(logits.clone(), n, k);
        let relaxed = |hard: bool| -> Result<Tensor<2>> {
            gumbel_softmax(logits.clone(), noise.clone(), tau, hard)
                .map_err(|e| TrainError::Invalid(e.to_string()))
        };
        let one_hot_sample = || -> Result<Tensor<2>> {
            Ok(gumbel_max(logits.clone().detach(), noise.clone())?.one_hot::<2>(k).float())
        };
        let (code, score_term) = match c.estimator {
            EstimatorKind::Gumbel => (relaxed(false)?, None),
            EstimatorKind::StGumbel => (relaxed(true)?, None),
            EstimatorKind::St => {
                (straight_through(one_hot_sample()?, softmax(logits.clone(), 1)), None)
            }
            _ => {
                let b = one_hot_sample()?.detach();
                // log q(b) summed over the latent variables: [n].
                let log_q = (log_softmax(logits.clone(), 1) * b.clone())
                    .sum_dim(1)
                    .reshape([n, l])
                    .sum_dim(1)
                    .reshape([n]);
                (b, Some(log_q))
            }
        };
        let nll = reconstruction_nll(model.decode(code.reshape([n, l * k])), x.clone());
        let neg_elbo = nll.clone() + kl;
        let value = f64::from(neg_elbo.clone().mean().into_scalar::<f32>());
        let (objective, control_objective) = match score_term {
            None => (neg_elbo.mean(), None),
            Some(log_q) => {
                let reward = nll.clone().detach();
                let (baseline, fit) = match c.estimator {
                    EstimatorKind::Rloo => (
                        leave_one_out_baseline(reward.clone().reshape([samples, batch]))
                            .map_err(|e| TrainError::Invalid(e.to_string()))?
                            .reshape([n]),
                        None,
                    ),
                    EstimatorKind::Nvil => {
                        // A learned baseline b(x), fitted to the reward by squared error
                        // [MNIH14, Sec. 2.3].
                        let predicted = control.net.forward(x.clone());
                        let fit = (reward.clone() - predicted.clone()).square().mean();
                        (predicted.detach(), Some(fit))
                    }
                    _ => (reward.zeros_like(), None),
                };
                // The KL and the decoder get pathwise gradients; the encoder's reconstruction
                // term gets the score function [WILLIAMS92, Eq. 11].
                ((neg_elbo + (reward - baseline) * log_q).mean(), fit)
            }
        };
        Ok((objective, value, control_objective))
    }

    /// Test -ELBO with discrete samples (Gaussian: reparameterised samples), averaged over
    /// `eval_samples` draws per image.
    fn test_neg_elbo<R: Rng + ?Sized>(
        &self,
        model: &Vae,
        x: Tensor<2>,
        rng: &mut R,
    ) -> Result<f64> {
        let c = self.config;
        let [batch, _] = x.dims();
        let (l, k) = (c.n_latent, c.n_categories);
        let device = &self.device;
        let mut total = 0.0;
        for _ in 0..c.eval_samples {
            let neg_elbo = if c.estimator == EstimatorKind::Gaussian {
                self.gaussian_neg_elbo(model, x.clone(), rng)
            } else {
                let logits = model.encode(x.clone()).reshape([batch * l, k]);
                let noise = sample_gumbel(batch * l, k, rng, device);
                let b = gumbel_max(logits.clone(), noise)?.one_hot::<2>(k).float();
                reconstruction_nll(model.decode(b.reshape([batch, l * k])), x.clone())
                    + kl_uniform(logits, batch, k)
            };
            total += f64::from(neg_elbo.mean().into_scalar::<f32>());
        }
        Ok(total / c.eval_samples as f64)
    }
}

/// The VAE and its control variate, trained together: their objectives touch disjoint
/// parameters (the control variate's is computed on detached encoder outputs and a frozen
/// decoder), so one Adam over both steps each exactly as two would.
#[derive(Module, Debug)]
pub struct VaeWithControl {
    vae: Vae,
    control: Control,
}

/// `vae-digits`.
pub struct VaeDigits;

/// The binarised training, validation and test images.
pub struct Prepared {
    train: Vec<f32>,
    validation: Vec<f32>,
    test: Vec<f32>,
    schedule: TemperatureSchedule,
}

impl Recipe for VaeDigits {
    type Config = VaeDigitsConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> VaeDigitsConfig {
        VaeDigitsConfig::default()
    }

    fn prepare(&self, c: &VaeDigitsConfig) -> Result<Prepared> {
        c.validate()?;
        let schedule = TemperatureSchedule::new(c.tau_min, c.tau_rate)
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        let (train, validation, test) = digits::load()?.split3(
            DEFAULT_VALIDATION_FRACTION,
            DEFAULT_TEST_FRACTION,
            DEFAULT_SPLIT_SEED,
        )?;
        Ok(Prepared {
            train: binarised(&train.images),
            validation: binarised(&validation.images),
            test: binarised(&test.images),
            schedule,
        })
    }

    fn training(&self, c: &VaeDigitsConfig) -> Vec<(String, TrainSpec)> {
        let spec = TrainSpec::adam(c.steps, c.learning_rate, c.seed)
            .every(c.log_every, c.checkpoint_every);
        vec![(PRIMARY.into(), spec)]
    }

    fn run(&self, c: &VaeDigitsConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let setup = Setup { config: c, device: run.device().clone() };
        let enc_out = if c.estimator == EstimatorKind::Gaussian {
            2 * c.gaussian_dim
        } else {
            c.n_latent * c.n_categories
        };
        let n_train = p.train.len() / PIXELS;
        let init = |device: &Device| {
            let vae = Vae::new(setup.code_dim(), enc_out, c.width, device);
            Ok(VaeWithControl { vae, control: Control::new(c, device) })
        };
        let model = run.fit(PRIMARY, init, |model: &VaeWithControl, batch| {
            let training = Setup { config: c, device: batch.device.clone() };
            let tau = p.schedule.tau(batch.step);
            let rng = &mut batch.rng;
            let indices: Vec<usize> =
                (0..c.inputs_per_step()).map(|_| rng.random_range(0..n_train)).collect();
            let x = rows(&p.train, &indices, batch.device);
            let (objective, value, control) =
                training.loss(&model.vae, &model.control, x, tau, rng)?;
            let objective = match control {
                Some(control) => objective + control,
                None => objective,
            };
            Ok(Loss::new(objective).reporting(value).with("tau", tau))
        })?;
        let model = model.valid();
        let mut rng = StdRng::seed_from_u64(c.seed ^ 0xE7A1);
        let all = |data: &[f32]| -> Vec<usize> { (0..data.len() / PIXELS).collect() };
        let x_val = rows(&p.validation, &all(&p.validation), run.device());
        let val_neg_elbo = setup.test_neg_elbo(&model.vae, x_val, &mut rng)?;
        let x_test = rows(&p.test, &all(&p.test), run.device());
        let neg_elbo = setup.test_neg_elbo(&model.vae, x_test.clone(), &mut rng)?;
        save_reconstructions(&setup, &model.vae, x_test, &mut rng, run)?;
        eprintln!(
            "{}: -ELBO validation {val_neg_elbo:.2}, test {neg_elbo:.2} nats with {}; wrote metrics.json, loss.png, reconstructions.png",
            run.dir().path().display(),
            c.estimator
        );
        Ok(metrics_map(json!({
            "estimator": c.estimator,
            "test_neg_elbo": neg_elbo,
            "val_neg_elbo": val_neg_elbo,
            "decoder_passes_per_step": c.inputs_per_step() * c.passes_per_input(),
            "rebar_eta": c.estimator.is_controlled()
                .then(|| f64::from(model.control.eta.val().into_scalar::<f32>())),
        })))
    }
}

/// Top row: 10 test digits; bottom row: their decoded reconstructions (pixel probabilities).
fn save_reconstructions<R: Rng + ?Sized>(
    setup: &Setup,
    model: &Vae,
    x: Tensor<2>,
    rng: &mut R,
    run: &Run,
) -> Result<()> {
    let c = setup.config;
    let x = x.slice([0..10, 0..PIXELS]);
    let code = if c.estimator == EstimatorKind::Gaussian {
        model.encode(x.clone()).slice([0..10, 0..c.gaussian_dim])
    } else {
        let (l, k) = (c.n_latent, c.n_categories);
        let logits = model.encode(x.clone()).reshape([10 * l, k]);
        let noise = sample_gumbel(10 * l, k, rng, &setup.device);
        gumbel_max(logits, noise)?.one_hot::<2>(k).float().reshape([10, l * k])
    };
    let decoded = burn::tensor::activation::sigmoid(model.decode(code));
    let originals: Vec<f32> = x.into_data().iter::<f32>().collect();
    let recon: Vec<f32> = decoded.into_data().iter::<f32>().collect();
    let images: Vec<&[f32]> = originals.chunks(PIXELS).chain(recon.chunks(PIXELS)).collect();
    Ok(image::save_grid(run.dir().file("reconstructions.png"), &images, SIDE, SIDE, 10, 4)?)
}
