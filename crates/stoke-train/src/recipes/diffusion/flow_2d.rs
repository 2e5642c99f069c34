//! `flow-2d`: conditional flow matching on 2-D toy data [LIPMAN23; TONG24].
//!
//! `--matcher icfm|otcfm|target|sb|vp` picks `stoke-diffusion`'s path (torchcfm's
//! convention: `t = 0` the source, `t = 1` the target), `--source gaussian|8gaussians|...`
//! the source. Loss `E ||f(x_t, t) - u_t||^2`, Euler sampling from `t = 0` to `t = 1`.
//!
//! Metrics, each a mean over `eval_draws` independent draws with its `*_stderr`: `w2` and
//! `energy_distance` (exact-OT W2 and energy distance between `n_eval` samples and as many
//! fresh target points) at each NFE of `eval_nfe`; `dispersion` (the samples' total variance
//! over the target's: below 1 is an under-dispersed model); the floors `w2_floor` and
//! `energy_distance_floor` between two fresh target samples of the same size;
//! `w2_ratio_to_floor_at_max_nfe` with its delta-method error; and Liu et al.'s
//! `straightness` of the learned flow [LIU22, Eq. 5].

use burn::module::Module;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::noise_level::NoiseLevelSampler;
use stoke_core::validate::{in_range, size};
use stoke_data::toy::{self, Toy};
use stoke_diffusion::flow_matching::{
    ConditionalFlowMatcher, MatcherConfig, MatcherKind, cfm_loss,
};
use stoke_diffusion::guidance::Guidance;
use stoke_diffusion::rectified::straightness;
use stoke_nn::mlp::{TimeMlp, TimeMlpConfig};

use super::Source;
use crate::error::{Result, TrainError};
use crate::eval::points::{Backdrop, Floor, Protocol, points_tensor, score_per_nfe, unit_grid};
use crate::harness::{
    Entry, Family, Loss, LrSchedule, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch,
    metrics_map,
};

/// The recipe's config (written to `config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow2dConfig {
    /// Target distribution.
    pub target: Toy,
    /// Source distribution: `gaussian` (N(0, I)) or a toy.
    pub source: Source,
    /// Conditional path.
    pub matcher: MatcherKind,
    /// The path's `sigma` (`sigma_min` for `target`); `None` takes torchcfm's default for
    /// the matcher (0, and 1 for `sb`, whose sigma must be positive).
    pub sigma: Option<f64>,
    /// Euler steps of the path along which straightness is measured.
    pub straightness_nfe: usize,
    /// Training steps.
    pub steps: usize,
    /// Batch size (torchcfm's 2-D tutorials use 256).
    pub batch_size: usize,
    /// Peak Adam learning rate.
    pub learning_rate: f64,
    /// Cosine decay of the learning rate to `learning_rate * min_lr_fraction` over the run
    /// [LOSHCHILOV17, Eq. 5]; `false` keeps it constant.
    pub cosine_decay: bool,
    /// Final learning rate as a fraction of the peak.
    pub min_lr_fraction: f64,
    /// Seed for data, noise, times and the network's initialisation.
    pub seed: u64,
    /// The network.
    pub model: TimeMlpConfig,
    /// Points compared at evaluation, per draw.
    pub n_eval: usize,
    /// Independent evaluation draws (each: model samples from fresh noise, fresh target
    /// points, and a second target sample for the floor).
    pub eval_draws: usize,
    /// Euler step counts evaluated.
    pub eval_nfe: Vec<usize>,
    /// Steps between `metrics.jsonl` records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for Flow2dConfig {
    fn default() -> Self {
        Self {
            target: Toy::Moons,
            source: Source::Gaussian,
            matcher: MatcherKind::Icfm,
            sigma: None,
            straightness_nfe: 100,
            steps: 8000,
            batch_size: 256,
            learning_rate: 2e-3,
            cosine_decay: true,
            min_lr_fraction: 0.01,
            seed: 0,
            model: TimeMlpConfig::new(),
            n_eval: 1000,
            eval_draws: 5,
            eval_nfe: vec![1, 2, 5, 100],
            log_every: 100,
            checkpoint_every: 1000,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "flow-2d",
    family: Family::Diffusion,
    summary: "conditional flow matching, --matcher icfm|otcfm|target|sb|vp, --source \
              gaussian|8gaussians -> --target moons|8gaussians|checkerboard|spirals; W2, energy \
              distance at NFE 1/2/5/100, straightness",
    run: |args| launch(&Flow2d, args),
    check: |args| check(&Flow2d, args),
    defaults: || defaults_json(&Flow2d),
    tiny: &[
        ("steps", "60"),
        ("batch_size", "64"),
        ("log_every", "10"),
        ("checkpoint_every", "30"),
        ("n_eval", "64"),
        ("eval_draws", "2"),
        ("eval_nfe", "[1, 4]"),
        ("straightness_nfe", "8"),
        ("model", r#"{"width": 32, "n_hidden": 2}"#),
    ],
};

/// `flow-2d`.
pub struct Flow2d;

impl Recipe for Flow2d {
    type Config = Flow2dConfig;
    type Prepared = MatcherConfig;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> Flow2dConfig {
        Flow2dConfig::default()
    }

    fn prepare(&self, c: &Flow2dConfig) -> Result<MatcherConfig> {
        let matcher = c.matcher.with_sigma(c.sigma)?;
        if c.matcher == MatcherKind::Target && c.source != Source::Gaussian {
            return Err(TrainError::Invalid(format!(
                "--matcher target flows from N(0, I) only (Lipman et al.'s path), got --source {}",
                c.source
            )));
        }
        size("straightness_nfe", c.straightness_nfe)?;
        size("batch_size", c.batch_size)?;
        in_range("min_lr_fraction", c.min_lr_fraction, 0.0, 1.0, "[0, 1]")?;
        super::check_2d(&c.model, c.n_eval, c.eval_draws, &c.eval_nfe)?;
        Ok(matcher)
    }

    fn training(&self, c: &Flow2dConfig) -> Vec<(String, TrainSpec)> {
        let schedule = if c.cosine_decay {
            LrSchedule::Cosine { min_fraction: c.min_lr_fraction }
        } else {
            LrSchedule::Constant
        };
        let spec = TrainSpec::adam(c.steps, c.learning_rate, c.seed)
            .with_schedule(schedule)
            .every(c.log_every, c.checkpoint_every);
        vec![(PRIMARY.into(), spec)]
    }

    fn run(
        &self,
        c: &Flow2dConfig,
        matcher: &MatcherConfig,
        run: &mut Run,
    ) -> Result<Map<String, Value>> {
        let times = NoiseLevelSampler::uniform();
        let model = run.fit(
            PRIMARY,
            |device| Ok(c.model.init(device)?),
            |model: &TimeMlp, batch| {
                let n = c.batch_size;
                let x0 = points_tensor(&c.source.sample(n, &mut batch.rng), batch.device);
                let x1 = points_tensor(&toy::sample(c.target, n, &mut batch.rng), batch.device);
                let t = times.sample(n, &mut batch.rng);
                let path =
                    matcher.sample_location_and_conditional_flow(x0, x1, &t, &mut batch.rng)?;
                let path = super::share_path(batch, path)?;
                Ok(Loss::new(cfm_loss(&model.as_network(), &path, None)?.mean))
            },
        )?;
        evaluate(c, &model.valid(), run)
    }
}

fn evaluate(c: &Flow2dConfig, model: &TimeMlp, run: &Run) -> Result<Map<String, Value>> {
    let device = run.device();
    let protocol = Protocol { n: c.n_eval, draws: c.eval_draws, seed: c.seed };
    let draws = protocol.draw(&c.source, c.target);
    let floor = Floor::of(&draws)?;
    let field = model.as_network();
    let scores = score_per_nfe(&field, &draws, &c.eval_nfe, device)?;
    let backdrop = Backdrop::new(c.target, &mut StdRng::seed_from_u64(c.seed ^ 0xBAC0));
    let mut panels: Vec<_> = c
        .eval_nfe
        .iter()
        .map(|nfe| {
            let title = format!("NFE {nfe}  W2 {:.3}", scores.w2[nfe].mean);
            backdrop.panel(&scores.samples[nfe], &title, 360)
        })
        .collect();
    let title = format!("target  W2 floor {:.3}", floor.w2.mean);
    panels.push(backdrop.panel(&draws[0].fresh, &title, 360));
    stoke_data::plot::panels(&panels, panels.len()).save_png(run.dir().file("samples.png"))?;
    let straight = straightness(
        &field,
        points_tensor(&draws[0].noise, device),
        &unit_grid(c.straightness_nfe),
        &Guidance::unconditional(),
    )?;
    let max_nfe = c.eval_nfe.iter().max().copied().unwrap_or(1);
    let ratio = scores.w2[&max_nfe].ratio(floor.w2);
    eprintln!(
        "{}: W2 at NFE {max_nfe} = {:.4} +- {:.4} ({:.2} +- {:.2} x the floor {:.4} +- {:.4}, \
         {} draws); wrote samples.png, loss.png, metrics.json",
        run.dir().path().display(),
        scores.w2[&max_nfe].mean,
        scores.w2[&max_nfe].stderr,
        ratio.mean,
        ratio.stderr,
        floor.w2.mean,
        floor.w2.stderr,
        c.eval_draws,
    );
    let mut metrics = scores.to_json();
    metrics.extend(metrics_map(json!({
        "target": c.target.name(),
        "source": c.source.to_string(),
        "matcher": c.matcher.name(),
        "straightness": straight.mean,
        "eval_draws": c.eval_draws,
        "w2_floor": floor.w2.mean,
        "w2_floor_stderr": floor.w2.stderr,
        "energy_distance_floor": floor.energy_distance.mean,
        "energy_distance_floor_stderr": floor.energy_distance.stderr,
        "w2_ratio_to_floor_at_max_nfe": ratio.mean,
        "w2_ratio_to_floor_at_max_nfe_stderr": ratio.stderr,
    })));
    Ok(metrics)
}
