//! `bernoulli-toy`: minimise `E[(b - t)^2]`, `b ~ Bernoulli(sigmoid(phi))`, with every
//! estimator of `stoke-estimators` [TUCKER17, Sec. 5.1; GRATHWOHL18, Sec. 6.1].
//!
//! Reports each estimator's gradient mean and variance at a fixed `phi` against the exact
//! gradient `theta (1 - theta) (1 - 2 t)`, with its cost in evaluations of `f` per draw and
//! the variance at equal cost (`grad_var_equal_cost = grad_var * evaluations`), then trains
//! `phi` with each (one draw per step, Adam) and plots the exact loss
//! `theta (1 - t)^2 + (1 - theta) t^2` along the way.
//!
//! The control variates are trained to minimise the gradient variance on their own draws
//! (then measured on fresh ones): REBAR's `eta` by least squares (its estimator is affine in
//! `eta`) at each `lambda` of a log grid, keeping the best `lambda`; RELAX starts from REBAR's
//! `(eta, lambda)` and adds a [`ControlNet`] `r(z)` (with an offset), trained with Adam on the
//! variance objective. On this one-variable toy REBAR's variance keeps falling as `lambda`
//! grows (the relaxation flattens into a constant-plus-linear control variate, variance
//! `~ 1 / lambda^2`), so the grid's upper end `lambda_max` bounds how far REBAR gets.

use std::cell::Cell;
use std::collections::BTreeMap;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::sigmoid as sigmoid_tensor;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_data::plot;
use stoke_estimators::control_net::ControlNet;
use stoke_estimators::control_variate::{
    optimal_eta, rebar_control, rebar_parts, relax_estimate, relax_surrogate, relaxations,
    variance_objective,
};
use stoke_estimators::gumbel::binary_concrete;
use stoke_estimators::probe::{gradient_stats, scalar_gradients};
use stoke_estimators::score_function::{leave_one_out_baseline, log_prob_bernoulli};

use stoke_core::validate::{at_least, count, finite, ordered, positive, size};
use stoke_estimators::EstimatorKind;

use crate::error::{Result, TrainError};
use crate::harness::{
    Entry, Family, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BernoulliToyConfig {
    /// The target `t` (0.45 as in Grathwohl et al.'s figure uses 0.499; Tucker et al. 0.45).
    pub target: f64,
    /// The logit at which gradient statistics are measured.
    pub phi: f64,
    /// Draws for the gradient statistics.
    pub n_draws: usize,
    /// Gumbel (binary concrete) temperature.
    pub tau: f64,
    /// Smallest REBAR/RELAX relaxation temperature `lambda` searched.
    pub lambda_min: f64,
    /// Largest `lambda` searched (log grid of `lambda_points`).
    pub lambda_max: f64,
    /// Points of the `lambda` grid.
    pub lambda_points: usize,
    /// Adam steps training RELAX's control network at each fit.
    pub relax_steps: usize,
    /// Hidden width of RELAX's control network.
    pub relax_width: usize,
    /// Samples per draw for the leave-one-out baseline.
    pub rloo_samples: usize,
    /// Training steps per estimator (one draw each).
    pub steps: usize,
    /// Adam learning rate on `phi`.
    pub learning_rate: f64,
    /// Steps between refits of the control variates during training.
    pub refit_every: usize,
    /// Draws per refit while training (the fit at `phi` uses `max(n_draws, fit_draws)`).
    pub fit_draws: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for BernoulliToyConfig {
    fn default() -> Self {
        Self {
            target: 0.45,
            phi: 0.0,
            n_draws: 20_000,
            tau: 0.5,
            lambda_min: 0.1,
            lambda_max: 100.0,
            lambda_points: 13,
            relax_steps: 200,
            relax_width: 16,
            rloo_samples: 4,
            steps: 1000,
            learning_rate: 0.01,
            refit_every: 100,
            fit_draws: 2000,
            seed: 0,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "bernoulli-toy",
    family: Family::Estimators,
    summary: "minimise E[(b - 0.45)^2], b ~ Bernoulli(sigmoid(phi)), with REINFORCE, RLOO, \
              REBAR, RELAX, Gumbel and ST-Gumbel: gradient mean/variance and training curves",
    run: |args| launch(&BernoulliToy, args),
    check: |args| check(&BernoulliToy, args),
    defaults: || defaults_json(&BernoulliToy),
    tiny: &[
        ("n_draws", "2000"),
        ("steps", "200"),
        ("fit_draws", "300"),
        ("relax_steps", "20"),
        ("lambda_points", "4"),
        ("refit_every", "50"),
    ],
};

impl BernoulliToyConfig {
    /// Checks every value; the message names the bad one.
    ///
    /// # Errors
    /// Non-finite values, zero counts, non-positive temperatures or learning rate.
    pub fn validate(&self) -> Result<()> {
        finite("target", self.target)?;
        finite("phi", self.phi)?;
        positive("tau", self.tau)?;
        positive("lambda_min", self.lambda_min)?;
        positive("lambda_max", self.lambda_max)?;
        if self.lambda_max < self.lambda_min {
            ordered("lambda_min", self.lambda_min, "lambda_max", self.lambda_max)?;
        }
        size("lambda_points", self.lambda_points)?;
        size("relax_width", self.relax_width)?;
        positive("learning_rate", self.learning_rate)?;
        size("n_draws", self.n_draws)?;
        count("steps", self.steps)?;
        count("refit_every", self.refit_every)?;
        size("fit_draws", self.fit_draws)?;
        at_least("rloo_samples", self.rloo_samples, 2)?;
        Ok(())
    }
}

/// The estimators compared, in the order they run.
const ESTIMATORS: [EstimatorKind; 6] = [
    EstimatorKind::Reinforce,
    EstimatorKind::Rloo,
    EstimatorKind::Rebar,
    EstimatorKind::Relax,
    EstimatorKind::Gumbel,
    EstimatorKind::StGumbel,
];

fn uniforms(n: usize, rng: &mut StdRng, device: &Device) -> Tensor<1> {
    let values: Vec<f32> = (0..n).map(|_| rng.random::<f32>().clamp(1e-6, 1.0 - 1e-6)).collect();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Trained control variates: REBAR's `(eta, lambda)`; RELAX's network on top of them.
#[derive(Debug, Clone)]
struct Fitted {
    rebar_eta: f64,
    lambda: f64,
    relax_net: ControlNet,
}

/// The per-draw pieces of REBAR/RELAX at `phi` on draws `(u, v)`, as `[n, 1]` tensors for
/// [`relax_estimate`]: `g = (f(b) - eta c1(z~) - r(z~)) score + eta G + r'(z) - r'(z~) dz~/dphi`.
struct Pieces {
    score: Tensor<2>,
    f_b: Tensor<1>,
    c1_tilde: Tensor<1>,
    pathwise_c1: Tensor<2>,
    z: Tensor<2>,
    z_tilde: Tensor<2>,
    dz_tilde: Tensor<2>,
}

struct Toy<'a> {
    config: &'a BernoulliToyConfig,
    device: Device,
}

impl Toy<'_> {
    fn f(&self, b: Tensor<1>) -> Tensor<1> {
        b.sub_scalar(self.config.target).square()
    }

    fn column(&self, values: Vec<f64>) -> Tensor<2> {
        let n = values.len();
        let values: Vec<f32> = values.into_iter().map(|x| x as f32).collect();
        Tensor::from_data(TensorData::new(values, [n, 1]), &self.device)
    }

    fn pieces(&self, phi: f32, lambda: f64, u: &Tensor<1>, v: &Tensor<1>) -> Result<Pieces> {
        let n = u.dims()[0];
        let device = &self.device;
        let relaxed = |p: Tensor<1>| relaxations(p, u.clone(), v.clone());
        let c1 = |z: Tensor<1>| self.f(sigmoid_tensor(z.div_scalar(lambda)));
        let pathwise_c1 = scalar_gradients(phi, n, device, |p| {
            let (_, z, z_tilde) = relaxed(p);
            c1(z) - c1(z_tilde)
        })?;
        let dz_tilde = scalar_gradients(phi, n, device, |p| relaxed(p).2)?;
        let phis = Tensor::<1>::full([n], phi, device);
        let (b, z, z_tilde) = relaxed(phis);
        let theta = 1.0 / (1.0 + (-f64::from(phi)).exp());
        Ok(Pieces {
            score: b.clone().sub_scalar(theta).reshape([n, 1]),
            f_b: self.f(b),
            c1_tilde: c1(z_tilde.clone()),
            pathwise_c1: self.column(pathwise_c1),
            z: z.reshape([n, 1]),
            z_tilde: z_tilde.reshape([n, 1]),
            dz_tilde: self.column(dz_tilde),
        })
    }

    /// RELAX's per-draw estimates with REBAR's `eta` and control network `net`.
    fn relax(&self, pieces: &Pieces, eta: f64, net: &ControlNet) -> Tensor<2> {
        let p = pieces;
        let pathwise = p.pathwise_c1.clone().mul_scalar(eta) + net.input_gradient(p.z.clone())
            - net.input_gradient(p.z_tilde.clone()) * p.dz_tilde.clone();
        let control = p.c1_tilde.clone().mul_scalar(eta) + net.forward(p.z_tilde.clone());
        relax_estimate(p.score.clone(), p.f_b.clone(), control, pathwise)
    }

    /// Trains the control variates at `phi` on `n` draws per fit: REBAR's `(eta, lambda)` by
    /// least squares over a log grid of `lambda`, then RELAX's network (from zero) by Adam on
    /// the variance objective, each step on fresh draws.
    fn fit(&self, phi: f32, n: usize, rng: &mut StdRng) -> Result<Fitted> {
        let c = self.config;
        let (u, v) = (uniforms(n, rng, &self.device), uniforms(n, rng, &self.device));
        let f = |b: Tensor<1>| self.f(b);
        let reinforce = scalar_gradients(phi, n, &self.device, |p| {
            rebar_parts(p, u.clone(), v.clone(), &f, 1.0).0
        })?;
        let mut best = (f64::INFINITY, 0.0, c.lambda_min);
        for i in 0..c.lambda_points {
            let lambda = if c.lambda_points == 1 {
                c.lambda_min
            } else {
                let frac = i as f64 / (c.lambda_points - 1) as f64;
                c.lambda_min * (c.lambda_max / c.lambda_min).powf(frac)
            };
            let part = scalar_gradients(phi, n, &self.device, |p| {
                rebar_parts(p, u.clone(), v.clone(), &f, lambda).1
            })?;
            let eta = optimal_eta(&reinforce, &part)?;
            let second_moment =
                reinforce.iter().zip(&part).map(|(a, b)| (a + eta * b).powi(2)).sum::<f64>();
            if second_moment < best.0 {
                best = (second_moment, eta, lambda);
            }
        }
        let (_, rebar_eta, lambda) = best;
        let mut relax_net = ControlNet::new(1, c.relax_width, &self.device);
        let mut optimizer: ModuleOptimizer = AdamConfig::new().init();
        let batch = n.min(1024);
        for _ in 0..c.relax_steps {
            let (u, v) = (uniforms(batch, rng, &self.device), uniforms(batch, rng, &self.device));
            let pieces = self.pieces(phi, lambda, &u, &v)?;
            let objective = variance_objective(self.relax(&pieces, rebar_eta, &relax_net));
            let grads = GradientsParams::from_grads(objective.backward(), &relax_net);
            relax_net = optimizer.step(1e-2, relax_net, grads);
        }
        Ok(Fitted { rebar_eta, lambda, relax_net })
    }

    /// `n` independent gradient estimates of `d/dphi E[f(b)]` by `estimator`.
    fn draws(
        &self,
        estimator: EstimatorKind,
        phi: f32,
        n: usize,
        fitted: &Fitted,
        rng: &mut StdRng,
    ) -> Result<Vec<f64>> {
        let c = self.config;
        let (u, v) = (uniforms(n, rng, &self.device), uniforms(n, rng, &self.device));
        let f = |b: Tensor<1>| self.f(b);
        let device = &self.device;
        let estimates = match estimator {
            EstimatorKind::Reinforce => scalar_gradients(phi, n, device, |p| {
                rebar_parts(p, u.clone(), v.clone(), &f, 1.0).0
            })?,
            EstimatorKind::Rebar => {
                let control = rebar_control(&f, fitted.rebar_eta, fitted.lambda);
                scalar_gradients(phi, n, device, |p| {
                    relax_surrogate(p, u.clone(), v.clone(), &f, &control)
                })?
            }
            EstimatorKind::Relax => {
                let pieces = self.pieces(phi, fitted.lambda, &u, &v)?;
                let estimates = self.relax(&pieces, fitted.rebar_eta, &fitted.relax_net);
                estimates.into_data().iter::<f64>().collect()
            }
            EstimatorKind::Gumbel | EstimatorKind::StGumbel => {
                let hard = estimator == EstimatorKind::StGumbel;
                // The surrogate must return a tensor: a refusal inside it is kept and returned
                // after the pass, never turned into a zero gradient.
                let refused = Cell::new(None);
                let draws = scalar_gradients(phi, n, device, |p| {
                    match binary_concrete(p, u.clone(), c.tau, hard) {
                        Ok(b) => self.f(b),
                        Err(e) => {
                            refused.set(Some(e));
                            Tensor::<1>::zeros([n], device)
                        }
                    }
                });
                if let Some(e) = refused.take() {
                    return Err(e.into());
                }
                draws?
            }
            EstimatorKind::Rloo => {
                let k = c.rloo_samples;
                let u = uniforms(n * k, rng, device);
                let refused = Cell::new(None);
                let per_sample = scalar_gradients(phi, n * k, device, |p| {
                    let z = p.clone() + (u.clone().log() - u.clone().neg().add_scalar(1.0).log());
                    let b = z.greater_elem(0.0).float().detach();
                    let reward = self.f(b.clone());
                    // [k * n] laid out sample-major -> [k, n] for the baseline.
                    let baseline = match leave_one_out_baseline(reward.clone().reshape([k, n])) {
                        Ok(t) => t.reshape([k * n]),
                        Err(e) => {
                            refused.set(Some(e));
                            reward.zeros_like()
                        }
                    };
                    ((reward - baseline).detach() * log_prob_bernoulli(p, b)).div_scalar(k as f64)
                });
                if let Some(e) = refused.take() {
                    return Err(e.into());
                }
                let per_sample = per_sample?;
                (0..n).map(|i| (0..k).map(|j| per_sample[j * n + i]).sum()).collect()
            }
            other => {
                return Err(TrainError::Invalid(format!("bernoulli-toy does not run {other}")));
            }
        };
        Ok(estimates)
    }
}

/// Evaluations of `f` per draw: RLOO evaluates its `rloo_samples` samples, REBAR and RELAX
/// `f(b)` and the relaxed `f(sigma(z / lambda))`, `f(sigma(z~ / lambda))`, the others `f` once.
fn evaluations(estimator: EstimatorKind, config: &BernoulliToyConfig) -> usize {
    match estimator {
        EstimatorKind::Rloo => config.rloo_samples,
        EstimatorKind::Rebar | EstimatorKind::Relax => 3,
        _ => 1,
    }
}

fn exact_loss(theta: f64, t: f64) -> f64 {
    theta * (1.0 - t).powi(2) + (1.0 - theta) * t * t
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `bernoulli-toy`. It trains no network: `phi` is one scalar stepped by a hand-written
/// Adam on one estimate per step, with the control variates refitted inside the loop, so it
/// has no model to checkpoint or resume and does not use the harness's trainer.
pub struct BernoulliToy;

impl Recipe for BernoulliToy {
    type Config = BernoulliToyConfig;
    type Prepared = ();

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> BernoulliToyConfig {
        BernoulliToyConfig::default()
    }

    fn prepare(&self, c: &BernoulliToyConfig) -> Result<()> {
        c.validate()
    }

    fn training(&self, _: &BernoulliToyConfig) -> Vec<(String, TrainSpec)> {
        Vec::new()
    }

    fn resumable(&self) -> bool {
        false
    }

    fn run(&self, c: &BernoulliToyConfig, _: &(), run: &mut Run) -> Result<Map<String, Value>> {
        let device = run.device().clone().autodiff();
        // RELAX's control networks draw their initial weights from the device's generator:
        // seeded, so that a run is a function of its config.
        device.seed(c.seed);
        evaluate_and_train(c, device, run)
    }
}

fn evaluate_and_train(
    config: &BernoulliToyConfig,
    device: Device,
    run: &Run,
) -> Result<Map<String, Value>> {
    let toy = Toy { config, device };
    let mut rng = StdRng::seed_from_u64(config.seed);
    let phi = config.phi as f32;
    let theta = sigmoid(f64::from(phi));
    let exact = theta * (1.0 - theta) * (1.0 - 2.0 * config.target);
    // The reported fit uses as many draws as the evaluation; refits while training use fewer.
    let fitted = toy.fit(phi, config.n_draws.max(config.fit_draws), &mut rng)?;
    let mut estimators = BTreeMap::new();
    // Common random numbers: every estimator sees the same (u, v), so their variances are
    // compared on paired draws (REBAR with eta ~ 0 then equals REINFORCE draw for draw).
    let paired: u64 = rng.random();
    for name in ESTIMATORS {
        let mut same = StdRng::seed_from_u64(paired);
        let draws = toy.draws(name, phi, config.n_draws, &fitted, &mut same)?;
        let stats = gradient_stats(draws.len(), |i| vec![draws[i]])?;
        let (mean, var, se) = (stats.mean[0], stats.variance[0], stats.standard_error()[0]);
        // Cost is counted in evaluations of f per draw: an estimator that evaluates f `e`
        // times could instead average `e` cheaper draws, so `grad_var * e` compares at equal
        // cost.
        let evaluations = evaluations(name, config);
        estimators.insert(
            name.name(),
            json!({
                "grad_mean": mean, "grad_var": var, "standard_error": se,
                "within_3_se": (mean - exact).abs() < 3.0 * se,
                "evaluations": evaluations,
                "grad_var_equal_cost": var * evaluations as f64,
            }),
        );
    }
    let mut curves = Vec::new();
    for name in ESTIMATORS {
        let curve = train_curve(&toy, name, &mut rng)?;
        // Each estimator's exact-loss curve as its own sub-run's log.
        let log = run.dir().child(name.name())?;
        for &(step, loss) in &curve {
            log.append_metrics(&json!({ "step": step as usize, "loss": loss }))?;
        }
        curves.push((name, curve));
    }
    let refs: Vec<(&str, &[(f64, f64)])> =
        curves.iter().map(|(n, c)| (n.name(), c.as_slice())).collect();
    plot::line_plot(
        &refs,
        "exact loss while training (t = target)",
        "step",
        "loss",
        false,
        [720, 420],
    )
    .save_png(run.dir().file("loss.png"))?;
    let final_loss: BTreeMap<&str, f64> =
        curves.iter().map(|(n, c)| (n.name(), c.last().map_or(f64::NAN, |p| p.1))).collect();
    let summary = json!({
        "target": config.target,
        "phi": config.phi,
        "exact_grad": exact,
        "fitted": { "rebar_eta": fitted.rebar_eta, "lambda": fitted.lambda, "relax_width": config.relax_width, "relax_steps": config.relax_steps },
        "estimators": estimators,
        "final_loss": final_loss,
        "optimal_loss": exact_loss(if config.target < 0.5 { 0.0 } else { 1.0 }, config.target),
    });
    let var = |n: &str| summary["estimators"][n]["grad_var"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "{}: exact gradient {exact:.5}; variance reinforce {:.3e}, rebar {:.3e}, relax {:.3e}; wrote metrics.json, loss.png",
        run.dir().path().display(),
        var("reinforce"),
        var("rebar"),
        var("relax")
    );
    Ok(metrics_map(summary))
}

/// Trains `phi` from the configured start with one estimate per step (Adam), refitting the
/// control variates every `refit_every` steps; returns `(step, exact loss)`.
fn train_curve(toy: &Toy, estimator: EstimatorKind, rng: &mut StdRng) -> Result<Vec<(f64, f64)>> {
    let c = toy.config;
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
    let (mut phi, mut m, mut v) = (c.phi, 0.0, 0.0);
    let controlled = estimator.is_controlled();
    // Only REBAR and RELAX use the control variates; the others get an untrained placeholder.
    let mut fitted = if controlled {
        toy.fit(phi as f32, c.fit_draws, rng)?
    } else {
        Fitted { rebar_eta: 0.0, lambda: 1.0, relax_net: ControlNet::new(1, 1, &toy.device) }
    };
    let mut curve = vec![(0.0, exact_loss(sigmoid(phi), c.target))];
    for step in 1..=c.steps {
        if step % c.refit_every == 0 && controlled {
            fitted = toy.fit(phi as f32, c.fit_draws, rng)?;
        }
        let g = toy.draws(estimator, phi as f32, 1, &fitted, rng)?[0];
        m = beta1 * m + (1.0 - beta1) * g;
        v = beta2 * v + (1.0 - beta2) * g * g;
        let (m_hat, v_hat) =
            (m / (1.0 - beta1.powi(step as i32)), v / (1.0 - beta2.powi(step as i32)));
        phi -= c.learning_rate * m_hat / (v_hat.sqrt() + eps);
        if step % 10 == 0 {
            curve.push((step as f64, exact_loss(sigmoid(phi), c.target)));
        }
    }
    Ok(curve)
}
