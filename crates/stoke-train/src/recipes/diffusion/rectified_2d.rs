//! `rectified-2d`: rectified flow \[LIU22\] on 2-D toys, three stages from one seed, each a
//! trainer of its own (sub-runs `1rf/`, `2rf/`, `distilled/`, each checkpointed).
//!
//! 1. `1rf`: I-CFM (straight paths, independent coupling) from the source to the target.
//! 2. `2rf`: reflow. The 1-RF ODE (Euler, `coupling_nfe` steps) carries `n_pairs` source points
//!    to its end points; a copy of 1-RF is retrained on those fixed pairs [LIU22, Alg. 1].
//! 3. `distilled`: k-step distillation of 2-RF. Its own ODE coupling is regenerated and the
//!    flow is retrained at the `distill_steps` grid times only, so `distill_steps` Euler steps
//!    reproduce the coupling (k = 1: `x1 = x0 + v(x0, 0)`) [LIU22, Sec. 2.3].
//!
//! Each stage is scored like `flow-2d`, as means over `eval_draws` independent draws with
//! their `*_stderr`: `stages.<stage>.{w2, energy_distance, dispersion}` per NFE against fresh
//! target points, `stages.<stage>.straightness` [LIU22, Eq. 5], and the floors `w2_floor`,
//! `energy_distance_floor`.

use burn::module::Module;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate::size;
use stoke_data::toy::{self, Toy};
use stoke_diffusion::flow_matching::{ConditionalFlowMatcher, IndependentCfm, cfm_loss};
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::noise::HostNoise;
use stoke_diffusion::rectified::{reflow_coupling, straightness};
use stoke_diffusion::sampler::FlowEuler;
use stoke_nn::mlp::{TimeMlp, TimeMlpConfig};

use super::Source;
use crate::error::Result;
use crate::eval::points::{
    Backdrop, Floor, Points, Protocol, points_tensor, score_per_nfe, to_points, unit_grid,
};
use crate::harness::{
    Batch, Entry, Family, Loss, LrSchedule, Recipe, Run, TrainSpec, check, defaults_json, launch,
    metrics_map,
};

/// The recipe's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rectified2dConfig {
    /// Target toy.
    pub target: Toy,
    /// Source: `gaussian` or a toy.
    pub source: Source,
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
    /// Points compared at evaluation, per draw.
    pub n_eval: usize,
    /// Independent evaluation draws.
    pub eval_draws: usize,
    /// Euler step counts evaluated.
    pub eval_nfe: Vec<usize>,
    /// Seed.
    pub seed: u64,
    /// Steps between `metrics.jsonl` records of each stage.
    pub log_every: usize,
    /// Steps between checkpoints of each stage.
    pub checkpoint_every: usize,
}

impl Default for Rectified2dConfig {
    fn default() -> Self {
        Self {
            target: Toy::Moons,
            source: Source::Gaussian,
            steps: 6000,
            batch_size: 256,
            learning_rate: 2e-3,
            n_pairs: 20_000,
            coupling_nfe: 100,
            distill_steps: 1,
            model: TimeMlpConfig::new(),
            n_eval: 1000,
            eval_draws: 5,
            eval_nfe: vec![1, 2, 5, 100],
            seed: 0,
            log_every: 100,
            checkpoint_every: 1000,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "rectified-2d",
    family: Family::Diffusion,
    summary: "rectified flow N(0, I) -> moons: 1-RF, reflow to 2-RF on its own ODE couplings, \
              then 1-step distillation; W2 per NFE and straightness per stage",
    run: |args| launch(&Rectified2d, args),
    check: |args| check(&Rectified2d, args),
    defaults: || defaults_json(&Rectified2d),
    tiny: &[
        ("steps", "40"),
        ("n_pairs", "256"),
        ("coupling_nfe", "8"),
        ("n_eval", "64"),
        ("eval_draws", "2"),
        ("batch_size", "64"),
        ("log_every", "10"),
        ("model", r#"{"width": 32, "n_hidden": 2}"#),
    ],
};

/// The three stages, in order, with their trainer names.
const STAGES: [&str; 3] = ["1rf", "2rf", "distilled"];

/// `rectified-2d`.
pub struct Rectified2d;

impl Recipe for Rectified2d {
    type Config = Rectified2dConfig;
    type Prepared = ();

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> Rectified2dConfig {
        Rectified2dConfig::default()
    }

    fn prepare(&self, c: &Rectified2dConfig) -> Result<()> {
        for (name, value) in [
            ("batch_size", c.batch_size),
            ("n_pairs", c.n_pairs),
            ("coupling_nfe", c.coupling_nfe),
            ("distill_steps", c.distill_steps),
        ] {
            size(name, value)?;
        }
        super::check_2d(&c.model, c.n_eval, c.eval_draws, &c.eval_nfe)?;
        Ok(())
    }

    fn training(&self, c: &Rectified2dConfig) -> Vec<(String, TrainSpec)> {
        STAGES
            .iter()
            .enumerate()
            .map(|(i, &stage)| {
                let spec = TrainSpec::adam(c.steps, c.learning_rate, c.seed.wrapping_add(i as u64))
                    .with_schedule(LrSchedule::Cosine { min_fraction: 0.01 })
                    .every(c.log_every, c.checkpoint_every);
                (stage.to_string(), spec)
            })
            .collect()
    }

    fn run(&self, c: &Rectified2dConfig, _: &(), run: &mut Run) -> Result<Map<String, Value>> {
        let stages = Stages { config: c };
        let one = run.fit(
            "1rf",
            |device| Ok(c.model.init(device)?),
            |model: &TimeMlp, batch| stages.loss(model, &Pairs::Independent, None, batch),
        )?;
        let pairs = stages.coupling(&one.valid(), 1, run)?;
        let two = run.fit(
            "2rf",
            |_| Ok(one.clone()),
            |model: &TimeMlp, batch| stages.loss(model, &pairs, None, batch),
        )?;
        let pairs = stages.coupling(&two.valid(), 2, run)?;
        let grid = unit_grid(c.distill_steps);
        let distilled = run.fit(
            "distilled",
            |_| Ok(two.clone()),
            |model: &TimeMlp, batch| stages.loss(model, &pairs, Some(&grid), batch),
        )?;
        stages.evaluate(&[one.valid(), two.valid(), distilled.valid()], run)
    }
}

/// Where a stage's training pairs come from.
enum Pairs {
    /// Fresh independent source and target draws each step (1-RF).
    Independent,
    /// A fixed coupling `(x0, x1)` on the host.
    Fixed(Points, Points),
}

struct Stages<'a> {
    config: &'a Rectified2dConfig,
}

impl Stages<'_> {
    /// The straight-path (I-CFM, sigma 0) loss on a batch of `pairs`, at times uniform in
    /// `[0, 1]` or drawn from `grid`.
    fn loss(
        &self,
        model: &TimeMlp,
        pairs: &Pairs,
        grid: Option<&[f64]>,
        batch: &mut Batch,
    ) -> Result<Loss> {
        let c = self.config;
        let (n, rng) = (c.batch_size, &mut batch.rng);
        let (x0, x1) = match pairs {
            Pairs::Independent => (c.source.sample(n, rng), toy::sample(c.target, n, rng)),
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
        let path = IndependentCfm::new(0.0)?.sample_location_and_conditional_flow(
            points_tensor(&x0, batch.device),
            points_tensor(&x1, batch.device),
            &t,
            rng,
        )?;
        let path = super::share_path(batch, path)?;
        Ok(Loss::new(cfm_loss(&model.as_network(), &path, None)?.mean))
    }

    /// `n_pairs` source points and where `model`'s ODE takes them; the draw is a function of
    /// the seed and the stage, so a resumed run regenerates the same pairs.
    fn coupling(&self, model: &TimeMlp, stage: u64, run: &Run) -> Result<Pairs> {
        let c = self.config;
        let mut rng = StdRng::seed_from_u64(c.seed ^ (0xC0_0C1E + stage));
        let noise = c.source.sample(c.n_pairs, &mut rng);
        let pairs = reflow_coupling(
            &model.as_network(),
            &FlowEuler,
            points_tensor(&noise, run.device()),
            &unit_grid(c.coupling_nfe),
            &Guidance::unconditional(),
            &mut HostNoise::seeded(0),
        )?;
        Ok(Pairs::Fixed(noise, to_points(pairs.endpoint)))
    }

    fn evaluate(&self, models: &[TimeMlp], run: &Run) -> Result<Map<String, Value>> {
        let c = self.config;
        let device = run.device();
        let protocol = Protocol { n: c.n_eval, draws: c.eval_draws, seed: c.seed };
        let draws = protocol.draw(&c.source, c.target);
        let floor = Floor::of(&draws)?;
        let backdrop = Backdrop::new(c.target, &mut StdRng::seed_from_u64(c.seed ^ 0xBAC0));
        let max_nfe = c.eval_nfe.iter().max().copied().unwrap_or(1);
        let (mut stages, mut panels) = (Map::new(), Vec::new());
        for (name, model) in STAGES.iter().zip(models) {
            let field = model.as_network();
            let scores = score_per_nfe(&field, &draws, &c.eval_nfe, device)?;
            for nfe in c.eval_nfe.iter().filter(|&&n| n == 1 || n == max_nfe) {
                let title = format!("{name} NFE {nfe}  W2 {:.3}", scores.w2[nfe].mean);
                panels.push(backdrop.panel(&scores.samples[nfe], &title, 300));
            }
            let straight = straightness(
                &field,
                points_tensor(&draws[0].noise, device),
                &unit_grid(c.coupling_nfe),
                &Guidance::unconditional(),
            )?;
            let mut stage = scores.to_json();
            stage.insert("straightness".into(), json!(straight.mean));
            stages.insert(name.to_string(), Value::Object(stage));
        }
        stoke_data::plot::panels(&panels, 2).save_png(run.dir().file("samples.png"))?;
        let w = |stage: &str, nfe: usize| {
            stages[stage]["w2"][nfe.to_string()].as_f64().unwrap_or(f64::NAN)
        };
        eprintln!(
            "{}: W2 floor {:.3} +- {:.3}; 1-RF NFE 1/{max_nfe} {:.3}/{:.3}, 2-RF {:.3}/{:.3}, distilled NFE 1 {:.3} ({} draws); wrote metrics.json, samples.png, loss.png",
            run.dir().path().display(),
            floor.w2.mean,
            floor.w2.stderr,
            w("1rf", 1),
            w("1rf", max_nfe),
            w("2rf", 1),
            w("2rf", max_nfe),
            w("distilled", 1),
            c.eval_draws,
        );
        Ok(metrics_map(json!({
            "target": c.target.name(),
            "source": c.source.to_string(),
            "stages": stages,
            "eval_draws": c.eval_draws,
            "w2_floor": floor.w2.mean,
            "w2_floor_stderr": floor.w2.stderr,
            "energy_distance_floor": floor.energy_distance.mean,
            "energy_distance_floor_stderr": floor.energy_distance.stderr,
        })))
    }
}
