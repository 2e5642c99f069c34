//! One denoiser interface, k-diffusion style: every sampler calls `D(x; sigma)`, the
//! posterior-mean estimate of the clean data, in the EDM/VE frame `x = x0 + sigma eps`
//! [KARRAS22, Eq. 2]. Adapters turn a raw [`Network`] that predicts `eps`, `x0`, `v` or a
//! flow velocity on any `stoke-core` schedule ([`ScheduleDenoiser`]) or an EDM-preconditioned
//! network ([`EdmDenoiser`]) into a [`Denoiser`]. A VP model is called on
//! `x_t = alpha x_ve` at the time whose `sigma_t / alpha_t` equals the requested `sigma`,
//! exactly as k-diffusion's `DiscreteEpsDDPMDenoiser` rescales its input.
//!
//! Flow samplers use a [`VelocityField`] instead; [`DenoiserVelocity`] turns a denoiser into
//! the velocity of the rectified path, and every [`Network`] is a velocity field. Both are one
//! trait, [`Field`], told apart by a marker type ([`Denoised`], [`Velocity`]), so the samplers
//! share one call path while a denoiser cannot be handed to a flow sampler by mistake.

use burn::tensor::{Int, Tensor};
use stoke_core::param::{EdmPreconditioning, Prediction, conversion};
use stoke_core::schedule::{DiscreteSchedule, NoiseSchedule};

use crate::error::{DiffusionError, Result};
use crate::tensor::{batch_of, check_rows, expand_rows, scale_rows, vector};

/// A raw network call `F(x, noise_level, class_labels)`; what `noise_level` means (a time,
/// a timestep index, EDM's `c_noise`) is set by the adapter that calls it.
///
/// Closures `Fn(Tensor<D>, Tensor<1>, Option<Tensor<1, Int>>) -> Tensor<D>` are networks.
///
/// # Shapes
/// `x: [batch, ...]`, `noise_level: [batch]`, `class_labels: [batch]` -> `[batch, ...]`.
pub trait Network<const D: usize> {
    /// One forward pass.
    fn forward(
        &self,
        x: Tensor<D>,
        noise_level: Tensor<1>,
        class_labels: Option<Tensor<1, Int>>,
    ) -> Tensor<D>;

    /// The class index that stands for "no class" (the label-dropout target of
    /// classifier-free guidance training), or `None` for a model without class conditioning.
    fn null_class(&self) -> Option<usize> {
        None
    }
}

impl<const D: usize, F> Network<D> for F
where
    F: Fn(Tensor<D>, Tensor<1>, Option<Tensor<1, Int>>) -> Tensor<D>,
{
    fn forward(
        &self,
        x: Tensor<D>,
        noise_level: Tensor<1>,
        class_labels: Option<Tensor<1, Int>>,
    ) -> Tensor<D> {
        self(x, noise_level, class_labels)
    }
}

/// What a [`Field`] computes, as a type: [`Denoised`] for the denoiser `D(x; sigma)`,
/// [`Velocity`] for a flow's `v(x, t)`. The marker keeps a denoiser out of a flow sampler
/// (and the reverse) at compile time, while both share one trait and one call path.
pub trait FieldKind {
    /// What the field's output is called in error messages.
    const OUTPUT: &'static str;
}

/// The marker of a denoiser: the output estimates `x0` given `x = x0 + sigma eps` in the VE
/// frame [KARRAS22, Eq. 2]; the level is `sigma`.
#[derive(Debug, Clone, Copy)]
pub enum Denoised {}

/// The marker of a velocity field `dx/dt = v(x, t)`; the level is the time `t`, whose
/// meaning (and so the direction of integration) is the field's convention.
#[derive(Debug, Clone, Copy)]
pub enum Velocity {}

impl FieldKind for Denoised {
    const OUTPUT: &'static str = "denoiser output";
}

impl FieldKind for Velocity {
    const OUTPUT: &'static str = "velocity output";
}

/// The one function every sampler calls: `f(x; level, class)`, the same shape as `x`, with
/// one level for the batch or one per row. A [`Denoiser`] is a `Field<D, Denoised>`, a
/// [`VelocityField`] a `Field<D, Velocity>`; implement `Field` and the matching one follows.
///
/// Closures `Fn(Tensor<D>, &[f64], Option<Tensor<1, Int>>) -> Result<Tensor<D>>` are
/// denoisers; every [`Network`] is a velocity field.
///
/// # Shapes
/// `x: [batch, ...]`; `level`: one value or one per row; `class_labels: [batch]` ->
/// `[batch, ...]`.
pub trait Field<const D: usize, K: FieldKind> {
    /// `f(x; level)`.
    ///
    /// # Errors
    /// A level list of the wrong length or a level the field cannot serve.
    fn eval(
        &self,
        x: Tensor<D>,
        level: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>>;

    /// As [`Network::null_class`].
    fn null_class(&self) -> Option<usize> {
        None
    }
}

/// The denoiser `D(x; sigma)`: the estimate of `x0` given `x = x0 + sigma eps`
/// [KARRAS22, Eq. 2]; what the diffusion samplers take. Every `Field<D, Denoised>` is one.
pub trait Denoiser<const D: usize>: Field<D, Denoised> {}

impl<const D: usize, T: Field<D, Denoised> + ?Sized> Denoiser<D> for T {}

/// A velocity field `dx/dt = v(x, t)`; what the flow samplers take. Every
/// `Field<D, Velocity>` is one, and so is every [`Network`].
pub trait VelocityField<const D: usize>: Field<D, Velocity> {}

impl<const D: usize, T: Field<D, Velocity> + ?Sized> VelocityField<D> for T {}

impl<const D: usize, F> Field<D, Denoised> for F
where
    F: Fn(Tensor<D>, &[f64], Option<Tensor<1, Int>>) -> Result<Tensor<D>>,
{
    fn eval(
        &self,
        x: Tensor<D>,
        level: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>> {
        self(x, level, class_labels)
    }
}

/// Marks a network, denoiser or velocity field as class-conditional with `null_class` as its
/// "no class" label (the one label dropout trains).
#[derive(Debug, Clone)]
pub struct ClassConditional<M> {
    model: M,
    null_class: usize,
}

impl<M> ClassConditional<M> {
    /// Wraps `model`.
    pub fn new(model: M, null_class: usize) -> Self {
        Self { model, null_class }
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.model
    }
}

impl<const D: usize, N: Network<D>> Network<D> for ClassConditional<N> {
    fn forward(
        &self,
        x: Tensor<D>,
        noise_level: Tensor<1>,
        class_labels: Option<Tensor<1, Int>>,
    ) -> Tensor<D> {
        self.model.forward(x, noise_level, class_labels)
    }
    fn null_class(&self) -> Option<usize> {
        Some(self.null_class)
    }
}

/// A network that predicts `prediction` on the path of `schedule`, seen as a denoiser in the
/// VE frame. At noise level `sigma` it is called at the time `t` with
/// `sigma_t / alpha_t = sigma` (found through the schedule's inverse log-SNR, `lambda =
/// -2 ln sigma`), on the input `x_t = alpha_t x` and with noise level `time_scale * t`;
/// its output converts to `x0` with `stoke-core`'s exact [`conversion`] [KARRAS22, Eq. 12
/// with s(t) = alpha_t].
///
/// For an `eps` network on a [`DiscreteSchedule`] built with
/// [`ScheduleDenoiser::discrete`] this is `D = x - sigma eps(x / sqrt(sigma^2 + 1), i)`, with
/// `i` the fractional timestep index: k-diffusion's `DiscreteEpsDDPMDenoiser` (which
/// interpolates `i` in `ln sigma` instead of in `sqrt(alpha_bar)`; both agree on the grid).
/// For a flow-velocity network on `Flow` it is `D = x_t - t u(x_t, t)` with
/// `t = sigma / (1 + sigma)`.
#[derive(Debug, Clone)]
pub struct ScheduleDenoiser<N, S> {
    network: N,
    schedule: S,
    prediction: Prediction,
    time_scale: f64,
}

impl<N, S: NoiseSchedule> ScheduleDenoiser<N, S> {
    /// A network that takes `t in [0, 1]` as its noise level.
    pub fn new(network: N, schedule: S, prediction: Prediction) -> Self {
        Self { network, schedule, prediction, time_scale: 1.0 }
    }

    /// The same network, fed `time_scale * t` (for example `1000 t` for a network trained on
    /// integer timesteps of a 1000-step schedule).
    ///
    /// # Errors
    /// `time_scale` not positive and finite.
    pub fn with_time_scale(mut self, time_scale: f64) -> Result<Self> {
        self.time_scale = stoke_core::validate::positive("time_scale", time_scale)?;
        Ok(self)
    }

    /// What the network predicts.
    pub fn prediction(&self) -> Prediction {
        self.prediction
    }

    /// The schedule.
    pub fn schedule(&self) -> &S {
        &self.schedule
    }

    /// The raw network.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// The factor between `t` and the network's noise-level input.
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }
}

impl<N> ScheduleDenoiser<N, DiscreteSchedule> {
    /// A network trained on the integer timesteps `0..T` of a discrete (diffusers) schedule:
    /// it is fed `i = T t`, fractional between grid points.
    pub fn discrete(network: N, schedule: DiscreteSchedule, prediction: Prediction) -> Self {
        let time_scale = schedule.len() as f64;
        Self { network, schedule, prediction, time_scale }
    }
}

/// Per-row `(alpha_t, t, c_x, c_pred)` of a schedule denoiser at VE noise levels `sigma`.
struct RowCoefficients {
    alpha: Vec<f64>,
    time: Vec<f64>,
    c_x: Vec<f64>,
    c_pred: Vec<f64>,
}

fn row_coefficients<S: NoiseSchedule>(
    schedule: &S,
    prediction: Prediction,
    sigma: &[f64],
) -> Result<RowCoefficients> {
    let mut rows = RowCoefficients { alpha: vec![], time: vec![], c_x: vec![], c_pred: vec![] };
    for &s in sigma {
        stoke_core::validate::non_negative("sigma", s)?;
        let t = schedule.t_from_log_snr(-2.0 * s.ln());
        let point = schedule.point(t);
        // x_t = alpha x_ve needs alpha > 0: a schedule ending at alpha = 0 (zero terminal SNR)
        // has no VE view there.
        let alpha_positive = point.alpha > 0.0; // false for NaN too
        if !alpha_positive {
            return Err(stoke_core::CoreError::Degenerate { what: "map sigma to a time" }.into());
        }
        let (c_x, c_pred) = conversion(prediction, Prediction::X0, &point)?;
        rows.alpha.push(point.alpha);
        rows.time.push(t);
        rows.c_x.push(c_x);
        rows.c_pred.push(c_pred);
    }
    Ok(rows)
}

impl<const D: usize, N: Network<D>, S: NoiseSchedule> Field<D, Denoised>
    for ScheduleDenoiser<N, S>
{
    fn eval(
        &self,
        x: Tensor<D>,
        sigma: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>> {
        let batch = batch_of(&x);
        check_rows("sigma", sigma, batch)?;
        let rows = row_coefficients(&self.schedule, self.prediction, sigma)?;
        let x_t = scale_rows(x, &rows.alpha);
        let times: Vec<f64> = expand_rows("sigma", &rows.time, batch)?
            .into_iter()
            .map(|t| t * self.time_scale)
            .collect();
        let device = x_t.device();
        let out = self.network.forward(x_t.clone(), vector(&times, &device), class_labels);
        crate::tensor::check_same_shape("network output", &x_t, &out)?;
        // x0 = c_x x_t + c_pred prediction.
        Ok(scale_rows(x_t, &rows.c_x) + scale_rows(out, &rows.c_pred))
    }

    fn null_class(&self) -> Option<usize> {
        Network::null_class(&self.network)
    }
}

/// A network `F` under EDM preconditioning: `D(x; sigma) = c_skip x + c_out F(c_in x;
/// c_noise)` with `c_noise = ln(sigma) / 4` [KARRAS22, Table 1, Eq. 7].
#[derive(Debug, Clone)]
pub struct EdmDenoiser<N> {
    network: N,
    preconditioning: EdmPreconditioning,
}

impl<N> EdmDenoiser<N> {
    /// Wraps `network` with the scalings of `preconditioning`.
    pub fn new(network: N, preconditioning: EdmPreconditioning) -> Self {
        Self { network, preconditioning }
    }

    /// The preconditioning.
    pub fn preconditioning(&self) -> &EdmPreconditioning {
        &self.preconditioning
    }

    /// The raw network `F`.
    pub fn network(&self) -> &N {
        &self.network
    }
}

impl<const D: usize, N: Network<D>> Field<D, Denoised> for EdmDenoiser<N> {
    fn eval(
        &self,
        x: Tensor<D>,
        sigma: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>> {
        let batch = batch_of(&x);
        check_rows("sigma", sigma, batch)?;
        let (mut c_skip, mut c_out, mut c_in, mut c_noise) = (vec![], vec![], vec![], vec![]);
        for &s in sigma {
            let scalings = self.preconditioning.scalings(s)?;
            c_skip.push(scalings.c_skip);
            c_out.push(scalings.c_out);
            c_in.push(scalings.c_in);
            c_noise.push(scalings.c_noise);
        }
        let c_noise = expand_rows("sigma", &c_noise, batch)?;
        let device = x.device();
        let input = scale_rows(x.clone(), &c_in);
        let out = self.network.forward(input, vector(&c_noise, &device), class_labels);
        crate::tensor::check_same_shape("network output", &x, &out)?;
        Ok(scale_rows(x, &c_skip) + scale_rows(out, &c_out))
    }

    fn null_class(&self) -> Option<usize> {
        Network::null_class(&self.network)
    }
}

impl<const D: usize, M: Field<D, Denoised>> Field<D, Denoised> for ClassConditional<M> {
    fn eval(
        &self,
        x: Tensor<D>,
        sigma: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>> {
        self.model.eval(x, sigma, class_labels)
    }
    fn null_class(&self) -> Option<usize> {
        Some(self.null_class)
    }
}

impl<const D: usize, N: Network<D>> Field<D, Velocity> for N {
    fn eval(
        &self,
        x: Tensor<D>,
        t: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>> {
        let batch = batch_of(&x);
        let t = expand_rows("t", t, batch)?;
        let device = x.device();
        let out = self.forward(x.clone(), vector(&t, &device), class_labels);
        crate::tensor::check_same_shape("network output", &x, &out)?;
        Ok(out)
    }
    fn null_class(&self) -> Option<usize> {
        Network::null_class(self)
    }
}

/// The velocity of the rectified path `x_t = (1 - t) x0 + t eps` (t = 0 data, t = 1 noise)
/// given a denoiser: `u = eps - x0 = (x_t - D(x_t / (1 - t); t / (1 - t))) / t`
/// [LIU22, Eq. 1; KARRAS22, Eq. 12]. Integrate it from `t` near 1 down to 0.
///
/// # Errors
/// `t` outside `(0, 1)`: the VE view needs `alpha = 1 - t > 0`, and `t = 0` divides by zero.
#[derive(Debug, Clone)]
pub struct DenoiserVelocity<M> {
    denoiser: M,
}

impl<M> DenoiserVelocity<M> {
    /// Wraps `denoiser`.
    pub fn new(denoiser: M) -> Self {
        Self { denoiser }
    }
}

impl<const D: usize, M: Denoiser<D>> Field<D, Velocity> for DenoiserVelocity<M> {
    fn eval(
        &self,
        x: Tensor<D>,
        t: &[f64],
        class_labels: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<D>> {
        check_rows("t", t, batch_of(&x))?;
        for &t in t {
            if !(t > 0.0 && t < 1.0) {
                return Err(DiffusionError::OutOfRange { name: "t", value: t, range: "(0, 1)" });
            }
        }
        let inv_alpha: Vec<f64> = t.iter().map(|t| 1.0 / (1.0 - t)).collect();
        let sigma: Vec<f64> = t.iter().map(|t| t / (1.0 - t)).collect();
        let x0 = self.denoiser.eval(scale_rows(x.clone(), &inv_alpha), &sigma, class_labels)?;
        let inv_t: Vec<f64> = t.iter().map(|t| 1.0 / t).collect();
        Ok(scale_rows(x - x0, &inv_t))
    }
    fn null_class(&self) -> Option<usize> {
        self.denoiser.null_class()
    }
}
