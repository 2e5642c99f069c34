//! `rectified-2d`: rectified flow \[LIU22\] on 2-D toys, three stages from one seed.
//!
//! 1. `1rf`: I-CFM (straight paths, independent coupling) from the source to the target.
//! 2. `2rf`: reflow. The 1-RF ODE (Euler, `coupling_nfe` steps) carries `n_pairs` source points
//!    to its end points; a copy of 1-RF is retrained on those fixed pairs [LIU22, Alg. 1].
//! 3. `distilled`: k-step distillation of 2-RF. Its own ODE coupling is regenerated and the
//!    flow is retrained at the `distill_steps` grid times only, so `distill_steps` Euler steps
//!    reproduce the coupling (k = 1: `x1 = x0 + v(x0, 0)`) [LIU22, Sec. 2.3].
//!
//! Each stage is scored like `flow-2d`: W2 and energy distance per NFE against fresh target
//! points, and straightness [LIU22, Eq. 5].

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stoke_core::transport::{energy_distance, w2};
use stoke_data::plot;
use stoke_data::toy::{self, Toy};
use stoke_diffusion::flow_matching::{self, ConditionalFlowMatcher, IndependentCfm};
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::noise::HostNoise;
use stoke_diffusion::rectified::{reflow_coupling, straightness};
use stoke_diffusion::sampler::{FlowEuler, FlowSampler};

use super::flow_2d::{flat64, points_tensor, source_points, to_points, unit_grid};
use super::{
    TrainArgs, adam, check_count, check_positive, cosine_decay, resolve_config,
    run_without_checkpoints,
};
use crate::error::{Result, TrainError};
use crate::nn::{TimeMlp, TimeMlpConfig};
use crate::run_dir::{RunDir, write_json_atomic};

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rectified2dConfig {
    /// Target toy.
    pub target: String,
    /// Source: `gaussian` or a toy.
    pub source: String,
    /// Training steps of each stage.
    pub steps: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Peak Adam learning rate (cosine decay to 1% within each stage).
    pub learning_rate: f64,
    /// Reflow pairs generated from each trained ODE.
    pub n_pairs: usize,
    /// Euler steps of the ODE that generates the pairs.
    pub coupling_nfe: usize,
    /// `k` of the k-step distillation.
    pub distill_steps: usize,
    /// The network.
    pub model: TimeMlpConfig,
    /// Points compared at evaluation.
    pub n_eval: usize,
    /// Euler step counts evaluated.
    pub eval_nfe: Vec<usize>,
    /// Seed.
    pub seed: u64,
}

impl Default for Rectified2dConfig {
    fn default() -> Self {
        Self {
            target: "moons".into(),
            source: "gaussian".into(),
            steps: 6000,
            batch_size: 256,
            learning_rate: 2e-3,
            n_pairs: 20_000,
            coupling_nfe: 100,
            distill_steps: 1,
            model: TimeMlpConfig::new(),
            n_eval: 1000,
            eval_nfe: vec![1, 2, 5, 100],
            seed: 0,
        }
    }
}

impl Rectified2dConfig {
    fn validate(&self) -> Result<(Toy, Option<Toy>)> {
        let target: Toy =
            self.target.parse().map_err(|e| TrainError::Invalid(format!("--target: {e}")))?;
        let source = match self.source.as_str() {
            "gaussian" => None,
            other => Some(other.parse().map_err(|e| {
                TrainError::Invalid(format!("--source: {e} (or 'gaussian' for N(0, I))"))
            })?),
        };
        for (name, value) in [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("n_pairs", self.n_pairs),
            ("coupling_nfe", self.coupling_nfe),
            ("distill_steps", self.distill_steps),
            ("model.width", self.model.width),
        ] {
            check_count(name, value)?;
        }
        check_positive("learning_rate", self.learning_rate)?;
        if self.n_eval < 2 || self.eval_nfe.is_empty() || self.eval_nfe.contains(&0) {
            return Err(TrainError::Invalid(format!(
                "n_eval must be at least 2 and eval_nfe a non-empty list of positive counts, got \
                 {} and {:?}",
                self.n_eval, self.eval_nfe
            )));
        }
        Ok((target, source))
    }

    fn learning_rate_at(&self, step: usize) -> f64 {
        cosine_decay(self.learning_rate, 0.01 * self.learning_rate, step as f64 / self.steps as f64)
    }
}

/// Runs the recipe.
///
/// # Errors
/// Bad config or arguments (before any file is written), I/O, divergence.
pub fn run(args: &TrainArgs) -> Result<()> {
    let config: Rectified2dConfig = resolve_config(&Rectified2dConfig::default(), None, args)?;
    let (target, source) = config.validate()?;
    let device = args.backend.device()?;
    run_without_checkpoints(args, "rectified-2d", &config, |run_dir| {
        Stages { config: &config, target, source, device, run_dir }.run()
    })
}

/// 2D points on the host.
type Points = Vec<[f32; 2]>;

/// Where a stage's training pairs come from.
enum Pairs {
    /// Fresh independent source and target draws each step (1-RF).
    Independent,
    /// A fixed coupling `(x0, x1)`, `[n, 2]` each, on the host.
    Fixed(Vec<[f32; 2]>, Vec<[f32; 2]>),
}

struct Stages<'a> {
    config: &'a Rectified2dConfig,
    target: Toy,
    source: Option<Toy>,
    device: Device,
    run_dir: &'a RunDir,
}

impl Stages<'_> {
    fn run(&self) -> Result<()> {
        let c = self.config;
        let started = Instant::now();
        let train_device = self.device.clone().autodiff();
        train_device.seed(c.seed);
        let mut rng = StdRng::seed_from_u64(c.seed);
        let mut curves = Vec::new();

        let one = c.model.init(&train_device);
        let (one, curve) = self.train("1rf", one, &Pairs::Independent, None, &mut rng)?;
        curves.push(("1-RF", curve));
        let (x0, x1) = self.coupling(&one.valid(), &mut rng)?;
        let (two, curve) = self.train("2rf", one.clone(), &Pairs::Fixed(x0, x1), None, &mut rng)?;
        curves.push(("2-RF", curve));
        let (x0, x1) = self.coupling(&two.valid(), &mut rng)?;
        let grid = unit_grid(c.distill_steps);
        let (distilled, curve) =
            self.train("distilled", two.clone(), &Pairs::Fixed(x0, x1), Some(&grid), &mut rng)?;
        curves.push(("distilled", curve));

        let mut eval_rng = StdRng::seed_from_u64(c.seed.wrapping_add(0xE7A1));
        let reference = toy::sample(self.target, c.n_eval, &mut eval_rng);
        let fresh = toy::sample(self.target, c.n_eval, &mut eval_rng);
        let w2_floor = w2(&flat64(&reference), &flat64(&fresh), 2)?;
        let noise = source_points(self.source, c.n_eval, &mut eval_rng);
        let mut stages = BTreeMap::new();
        let mut panels = Vec::new();
        let bounds = toy::bounds(self.target);
        let density = toy::density_image(self.target, 200_000, &mut eval_rng, bounds, 100);
        for (name, model) in [("1rf", &one), ("2rf", &two), ("distilled", &distilled)] {
            let model = model.valid();
            let (mut w2_by, mut energy_by) = (BTreeMap::new(), BTreeMap::new());
            for &nfe in &c.eval_nfe {
                let samples = self.sample(&model, &noise, nfe)?;
                let w = w2(&flat64(&samples), &flat64(&reference), 2)?;
                w2_by.insert(nfe.to_string(), w);
                energy_by.insert(
                    nfe.to_string(),
                    energy_distance(&flat64(&samples), &flat64(&reference), 2)?,
                );
                if nfe == 1 || nfe == *c.eval_nfe.iter().max().unwrap_or(&1) {
                    let title = format!("{name} NFE {nfe}  W2 {w:.3}");
                    panels.push(plot::scatter_over_density(
                        &density, 100, bounds, &samples, &title, 300,
                    ));
                }
            }
            let straight = straightness(
                &model,
                points_tensor(&noise, &self.device),
                &unit_grid(c.coupling_nfe),
                &Guidance::unconditional(),
            )?;
            stages.insert(
                name,
                json!({ "w2": w2_by, "energy_distance": energy_by, "straightness": straight.mean }),
            );
        }
        plot::panels(&panels, 2).save_png(self.run_dir.file("samples.png"))?;
        let refs: Vec<(&str, &[(f64, f64)])> =
            curves.iter().map(|(n, c)| (*n, c.as_slice())).collect();
        plot::line_plot(&refs, "training loss per stage", "step", "loss", true, [640, 400])
            .save_png(self.run_dir.file("loss.png"))?;
        let summary: Value = json!({
            "recipe": "rectified-2d",
            "target": self.target.name(),
            "source": c.source,
            "stages": stages,
            "w2_floor": w2_floor,
            "seconds": started.elapsed().as_secs_f64(),
        });
        write_json_atomic(&self.run_dir.file("metrics.json"), &summary)?;
        let w = |stage: &str, nfe: &str| {
            summary["stages"][stage]["w2"][nfe].as_f64().unwrap_or(f64::NAN)
        };
        eprintln!(
            "{}: W2 floor {w2_floor:.3}; 1-RF NFE 1/100 {:.3}/{:.3}, 2-RF {:.3}/{:.3}, distilled NFE 1 {:.3}; wrote metrics.json, samples.png, loss.png",
            self.run_dir.path().display(),
            w("1rf", "1"),
            w("1rf", "100"),
            w("2rf", "1"),
            w("2rf", "100"),
            w("distilled", "1"),
        );
        Ok(())
    }

    /// Trains `model` for `config.steps` on `pairs` with the straight (I-CFM, sigma 0) path,
    /// at times uniform in `[0, 1]` or drawn from `grid`; returns it and its loss curve.
    fn train(
        &self,
        stage: &str,
        mut model: TimeMlp,
        pairs: &Pairs,
        grid: Option<&[f64]>,
        rng: &mut StdRng,
    ) -> Result<(TimeMlp, Vec<(f64, f64)>)> {
        let c = self.config;
        let device = model.devices()[0].clone();
        let matcher = IndependentCfm::new(0.0)?;
        let mut optimizer = adam();
        let (mut curve, mut window) = (Vec::new(), 0.0);
        let every = (c.steps / 50).max(1);
        for step in 0..c.steps {
            let n = c.batch_size;
            let (x0, x1) = match pairs {
                Pairs::Independent => {
                    (source_points(self.source, n, rng), toy::sample(self.target, n, rng))
                }
                Pairs::Fixed(x0, x1) => {
                    let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..x0.len())).collect();
                    (picks.iter().map(|&i| x0[i]).collect(), picks.iter().map(|&i| x1[i]).collect())
                }
            };
            let t: Vec<f64> = match grid {
                // The last grid time is the end point, where no step starts.
                Some(grid) => (0..n).map(|_| grid[rng.random_range(0..grid.len() - 1)]).collect(),
                None => (0..n).map(|_| rng.random::<f64>()).collect(),
            };
            let path = matcher.sample_location_and_conditional_flow(
                points_tensor(&x0, &device),
                points_tensor(&x1, &device),
                &t,
                rng,
            )?;
            let loss = flow_matching::cfm_loss(&model, &path, None)?.mean;
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(TrainError::Invalid(format!(
                    "stage {stage}: loss became {value} at step {step}"
                )));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(c.learning_rate_at(step), model, grads);
            window += value;
            if (step + 1) % every == 0 {
                curve.push(((step + 1) as f64, window / every as f64));
                window = 0.0;
            }
        }
        self.run_dir.append_metrics(&json!({
            "stage": stage,
            "step": c.steps,
            "loss": curve.last().map_or(f64::NAN, |p| p.1),
        }))?;
        Ok((model, curve))
    }

    /// `n_pairs` source points and where `model`'s ODE takes them.
    fn coupling(&self, model: &TimeMlp, rng: &mut StdRng) -> Result<(Points, Points)> {
        let c = self.config;
        let noise = source_points(self.source, c.n_pairs, rng);
        let pairs = reflow_coupling(
            model,
            &FlowEuler,
            points_tensor(&noise, &self.device),
            &unit_grid(c.coupling_nfe),
            &Guidance::unconditional(),
            &mut HostNoise::seeded(0),
        )?;
        Ok((noise, to_points(pairs.endpoint)))
    }

    fn sample(&self, model: &TimeMlp, noise: &[[f32; 2]], nfe: usize) -> Result<Vec<[f32; 2]>> {
        let out = FlowEuler.sample(
            model,
            points_tensor(noise, &self.device),
            &unit_grid(nfe),
            &Guidance::unconditional(),
            &mut HostNoise::seeded(0),
        )?;
        Ok(to_points(out.x))
    }
}
