//! The Bernoulli toy of Tucker et al. and Grathwohl et al.: minimise `E[(b - 0.45)^2]`,
//! `b ~ Bernoulli(sigmoid(phi))`. Exact gradient `d/dphi = theta (1 - theta) (1 - 2 t)`.
//! Every unbiased estimator's mean lies within 3 standard errors of it. With its `eta` fitted
//! on separate draws, REBAR's variance is no larger than REINFORCE's (on this one-variable toy
//! the gain is small: about 0.1% at lambda = 0.5 and 2% at the best lambda, which an
//! independent NumPy implementation of the same formulas reproduces), and RELAX with a learned
//! offset, which can absorb the whole score-function term here, is far below both.

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use stoke_estimators::control_variate::{
    least_squares_weights, optimal_eta, rebar_control, rebar_parts, relax_surrogate,
};
use stoke_estimators::probe::GradientStats;
use stoke_estimators::score_function::log_prob_bernoulli;

const TARGET: f64 = 0.45;
const LAMBDA: f64 = 0.5;

fn f(b: Tensor<1>) -> Tensor<1> {
    b.sub_scalar(TARGET).square()
}

fn uniforms(n: usize, rng: &mut StdRng, device: &Device) -> Tensor<1> {
    let values: Vec<f32> = (0..n).map(|_| rng.random::<f32>().clamp(1e-6, 1.0 - 1e-6)).collect();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Per-draw gradients of `sum(surrogate(phi))` with `phi` a leaf of `n` copies.
fn per_draw(
    phi: f32,
    n: usize,
    surrogate: impl Fn(Tensor<1>) -> Tensor<1>,
    device: &Device,
) -> Vec<f64> {
    let phis = Tensor::<1>::from_data(TensorData::new(vec![phi; n], [n]), device).require_grad();
    let grads = surrogate(phis.clone()).sum().backward();
    phis.grad(&grads).unwrap().into_data().iter::<f64>().collect()
}

fn stats(draws: &[f64]) -> GradientStats {
    stoke_estimators::probe::gradient_stats(draws.len(), |i| vec![draws[i]])
}

#[test]
fn bernoulli_toy_unbiased_and_variance_ordered() {
    let device = Device::flex().autodiff();
    let phi = 0.3f32;
    let theta = 1.0 / (1.0 + (-f64::from(phi)).exp());
    let exact = theta * (1.0 - theta) * (1.0 - 2.0 * TARGET);
    let mut rng = StdRng::seed_from_u64(2018);
    let n = 40_000;

    // Fit the control variates on their own draws, then evaluate on fresh ones.
    let (u, v) = (uniforms(n, &mut rng, &device), uniforms(n, &mut rng, &device));
    let part_a = per_draw(phi, n, |p| rebar_parts(p, u.clone(), v.clone(), &f, LAMBDA).0, &device);
    let part_b = per_draw(phi, n, |p| rebar_parts(p, u.clone(), v.clone(), &f, LAMBDA).1, &device);
    let score = per_draw(
        phi,
        n,
        |p| {
            let b = (p.clone() + (u.clone().log() - u.clone().neg().add_scalar(1.0).log()))
                .greater_elem(0.0)
                .float();
            log_prob_bernoulli(p, b)
        },
        &device,
    );
    let eta = optimal_eta(&part_a, &part_b);
    let mean_abs_b = part_b.iter().map(|x| x.abs()).sum::<f64>() / n as f64;
    eprintln!(
        "eta* {eta:.4}, mean |b| {mean_abs_b:.3e}, relax weights {:?}",
        least_squares_weights(&part_a, &[&part_b])
    );
    // RELAX's c = eta f(sigmoid(z / lambda)) + k: the offset enters g as -k * score.
    let neg_score: Vec<f64> = score.iter().map(|s| -s).collect();
    let relax_w = least_squares_weights(&part_a, &[&part_b, &neg_score]).unwrap();

    let (u, v) = (uniforms(n, &mut rng, &device), uniforms(n, &mut rng, &device));
    let reinforce =
        per_draw(phi, n, |p| rebar_parts(p, u.clone(), v.clone(), &f, LAMBDA).0, &device);
    let rebar_c = rebar_control(&f, eta, LAMBDA);
    let rebar =
        per_draw(phi, n, |p| relax_surrogate(p, u.clone(), v.clone(), &f, &rebar_c), &device);
    let (relax_eta, offset) = (relax_w[0], relax_w[1] as f32);
    let relax_base = rebar_control(&f, relax_eta, LAMBDA);
    let relax_c = |z: Tensor<1>| relax_base(z).add_scalar(offset);
    let relax =
        per_draw(phi, n, |p| relax_surrogate(p, u.clone(), v.clone(), &f, &relax_c), &device);

    let mut variances = Vec::new();
    for (name, draws) in [("reinforce", &reinforce), ("rebar", &rebar), ("relax", &relax)] {
        let s = stats(draws);
        let se = s.standard_error()[0];
        eprintln!(
            "{name}: mean {:.6} (exact {exact:.6}, se {se:.2e}), variance {:.3e}",
            s.mean[0], s.variance[0]
        );
        assert!(
            (s.mean[0] - exact).abs() < 3.0 * se,
            "{name}: mean {} vs exact {exact} (se {se})",
            s.mean[0]
        );
        variances.push(s.variance[0]);
    }
    assert!(
        variances[1] <= variances[0] * 1.001,
        "REBAR {} vs REINFORCE {}",
        variances[1],
        variances[0]
    );
    assert!(variances[2] < 0.1 * variances[1], "RELAX {} vs REBAR {}", variances[2], variances[1]);
}

#[test]
fn least_squares_recovers_known_weights() {
    // a = -(2 p1 - 3 p2) exactly, so w = (2, -3).
    let p1 = [1.0, 0.5, -1.0, 2.0];
    let p2 = [0.0, 1.0, 1.0, -0.5];
    let a: Vec<f64> = p1.iter().zip(&p2).map(|(x, y)| -(2.0 * x - 3.0 * y)).collect();
    let w = least_squares_weights(&a, &[&p1, &p2]).unwrap();
    assert!((w[0] - 2.0).abs() < 1e-12 && (w[1] + 3.0).abs() < 1e-12, "{w:?}");
    assert!(least_squares_weights(&a, &[&p1, &p1]).is_none());
}
