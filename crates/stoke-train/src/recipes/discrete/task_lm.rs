//! `llada-task` and `ar-task`: a masked-diffusion model (LLaDA's objective and sampler) and
//! an autoregressive model of the same backbone on the same synthetic examples, scored by
//! exact match on held-out queries. `--task`:
//!
//! * `sort` (`"sort 3 1 2 ="` -> `" 1 2 3"`) and `add` (`"883+431="` -> `"1314"`): trained
//!   as supervised pairs (LLaDA's SFT: the prompt is never masked, the loss is normalised by
//!   the answer length, end-of-text padding counted [NIE25, Sec. 2.3]; the autoregressive
//!   model's loss is on the answer tokens), scored on test prompts never seen in training
//!   (`accuracy`), the best settings chosen on a validation split cut from the training
//!   examples.
//! * `reversal` (the protocol of `stoke_data::tasks::Reversal`): "A's parent is B." facts,
//!   a share of the pairs also stated backwards ("B's child is A."), trained as plain text
//!   (masked anywhere; the autoregressive loss on every token). `accuracy_forward`: the
//!   one-way facts' forward queries ("A's parent is" -> " B."), for both models by
//!   completion. `accuracy_reverse`: the held-out direction in each model's natural
//!   query: the autoregressive model completes "B's child is" -> " A."; the masked model
//!   fills the masked name in "____'s parent is B." (LLaDA's reversal comparison
//!   [NIE25, Sec. 4.3]). The masked model's completion of "B's child is" is reported too
//!   (`accuracy_reverse_prompted`).
//!
//! Rows are `<pad>... <bos> prompt answer <eos>...`: prompts left-padded to one length,
//! answers right-padded with end-of-text, so every query is a batch of equal-length rows.
//! `llada-task` adds the sampling ablations: accuracy against the number of steps (NFE),
//! low-confidence against random remasking, and the block length (`ablation`).
//! metrics.json: `accuracy` (sort, add), `accuracy_forward` and `accuracy_reverse`
//! (reversal), `validation_accuracy`, `accuracy_curve`, `ablation`, `seconds`,
//! `tokens_per_second`; `samples.txt` holds queries with their answers.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_core::validate;
use stoke_data::CharTokenizer;
use stoke_data::tasks::{ALPHABET, Addition, Example, Reversal, Sort};
use stoke_discrete::forward::mask_tokens;
use stoke_discrete::{
    GenerateConfig, LmDenoiser, MaskedObjective, Normaliser, Remasking, autoregressive, fill_masks,
    generate, masked_diffusion_loss, next_token_loss,
};
use stoke_nn::LmTransformer;
use stoke_nn::attention::Visibility;

use super::{BOS_ID, Backbone, EOS_ID, MASK_ID};
use crate::error::{Result, TrainError};
use crate::harness::{
    Entry, Family, Loss, LrSchedule, PRIMARY, Recipe, Run, TrainSpec, check, check_eval_every,
    defaults_json, launch, logged,
};

/// The padding id (`stoke_data::text::Special::PAD_ID`).
const PAD_ID: i64 = 0;
/// Seed of the evaluation draws.
const EVAL_SEED: u64 = 0x7A5C;

/// Which task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskName {
    /// Sort a list of small numbers.
    Sort,
    /// Add two multi-digit numbers.
    Add,
    /// Recall facts forwards and backwards.
    Reversal,
}

/// The tasks' sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSizes {
    /// Numbers per sorted list.
    pub sort_length: usize,
    /// The largest number in a list.
    pub sort_max: u32,
    /// Digits per operand.
    pub add_width: usize,
    /// (child, parent) pairs of the reversal task.
    pub reversal_pairs: usize,
    /// Pairs also stated backwards in training.
    pub reversal_both: usize,
    /// Training examples (sort, add; a tenth more is drawn for validation).
    pub n_train: usize,
    /// Test examples (sort, add).
    pub n_test: usize,
}

/// The config (`config.json`); `method`'s fields are flattened (`--remasking`, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskConfig<M> {
    /// `sort`, `add` or `reversal`.
    pub task: TaskName,
    /// Sizes of the tasks.
    pub sizes: TaskSizes,
    /// Optimisation steps.
    pub steps: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Adam's peak learning rate (warm-up, then cosine decay to a tenth).
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Seed of the data, the initialisation and every step's draws.
    pub seed: u64,
    /// The backbone.
    pub backbone: Backbone,
    /// Queries scored during training (the curve) and for each ablation point.
    pub n_curve: usize,
    /// Steps between evaluations (a multiple of `log_every`; 0: none).
    pub eval_every: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// The model's own settings.
    #[serde(flatten)]
    pub method: M,
}

/// `llada-task`'s sampler.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LladaMethod {
    /// Reverse steps for the answer (0: one per answer token).
    pub sample_steps: usize,
    /// Tokens per semi-autoregressive block (0: the whole answer).
    pub block_length: usize,
    /// Which predictions each step keeps.
    pub remasking: Remasking,
}

/// `ar-task` has no settings of its own (greedy decoding).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArTaskMethod {}

fn defaults<M>(method: M) -> TaskConfig<M> {
    TaskConfig {
        task: TaskName::Sort,
        sizes: TaskSizes {
            sort_length: 5,
            sort_max: 9,
            add_width: 3,
            // 75 statements: the masked model memorises them in 2000 steps; with 150 or
            // 600 it had not yet (forward 0.06 and 0.00: README).
            reversal_pairs: 50,
            reversal_both: 25,
            n_train: 20_000,
            n_test: 500,
        },
        steps: 2000,
        batch_size: 64,
        learning_rate: 2e-3,
        warmup_steps: 100,
        seed: 0,
        backbone: Backbone { d_model: 96, n_layers: 3, n_heads: 4, mlp_ratio: 4 },
        n_curve: 200,
        eval_every: 500,
        log_every: 50,
        checkpoint_every: 500,
        method,
    }
}

const TINY: &[(&str, &str)] = &[
    ("steps", "30"),
    ("batch_size", "16"),
    ("warmup_steps", "5"),
    ("sizes", r#"{"sort_length": 3, "n_train": 200, "n_test": 20}"#),
    ("backbone", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2}"#),
    ("n_curve", "16"),
    ("eval_every", "10"),
    ("log_every", "10"),
    ("checkpoint_every", "10"),
];

/// The registry entries: `llada-task`, `ar-task`.
pub const ENTRIES: [Entry; 2] = [
    Entry {
        name: "llada-task",
        family: Family::Discrete,
        summary: "masked diffusion (LLaDA's SFT objective and sampler) on sort, add or the \
                  reversal facts: exact match on held-out queries, sampling ablations",
        run: |args| launch(&LladaTask, args),
        check: |args| check(&LladaTask, args),
        defaults: || defaults_json(&LladaTask),
        tiny: TINY,
    },
    Entry {
        name: "ar-task",
        family: Family::Discrete,
        summary: "the autoregressive baseline of llada-task on the same examples and backbone",
        run: |args| launch(&ArTask, args),
        check: |args| check(&ArTask, args),
        defaults: || defaults_json(&ArTask),
        tiny: TINY,
    },
];

/// Where the prompt and the answer sit in a row.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// The longest prompt.
    prompt: usize,
    /// The longest answer plus its end-of-text.
    answer: usize,
}

impl Layout {
    fn of(examples: &[&Example]) -> Self {
        let prompt = examples.iter().map(|e| e.prompt.chars().count()).max().unwrap_or(0);
        let answer = examples.iter().map(|e| e.answer.chars().count()).max().unwrap_or(0) + 1;
        Self { prompt, answer }
    }

    /// Tokens before the answer: padding, `<bos>`, the prompt.
    fn head(&self) -> usize {
        1 + self.prompt
    }

    fn seq(&self) -> usize {
        self.head() + self.answer
    }

    /// `<pad>... <bos> prompt`.
    fn prompt_row(&self, codec: &CharTokenizer, prompt: &str) -> Result<Vec<i64>> {
        let ids = codec.encode(prompt)?;
        let mut row = vec![PAD_ID; self.prompt - ids.len()];
        row.push(BOS_ID);
        row.extend(ids.iter().map(|&id| i64::from(id)));
        Ok(row)
    }

    /// `<pad>... <bos> prompt answer <eos>...`.
    fn row(&self, codec: &CharTokenizer, example: &Example) -> Result<Vec<i64>> {
        let mut row = self.prompt_row(codec, &example.prompt)?;
        let answer = codec.encode(&example.answer)?;
        row.extend(answer.iter().map(|&id| i64::from(id)));
        row.resize(self.seq(), EOS_ID);
        Ok(row)
    }

    /// The answer a generated row holds: its answer tokens up to the first end-of-text.
    fn answer_of(&self, codec: &CharTokenizer, row: &[i64]) -> String {
        let answer: Vec<u32> = row[self.head()..]
            .iter()
            .take_while(|&&id| id != EOS_ID)
            .map(|&id| id.max(0) as u32)
            .collect();
        codec.decode(&answer).unwrap_or_default()
    }
}

/// The examples of the chosen task, tokenized.
pub struct TaskData {
    codec: CharTokenizer,
    layout: Layout,
    /// Training rows, row-major.
    train: Vec<i64>,
    /// Supervised pairs (sort, add: the prompt is never masked) or plain text (reversal).
    supervised: bool,
    /// Sort and add: validation and test; reversal: forward and reverse queries.
    validation: Vec<Example>,
    test: Vec<Example>,
    forward: Vec<Example>,
    reverse: Vec<Example>,
}

impl<M> TaskConfig<M> {
    fn prepare(&self) -> Result<TaskData> {
        validate::size("steps", self.steps)?;
        validate::size("batch_size", self.batch_size)?;
        validate::size("n_curve", self.n_curve)?;
        validate::positive("learning_rate", self.learning_rate)?;
        check_eval_every(self.eval_every, self.log_every)?;
        let s = self.sizes;
        if self.batch_size > 1 << 16 || s.n_train > 1 << 22 || s.n_test > 1 << 20 {
            return Err(TrainError::Invalid(format!(
                "batch_size {}, sizes.n_train {} or sizes.n_test {} is larger than this recipe \
                 supports (65536, 4194304, 1048576)",
                self.batch_size, s.n_train, s.n_test
            )));
        }
        let codec = CharTokenizer::from_texts(&[ALPHABET])?;
        let (train, validation, test, forward, reverse, supervised) = match self.task {
            TaskName::Sort | TaskName::Add => {
                validate::at_least("sizes.n_train", s.n_train, 10)?;
                validate::size("sizes.n_test", s.n_test)?;
                let n_validation = (s.n_train / 10).max(1);
                let set = match self.task {
                    TaskName::Sort => Sort { length: s.sort_length, max_value: s.sort_max }
                        .generate(s.n_train + n_validation, s.n_test, self.seed)?,
                    _ => Addition { width: s.add_width }.generate(
                        s.n_train + n_validation,
                        s.n_test,
                        self.seed,
                    )?,
                };
                let mut train = set.train;
                let validation = train.split_off(s.n_train);
                (train, validation, set.test, Vec::new(), Vec::new(), true)
            }
            TaskName::Reversal => {
                let task = Reversal { n_pairs: s.reversal_pairs, n_both: s.reversal_both }
                    .generate(self.seed)?;
                (task.train, Vec::new(), Vec::new(), task.forward, task.reverse, false)
            }
        };
        let all: Vec<&Example> =
            train.iter().chain(&validation).chain(&test).chain(&forward).chain(&reverse).collect();
        let layout = Layout::of(&all);
        if layout.seq() > 4096 {
            return Err(TrainError::Invalid(format!(
                "rows of {} tokens are longer than this recipe supports (4096): shorten the task",
                layout.seq()
            )));
        }
        self.backbone.validate(codec.vocab_size(), layout.seq())?;
        let rows: Vec<Vec<i64>> =
            train.iter().map(|e| layout.row(&codec, e)).collect::<Result<_>>()?;
        Ok(TaskData {
            codec,
            layout,
            train: rows.concat(),
            supervised,
            validation,
            test,
            forward,
            reverse,
        })
    }

    fn spec(&self) -> TrainSpec {
        let schedule =
            LrSchedule::WarmupCosine { warmup_steps: self.warmup_steps, min_fraction: 0.1 };
        TrainSpec::adam(self.steps, self.learning_rate, self.seed)
            .with_schedule(schedule)
            .every(self.log_every, self.checkpoint_every)
    }

    fn evaluates(&self, step: usize) -> bool {
        self.eval_every > 0 && (step + 1).is_multiple_of(self.eval_every)
    }
}

impl TaskData {
    fn seq(&self) -> usize {
        self.layout.seq()
    }

    /// `batch` training rows drawn from the step's RNG.
    fn draw(&self, batch: usize, rng: &mut StdRng) -> Vec<i64> {
        use rand::RngExt;
        let seq = self.seq();
        let n = self.train.len() / seq;
        (0..batch)
            .flat_map(|_| {
                let i = rng.random_range(0..n);
                self.train[i * seq..(i + 1) * seq].iter().copied()
            })
            .collect()
    }

    /// The curve's and the validation set: validation (sort, add) or the reverse queries.
    fn held_out(&self) -> &[Example] {
        if self.supervised { &self.validation } else { &self.reverse }
    }

    /// The query rows of `examples` (`<pad>... <bos> prompt`).
    fn prompts(&self, examples: &[Example]) -> Result<Vec<i64>> {
        Ok(examples
            .iter()
            .map(|e| self.layout.prompt_row(&self.codec, &e.prompt))
            .collect::<Result<Vec<_>>>()?
            .concat())
    }

    /// The share of `examples` whose generated answer is exactly theirs; with the
    /// first few (query, answer) pairs for samples.txt.
    fn score(&self, examples: &[Example], generated: &[i64]) -> (f64, Vec<String>) {
        let seq = self.seq();
        let mut right = 0;
        let mut shown = Vec::new();
        for (example, row) in examples.iter().zip(generated.chunks(seq)) {
            let answer = self.layout.answer_of(&self.codec, row);
            let ok = answer == example.answer;
            right += usize::from(ok);
            if shown.len() < 8 {
                let mark = if ok { "ok" } else { "WRONG" };
                shown.push(format!(
                    "{}|{answer}|  ({mark}; expected {:?})",
                    example.prompt, example.answer
                ));
            }
        }
        (right as f64 / examples.len().max(1) as f64, shown)
    }
}

/// Runs `examples` through `answer` in batches of `batch`, concatenating the rows.
fn batched(
    examples: &[Example],
    batch: usize,
    mut answer: impl FnMut(&[Example]) -> Result<Vec<i64>>,
) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in examples.chunks(batch) {
        out.extend(answer(chunk)?);
    }
    Ok(out)
}

/// `llada-task`.
pub struct LladaTask;

impl LladaMethod {
    /// The sampler settings for answers of `answer` tokens (0s resolved).
    fn config(
        &self,
        answer: usize,
        steps: usize,
        block_length: usize,
        remasking: Remasking,
    ) -> GenerateConfig {
        let block_length = if block_length == 0 { answer } else { block_length };
        let steps = if steps == 0 { answer } else { steps };
        GenerateConfig {
            gen_length: answer,
            block_length,
            steps,
            temperature: 0.0,
            remasking,
            cfg_scale: 0.0,
        }
    }
}

/// Answers of a masked model by completion.
fn llada_answers(
    lm: &LmTransformer,
    data: &TaskData,
    examples: &[Example],
    config: &GenerateConfig,
    device: &Device,
) -> Result<Vec<i64>> {
    let denoiser = LmDenoiser { lm, device: device.clone() };
    let mut rng = StdRng::seed_from_u64(EVAL_SEED);
    batched(examples, 128, |chunk| {
        let prompts = data.prompts(chunk)?;
        let head = data.layout.head();
        Ok(generate(&denoiser, &prompts, [chunk.len(), head], MASK_ID, config, &mut rng)?.ids)
    })
}

/// The masked model fills the child's name in "____'s parent is B." (the forward fact with
/// the name masked); scored against the reverse queries' answers.
fn llada_infill(
    lm: &LmTransformer,
    data: &TaskData,
    device: &Device,
) -> Result<(f64, Vec<String>)> {
    let denoiser = LmDenoiser { lm, device: device.clone() };
    let mut rng = StdRng::seed_from_u64(EVAL_SEED);
    let seq = data.seq();
    let mut right = 0;
    let mut shown = Vec::new();
    let pairs: Vec<(&Example, &Example)> = data.forward.iter().zip(&data.reverse).collect();
    for chunk in pairs.chunks(128) {
        let mut rows = Vec::new();
        let mut names = Vec::new();
        for (forward, reverse) in chunk {
            let mut row = data.layout.row(&data.codec, forward)?;
            // " A." -> "A": the child's name opens the forward fact.
            let name = reverse.answer.trim().trim_end_matches('.').to_string();
            let start = data.layout.prompt - forward.prompt.chars().count() + 1;
            let len = name.chars().count();
            row[start..start + len].iter_mut().for_each(|id| *id = MASK_ID);
            rows.extend(row);
            names.push((name, start, len));
        }
        let filled = fill_masks(
            &denoiser,
            &rows,
            [chunk.len(), seq],
            MASK_ID,
            names.iter().map(|n| n.2).max().unwrap_or(1),
            Remasking::LowConfidence,
            0.0,
            &mut rng,
        )?;
        for ((name, start, len), row) in names.iter().zip(filled.ids.chunks(seq)) {
            let ids: Vec<u32> =
                row[*start..start + len].iter().map(|&id| id.max(0) as u32).collect();
            let got = data.codec.decode(&ids).unwrap_or_default();
            right += usize::from(&got == name);
            if shown.len() < 8 {
                shown.push(format!(
                    "____{}  -> {got}  (expected {name})",
                    &data
                        .codec
                        .decode(
                            &row[start + len..]
                                .iter()
                                .map(|&id| id.max(0) as u32)
                                .collect::<Vec<_>>()
                        )
                        .unwrap_or_default()
                ));
            }
        }
    }
    Ok((right as f64 / pairs.len().max(1) as f64, shown))
}

impl Recipe for LladaTask {
    type Config = TaskConfig<LladaMethod>;
    type Prepared = TaskData;

    fn name(&self) -> &'static str {
        ENTRIES[0].name
    }

    fn defaults(&self) -> Self::Config {
        defaults(LladaMethod {
            sample_steps: 0,
            block_length: 0,
            remasking: Remasking::LowConfidence,
        })
    }

    fn prepare(&self, c: &Self::Config) -> Result<TaskData> {
        let data = c.prepare()?;
        c.method
            .config(
                data.layout.answer,
                c.method.sample_steps,
                c.method.block_length,
                c.method.remasking,
            )
            .plan()?;
        Ok(data)
    }

    fn training(&self, c: &Self::Config) -> Vec<(String, TrainSpec)> {
        vec![(PRIMARY.into(), c.spec())]
    }

    fn run(&self, c: &Self::Config, data: &TaskData, run: &mut Run) -> Result<Map<String, Value>> {
        let (batch, seq, head) = (c.batch_size, data.seq(), data.layout.head());
        let vocab = data.codec.vocab_size();
        let init = |device: &Device| -> Result<LmTransformer> {
            Ok(c.backbone.config(vocab, seq, Visibility::Bidirectional, false).init(device)?)
        };
        let objective = MaskedObjective::llada();
        let config = c.method.config(
            data.layout.answer,
            c.method.sample_steps,
            c.method.block_length,
            c.method.remasking,
        );
        let eval_device = run.device().clone();
        let held_out: Vec<Example> = data.held_out().iter().take(c.n_curve).cloned().collect();
        let prompts = vec![head; batch];
        let answers = vec![seq - head; batch];
        let started = Instant::now();
        let model = run.fit(PRIMARY, init, |model, step| {
            let x0 = data.draw(batch, &mut step.rng);
            let corruption = objective.draw(batch, &mut step.rng)?;
            let (prompt, normaliser) = if data.supervised {
                (Some(prompts.as_slice()), Normaliser::Answer(&answers))
            } else {
                (None, Normaliser::Row)
            };
            let masked = mask_tokens(&x0, &corruption.p_mask, prompt, MASK_ID, &mut step.rng)?;
            let logits = model.logits(&masked.x_t, [batch, seq], None, None, step.device)?;
            let loss = masked_diffusion_loss(
                logits,
                &x0,
                &masked,
                &corruption.weight,
                normaliser,
                MASK_ID,
            )?;
            let mut out = Loss::new(loss);
            if c.evaluates(step.step) {
                let frozen = model.valid();
                let accuracy = if data.supervised {
                    data.score(
                        &held_out,
                        &llada_answers(&frozen, data, &held_out, &config, &eval_device)?,
                    )
                    .0
                } else {
                    llada_infill(&frozen, data, &eval_device)?.0
                };
                out = out.with("held_out_accuracy", accuracy);
            }
            Ok(out)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let model = model.valid();
        let device = run.device();
        let mut metrics = Map::new();
        let mut samples = Vec::new();
        if data.supervised {
            let (validation, _) = data.score(
                &data.validation,
                &llada_answers(&model, data, &data.validation, &config, device)?,
            );
            let (accuracy, shown) =
                data.score(&data.test, &llada_answers(&model, data, &data.test, &config, device)?);
            metrics.insert("validation_accuracy".into(), json!(validation));
            metrics.insert("accuracy".into(), json!(accuracy));
            samples.push(("test (prompt|answer)", shown));
        } else {
            let (forward, shown_forward) = data.score(
                &data.forward,
                &llada_answers(&model, data, &data.forward, &config, device)?,
            );
            let (reverse, shown_reverse) = llada_infill(&model, data, device)?;
            let (prompted, shown_prompted) = data.score(
                &data.reverse,
                &llada_answers(&model, data, &data.reverse, &config, device)?,
            );
            metrics.insert("accuracy_forward".into(), json!(forward));
            metrics.insert("accuracy_reverse".into(), json!(reverse));
            metrics.insert("accuracy_reverse_prompted".into(), json!(prompted));
            samples.push(("forward facts (prompt|answer)", shown_forward));
            samples.push(("reverse by infilling the masked name", shown_reverse));
            samples.push(("reverse by completion (prompt|answer)", shown_prompted));
        }
        metrics.insert("ablation".into(), ablation(c, data, &model, device)?);
        finish(run, c, data, seconds, samples, metrics)
    }
}

/// Accuracy on the first `n_curve` held-out queries (completion) for each remasking, block
/// length (the whole answer, and half of it when it divides) and number of steps (one per
/// token, a half, a quarter), with the network evaluations each took.
fn ablation(
    c: &TaskConfig<LladaMethod>,
    data: &TaskData,
    model: &LmTransformer,
    device: &Device,
) -> Result<Value> {
    let examples: Vec<Example> = if data.supervised { &data.test } else { &data.forward }
        .iter()
        .take(c.n_curve)
        .cloned()
        .collect();
    let answer = data.layout.answer;
    let mut blocks = vec![answer];
    if answer.is_multiple_of(2) && answer >= 4 {
        blocks.push(answer / 2);
    }
    let mut points = Vec::new();
    for remasking in [Remasking::LowConfidence, Remasking::Random] {
        for &block_length in &blocks {
            let n_blocks = answer / block_length;
            let mut steps: Vec<usize> = [answer, answer / 2, answer / 4]
                .iter()
                .map(|&s| (s.max(n_blocks) / n_blocks) * n_blocks)
                .collect();
            steps.dedup();
            for steps in steps {
                let config = c.method.config(answer, steps, block_length, remasking);
                let (accuracy, _) =
                    data.score(&examples, &llada_answers(model, data, &examples, &config, device)?);
                points.push(json!({"remasking": remasking, "block_length": block_length, "steps": steps, "nfe": steps, "accuracy": accuracy}));
            }
        }
    }
    Ok(json!(points))
}

/// Writes samples.txt and the common task metrics.
fn finish<M>(
    run: &mut Run,
    c: &TaskConfig<M>,
    data: &TaskData,
    seconds: f64,
    samples: Vec<(&str, Vec<String>)>,
    mut metrics: Map<String, Value>,
) -> Result<Map<String, Value>> {
    let mut text = String::new();
    for (title, lines) in samples {
        text.push_str(&format!("--- {title} ---\n{}\n\n", lines.join("\n")));
    }
    crate::harness::run_dir::write_atomic(&run.dir().file("samples.txt"), text.as_bytes())?;
    let curve = logged(run, PRIMARY, "held_out_accuracy")?;
    metrics.insert("accuracy_curve".into(), json!(curve));
    metrics.insert("task".into(), json!(c.task));
    metrics.insert("train_examples".into(), json!(data.train.len() / data.seq()));
    metrics.insert(
        "tokens_per_second".into(),
        json!((c.steps * c.batch_size * data.seq()) as f64 / seconds),
    );
    let headline: Vec<String> = ["accuracy", "accuracy_forward", "accuracy_reverse"]
        .iter()
        .filter_map(|k| Some(format!("{k} {:.4}", metrics.get(*k)?.as_f64()?)))
        .collect();
    eprintln!(
        "{}: {}; wrote metrics.json, samples.txt",
        run.dir().path().display(),
        headline.join(", ")
    );
    Ok(metrics)
}

/// `ar-task`.
pub struct ArTask;

/// Greedy answers of a causal model to `examples`.
fn ar_answers(
    lm: &LmTransformer,
    data: &TaskData,
    examples: &[Example],
    device: &Device,
) -> Result<Vec<i64>> {
    let denoiser = LmDenoiser { lm, device: device.clone() };
    let mut rng = StdRng::seed_from_u64(EVAL_SEED);
    let (head, answer) = (data.layout.head(), data.layout.answer);
    batched(examples, 128, |chunk| {
        let prompts = data.prompts(chunk)?;
        Ok(autoregressive(&denoiser, &prompts, [chunk.len(), head], answer, 0.0, &mut rng)?.ids)
    })
}

impl Recipe for ArTask {
    type Config = TaskConfig<ArTaskMethod>;
    type Prepared = TaskData;

    fn name(&self) -> &'static str {
        ENTRIES[1].name
    }

    fn defaults(&self) -> Self::Config {
        defaults(ArTaskMethod {})
    }

    fn prepare(&self, c: &Self::Config) -> Result<TaskData> {
        c.prepare()
    }

    fn training(&self, c: &Self::Config) -> Vec<(String, TrainSpec)> {
        vec![(PRIMARY.into(), c.spec())]
    }

    fn run(&self, c: &Self::Config, data: &TaskData, run: &mut Run) -> Result<Map<String, Value>> {
        let (batch, seq, head) = (c.batch_size, data.seq(), data.layout.head());
        let vocab = data.codec.vocab_size();
        let init = |device: &Device| -> Result<LmTransformer> {
            Ok(c.backbone.config(vocab, seq, Visibility::Causal, false).init(device)?)
        };
        // The logits at position i predict token i + 1: inputs are the row less its last
        // token, targets the row less its first; supervised rows score the answer only,
        // plain text every token after <bos>.
        let first_target = if data.supervised { head - 1 } else { 0 };
        let valid: Vec<bool> =
            (0..batch).flat_map(|_| (0..seq - 1).map(move |i| i >= first_target)).collect();
        let eval_device = run.device().clone();
        let held_out: Vec<Example> = data.held_out().iter().take(c.n_curve).cloned().collect();
        let started = Instant::now();
        let model = run.fit(PRIMARY, init, |model, step| {
            let rows = data.draw(batch, &mut step.rng);
            let inputs: Vec<i64> =
                rows.chunks(seq).flat_map(|r| r[..seq - 1].iter().copied()).collect();
            let targets: Vec<i64> = rows.chunks(seq).flat_map(|r| r[1..].iter().copied()).collect();
            let logits = model.logits(&inputs, [batch, seq - 1], None, None, step.device)?;
            // Left padding: a target that is padding is never scored.
            let valid: Vec<bool> =
                valid.iter().zip(&targets).map(|(&v, &t)| v && t != PAD_ID).collect();
            let mut out = Loss::new(next_token_loss(logits, &targets, &valid)?);
            if c.evaluates(step.step) {
                let frozen = model.valid();
                let accuracy =
                    data.score(&held_out, &ar_answers(&frozen, data, &held_out, &eval_device)?).0;
                out = out.with("held_out_accuracy", accuracy);
            }
            Ok(out)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let model = model.valid();
        let device = run.device();
        let mut metrics = Map::new();
        let mut samples = Vec::new();
        if data.supervised {
            let (validation, _) =
                data.score(&data.validation, &ar_answers(&model, data, &data.validation, device)?);
            let (accuracy, shown) =
                data.score(&data.test, &ar_answers(&model, data, &data.test, device)?);
            metrics.insert("validation_accuracy".into(), json!(validation));
            metrics.insert("accuracy".into(), json!(accuracy));
            samples.push(("test (prompt|answer)", shown));
        } else {
            let (forward, shown_forward) =
                data.score(&data.forward, &ar_answers(&model, data, &data.forward, device)?);
            let (reverse, shown_reverse) =
                data.score(&data.reverse, &ar_answers(&model, data, &data.reverse, device)?);
            metrics.insert("accuracy_forward".into(), json!(forward));
            metrics.insert("accuracy_reverse".into(), json!(reverse));
            samples.push(("forward facts (prompt|answer)", shown_forward));
            samples.push(("reverse by completion (prompt|answer)", shown_reverse));
        }
        finish(run, c, data, seconds, samples, metrics)
    }
}
