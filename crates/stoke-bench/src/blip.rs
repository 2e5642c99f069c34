//! `cargo xtask bench blip`:
//!
//! 1. One BLIP pre-training step (ITC against the momentum features and queues, ITM with
//!    one hard negative per image and per text, LM with label smoothing, AdamW, then the
//!    EMA and the enqueue) of the `blip-shapes` model (16x16 images, patch 4, width 64, 2
//!    blocks of 4 heads, rows of 12 tokens, queues of 512, batch 64) against the same model
//!    and step in PyTorch (`bench/blip_torch.py --what step`).
//! 2. Captioning tokens per second: greedy decoding and beam search with 3 beams, 64
//!    images, the prompt of 3 tokens, every row decoded to the full 12 tokens (end of text
//!    forbidden, so both sides do the same work), the prefix recomputed each token (no key
//!    and value cache on either side) (`--what caption`).

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use stoke_contrastive::blip::{BeamSearch, Blip, BlipConfig, BlipInputs, Objectives};
use stoke_nn::{MedConfig, VitConfig};
use stoke_train::error::Result;

use crate::Options;
use crate::table::{alternate, print_table, timed_steps};

const TWIN: &str = include_str!("../bench/blip_torch.py");
const BATCH: usize = 64;
const VOCAB: usize = 40;
const CONTEXT: usize = 12;
const LENGTH: usize = 10;
const PROMPT: [i64; 3] = [5, 6, 7];
const EOS: i64 = 2;

/// Runs both benchmarks and prints their tables.
///
/// # Errors
/// A backend that fails to start; a failing twin.
pub fn run(options: &Options) -> Result<()> {
    let iters = options.steps.to_string();
    let batch = BATCH.to_string();
    let (rows, torch) = alternate(
        options,
        Some(("blip", TWIN)),
        |device| step_rate(options.steps, device),
        |twin, threads| {
            twin.rate(
                &["--what", "step", "--batch", &batch, "--iters", &iters],
                threads,
                "iters_per_sec",
            )
        },
    )?;
    let title = format!(
        "BLIP pre-training step (ITC + ITM + LM, AdamW, EMA, queues; batch {BATCH}): {} steps x {} \
         repeats",
        options.steps, options.repeats
    );
    print_table(&title, "step/s", &rows, torch);
    if options.step_only {
        return Ok(());
    }
    for beams in [1usize, 3] {
        let beams_arg = beams.to_string();
        let (rows, torch) = alternate(
            options,
            Some(("blip", TWIN)),
            |device| caption_rate(beams, device),
            |twin, threads| {
                let args = ["--what", "caption", "--batch", &batch, "--beams", &beams_arg];
                twin.rate(&args, threads, "tokens_per_sec")
            },
        )?;
        let title = format!(
            "BLIP captioning, {} ({BATCH} images, rows of {CONTEXT} tokens, no cache): x {} \
             repeats",
            if beams == 1 { "greedy".to_string() } else { format!("beam search, {beams} beams") },
            options.repeats
        );
        print_table(&title, "tokens/s", &rows, torch);
    }
    Ok(())
}

fn model(device: &Device) -> Result<Blip> {
    device.seed(0);
    let image = VitConfig::new(3, 16, 4, 64, 2, 4);
    let text = MedConfig::new(VOCAB + 2, CONTEXT, 64, 2, 4, 64);
    Ok(BlipConfig::new(image, text, 64, 512).init(device)?)
}

/// Caption rows: `<bos>` (1), words, `<eos>` (2), padding to the context.
fn rows(batch: usize) -> (Vec<i64>, Vec<usize>) {
    let mut ids = Vec::with_capacity(batch * CONTEXT);
    for b in 0..batch {
        ids.push(1);
        ids.extend((0..LENGTH - 2).map(|j| 5 + ((b * 7 + j * 3) % (VOCAB - 5)) as i64));
        ids.push(EOS);
        ids.extend(std::iter::repeat_n(0, CONTEXT - LENGTH));
    }
    (ids, vec![LENGTH; batch])
}

/// Pre-training steps per second.
fn step_rate(steps: usize, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    let blip = model(&device)?;
    let images = Tensor::<4>::random([BATCH, 3, 16, 16], Distribution::Default, &device);
    let (ids, lengths) = rows(BATCH);
    let groups: Vec<usize> = (0..BATCH).collect();
    let uniforms: Vec<f32> = (0..2 * BATCH).map(|k| ((k * 37) % 100) as f32 / 100.0).collect();
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.05).init();
    let step = |blip: Blip| -> Result<Blip> {
        let inputs = BlipInputs {
            images: images.clone(),
            ids: &ids,
            lengths: &lengths,
            groups: Some(&groups),
            decoder_ids: &ids,
            decoder_lengths: &lengths,
            prompt: 0,
            alpha: 0.4,
            uniforms: &uniforms,
        };
        let out = blip.forward(&inputs, Objectives::ALL)?;
        let grads = GradientsParams::from_grads(out.total().backward(), &blip);
        let blip = optimizer.step(1e-4, blip, grads);
        Ok(blip.after_step(out.queued)?)
    };
    let sync = |b: &Blip| {
        let _ = b.temperature();
    };
    timed_steps(blip, 2, steps, step, sync)
}

/// Generated tokens per second (every row decoded to the full context).
fn caption_rate(beams: usize, device: &Device) -> Result<f64> {
    let blip = model(device)?;
    let images = Tensor::<4>::random([BATCH, 3, 16, 16], Distribution::Default, device);
    let search = BeamSearch {
        beams,
        min_length: CONTEXT,
        max_length: CONTEXT,
        repetition_penalty: 1.0,
        length_penalty: 1.0,
    };
    let _ = blip.beam_search(images.clone().narrow(0, 0, 2), &PROMPT, EOS, &search)?;
    let started = std::time::Instant::now();
    let captions = if beams == 1 {
        blip.greedy(images, &PROMPT, EOS, CONTEXT, CONTEXT, 1.0)?
    } else {
        blip.beam_search(images, &PROMPT, EOS, &search)?
    };
    let seconds = started.elapsed().as_secs_f64();
    let tokens: usize = captions.iter().map(Vec::len).sum::<usize>() * beams;
    Ok(tokens as f64 / seconds)
}
