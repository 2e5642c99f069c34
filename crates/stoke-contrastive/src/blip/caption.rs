//! Captioning with BLIP's image-grounded decoder [LI22, Sec. 3.1 and 4]: greedy decoding,
//! beam search and nucleus sampling [HOLTZMAN20, Sec. 3.1], from `[DEC]` and a prompt
//! ("a picture of " in BLIP), the way Hugging Face's `generate` does them for BLIP.
//!
//! Lengths count the whole row as `generate` does: `[DEC]`, the prompt, the generated tokens
//! and the end-of-text token. Below `min_length` the end-of-text token is forbidden; a row
//! stops at end of text or at `max_length`. The repetition penalty divides a positive logit
//! (multiplies a negative one) of every token already in the row, prompt included
//! [KESKAR19, Sec. 4.1]. Every function returns, per image, the generated tokens after the prompt,
//! the end-of-text token excluded.

use burn::tensor::{Int, Tensor, TensorData};
use stoke_core::validate;
use stoke_nn::NnError;

use super::Blip;
use crate::error::{ContrastiveError, Result};

/// Beam-search settings (BLIP's defaults: 3 beams, lengths 10 to 30, no repetition
/// penalty, Hugging Face's length penalty 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeamSearch {
    /// Hypotheses kept per image (1: greedy decoding).
    pub beams: usize,
    /// Shortest row before end of text may be chosen.
    pub min_length: usize,
    /// Longest row.
    pub max_length: usize,
    /// At least 1 (1: none).
    pub repetition_penalty: f64,
    /// A finished hypothesis scores `sum log p / generated^length_penalty`.
    pub length_penalty: f64,
}

/// Nucleus-sampling settings (BLIP's CapFilt: top-p 0.9, repetition penalty 1.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nucleus {
    /// The smallest set of most likely tokens whose mass reaches `top_p` is sampled from;
    /// in `(0, 1]`.
    pub top_p: f64,
    /// Shortest row before end of text may be chosen.
    pub min_length: usize,
    /// Longest row.
    pub max_length: usize,
    /// At least 1 (1: none).
    pub repetition_penalty: f64,
}

impl Blip {
    /// Greedy decoding: the most likely next token each step (the lowest id among equals).
    ///
    /// # Errors
    /// As [`Blip::beam_search`].
    pub fn greedy(
        &self,
        images: Tensor<4>,
        prompt: &[i64],
        eos: i64,
        min_length: usize,
        max_length: usize,
        repetition_penalty: f64,
    ) -> Result<Vec<Vec<i64>>> {
        let rows = self.check_decoding(prompt, eos, max_length, repetition_penalty)?;
        let (tokens, _) = self.encode_image(images)?;
        let n = tokens.dims()[0];
        let mut rows: Vec<Vec<i64>> = vec![rows; n];
        let mut done = vec![false; n];
        while rows[0].len() < max_length && done.iter().any(|d| !d) {
            let log_p =
                self.next_log_probs(tokens.clone(), &rows, eos, min_length, repetition_penalty)?;
            for (i, row) in rows.iter_mut().enumerate() {
                let token = if done[i] { eos } else { argmax(&log_p[i]) as i64 };
                done[i] |= token == eos;
                row.push(token);
            }
        }
        Ok(rows.iter().map(|row| generated(row, prompt.len(), eos)).collect())
    }

    /// Beam search: per image, `beams` hypotheses scored by their summed log-probability;
    /// the `2 beams` best continuations are considered each step, one ending in end of text
    /// becomes a finished hypothesis (when among the best `beams`), and an image is done
    /// when `beams` hypotheses are finished and none alive can beat the worst of them
    /// (Hugging Face's rule without early stopping). The best finished hypothesis wins.
    ///
    /// # Errors
    /// Zero beams; a prompt that leaves no room under `max_length`
    /// ([`ContrastiveError::PromptTooLong`]); `max_length` beyond the decoder's context; a
    /// repetition penalty below 1; an id outside the vocabulary; images the ViT refuses.
    pub fn beam_search(
        &self,
        images: Tensor<4>,
        prompt: &[i64],
        eos: i64,
        search: &BeamSearch,
    ) -> Result<Vec<Vec<i64>>> {
        let beams = validate::size("beams", search.beams)?;
        validate::finite("length_penalty", search.length_penalty)?;
        let start =
            self.check_decoding(prompt, eos, search.max_length, search.repetition_penalty)?;
        let (tokens, _) = self.encode_image(images)?;
        let n = tokens.dims()[0];
        let device = tokens.device();
        // Each image's tokens once per beam: row b * beams + k.
        let index: Vec<i64> = (0..n * beams).map(|r| (r / beams) as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [n * beams]), &device);
        let tokens = tokens.select(0, index);
        let prompt_len = start.len();
        let mut rows: Vec<Vec<i64>> = vec![start; n * beams];
        // Only the first beam is alive at the start (the others would repeat it).
        let mut scores: Vec<f64> =
            (0..n * beams).map(|r| if r % beams == 0 { 0.0 } else { f64::NEG_INFINITY }).collect();
        let mut finished: Vec<Vec<(f64, Vec<i64>)>> = vec![Vec::new(); n];
        let mut done = vec![false; n];
        let normalise =
            |score: f64, len: usize| score / (len.max(1) as f64).powf(search.length_penalty);
        while rows[0].len() < search.max_length && done.iter().any(|d| !d) {
            let log_p = self.next_log_probs(
                tokens.clone(),
                &rows,
                eos,
                search.min_length,
                search.repetition_penalty,
            )?;
            let mut next_rows = rows.clone();
            let mut next_scores = scores.clone();
            for image in 0..n {
                if done[image] {
                    continue;
                }
                let base = image * beams;
                let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
                for k in 0..beams {
                    let row = base + k;
                    if scores[row] == f64::NEG_INFINITY {
                        continue;
                    }
                    for (token, &lp) in log_p[row].iter().enumerate() {
                        if lp > f64::NEG_INFINITY {
                            candidates.push((scores[row] + lp, k, token));
                        }
                    }
                }
                candidates
                    .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
                let mut alive = 0;
                for (rank, &(score, k, token)) in candidates.iter().take(2 * beams).enumerate() {
                    if token as i64 == eos {
                        if rank < beams {
                            let mut row = rows[base + k].clone();
                            row.push(eos);
                            let len = row.len() - prompt_len;
                            finished[image].push((normalise(score, len), row));
                        }
                        continue;
                    }
                    let mut row = rows[base + k].clone();
                    row.push(token as i64);
                    next_rows[base + alive] = row;
                    next_scores[base + alive] = score;
                    alive += 1;
                    if alive == beams {
                        break;
                    }
                }
                for k in alive..beams {
                    next_scores[base + k] = f64::NEG_INFINITY;
                    next_rows[base + k].push(eos);
                }
                let generated_len = next_rows[base].len() - prompt_len;
                let best_alive = next_scores[base];
                let worst_finished =
                    finished[image].iter().map(|(s, _)| *s).fold(f64::INFINITY, f64::min);
                done[image] = alive == 0
                    || (finished[image].len() >= beams
                        && normalise(best_alive, generated_len) <= worst_finished);
            }
            // Rows of finished images still grow (by end of text) to keep one length.
            for image in (0..n).filter(|&i| done[i]) {
                for k in 0..beams {
                    let row = &mut next_rows[image * beams + k];
                    if row.len() < rows[0].len() + 1 {
                        row.push(eos);
                    }
                }
            }
            rows = next_rows;
            scores = next_scores;
        }
        // Hypotheses still alive at the maximum length are finished as they are.
        for image in (0..n).filter(|&i| !done[i]) {
            for k in 0..beams {
                let row = image * beams + k;
                if scores[row] > f64::NEG_INFINITY {
                    let len = rows[row].len() - prompt_len;
                    finished[image].push((normalise(scores[row], len), rows[row].clone()));
                }
            }
        }
        Ok(finished
            .iter()
            .map(|hyps| {
                let best = hyps.iter().fold(None::<&(f64, Vec<i64>)>, |best, h| match best {
                    Some(b) if b.0 >= h.0 => Some(b),
                    _ => Some(h),
                });
                best.map(|(_, row)| generated(row, prompt.len(), eos)).unwrap_or_default()
            })
            .collect())
    }

    /// Nucleus sampling [HOLTZMAN20, Sec. 3.1]: each step, the most likely tokens (by decreasing
    /// probability, the lowest id first among equals) whose mass first reaches `top_p` are
    /// kept and one is drawn in proportion, by inverse CDF at `uniform()` in `[0, 1)`.
    ///
    /// # Errors
    /// `top_p` outside `(0, 1]`; otherwise as [`Blip::beam_search`].
    pub fn nucleus(
        &self,
        images: Tensor<4>,
        prompt: &[i64],
        eos: i64,
        settings: &Nucleus,
        uniform: &mut dyn FnMut() -> f32,
    ) -> Result<Vec<Vec<i64>>> {
        validate::positive("top_p", settings.top_p)?;
        validate::in_range("top_p", settings.top_p, 0.0, 1.0, "(0, 1]")?;
        let start =
            self.check_decoding(prompt, eos, settings.max_length, settings.repetition_penalty)?;
        let (tokens, _) = self.encode_image(images)?;
        let n = tokens.dims()[0];
        let mut rows: Vec<Vec<i64>> = vec![start; n];
        let mut done = vec![false; n];
        while rows[0].len() < settings.max_length && done.iter().any(|d| !d) {
            let log_p = self.next_log_probs(
                tokens.clone(),
                &rows,
                eos,
                settings.min_length,
                settings.repetition_penalty,
            )?;
            for (i, row) in rows.iter_mut().enumerate() {
                let token = if done[i] {
                    eos
                } else {
                    sample_top_p(&log_p[i], settings.top_p, uniform()) as i64
                };
                done[i] |= token == eos;
                row.push(token);
            }
        }
        Ok(rows.iter().map(|row| generated(row, prompt.len(), eos)).collect())
    }

    /// The first row (`[DEC]` and the prompt), checked.
    fn check_decoding(
        &self,
        prompt: &[i64],
        eos: i64,
        max_length: usize,
        repetition_penalty: f64,
    ) -> Result<Vec<i64>> {
        validate::finite("repetition_penalty", repetition_penalty)?;
        if repetition_penalty < 1.0 {
            validate::in_range(
                "repetition_penalty",
                repetition_penalty,
                1.0,
                f64::MAX,
                "[1, inf)",
            )?;
        }
        let context = self.context();
        if max_length > context {
            return Err(NnError::SequenceTooLong { len: max_length, max: context }.into());
        }
        let vocab = self.online.med.vocab_size() as i64;
        if let Some(&token) = prompt.iter().chain([&eos]).find(|&&t| !(0..vocab).contains(&t)) {
            return Err(NnError::TokenOutOfRange { token, vocab_size: vocab as usize }.into());
        }
        if 1 + prompt.len() >= max_length {
            return Err(ContrastiveError::PromptTooLong { prompt: 1 + prompt.len(), max_length });
        }
        let mut row = vec![self.dec_token()];
        row.extend_from_slice(prompt);
        Ok(row)
    }

    /// The next token's log-probabilities of every row (rows of one length), after the
    /// repetition penalty and the minimum length.
    fn next_log_probs(
        &self,
        image_tokens: Tensor<3>,
        rows: &[Vec<i64>],
        eos: i64,
        min_length: usize,
        repetition_penalty: f64,
    ) -> Result<Vec<Vec<f64>>> {
        let seq = rows[0].len();
        let ids: Vec<i64> = rows.iter().flatten().copied().collect();
        let lengths = vec![seq; rows.len()];
        let logits = self.decoder_logits(image_tokens, &ids, &lengths)?;
        let [batch, _, vocab] = logits.dims();
        // [batch, seq, vocab] -> [batch, 1, vocab]: the last position's
        let last: Vec<f32> = logits
            .narrow(1, seq - 1, 1)
            .reshape([batch, vocab])
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        Ok(last
            .chunks(vocab)
            .zip(rows)
            .map(|(logits, row)| {
                let mut logits: Vec<f64> = logits.iter().map(|&v| f64::from(v)).collect();
                if repetition_penalty != 1.0 {
                    let mut seen = row.clone();
                    seen.sort_unstable();
                    seen.dedup();
                    for &t in seen.iter().filter(|&&t| (t as usize) < vocab) {
                        let v = &mut logits[t as usize];
                        *v = if *v > 0.0 {
                            *v / repetition_penalty
                        } else {
                            *v * repetition_penalty
                        };
                    }
                }
                if seq < min_length {
                    logits[eos as usize] = f64::NEG_INFINITY;
                }
                log_softmax(&logits)
            })
            .collect())
    }
}

/// `x - log sum exp x`, with `-inf` entries kept at `-inf`.
fn log_softmax(x: &[f64]) -> Vec<f64> {
    let top = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = x.iter().map(|&v| (v - top).exp()).sum();
    let log_total = top + total.ln();
    x.iter().map(|&v| v - log_total).collect()
}

/// The index of the largest value, the lowest among equals.
fn argmax(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Nucleus draw from log-probabilities: tokens by decreasing log-probability (lowest id
/// first among equals) until their mass reaches `top_p`, then inverse CDF at `u`.
fn sample_top_p(log_p: &[f64], top_p: f64, u: f32) -> usize {
    let mut order: Vec<usize> = (0..log_p.len()).collect();
    order.sort_by(|&a, &b| log_p[b].total_cmp(&log_p[a]).then(a.cmp(&b)));
    let mut kept = Vec::new();
    let mut mass = 0.0;
    for &token in &order {
        kept.push(token);
        mass += log_p[token].exp();
        if mass >= top_p {
            break;
        }
    }
    let target = f64::from(u).clamp(0.0, 1.0) * mass;
    let mut cumulative = 0.0;
    for &token in &kept {
        cumulative += log_p[token].exp();
        if target < cumulative {
            return token;
        }
    }
    kept[kept.len() - 1]
}

/// The tokens after `[DEC]` and the prompt, up to (without) the first end of text.
fn generated(row: &[i64], prompt: usize, eos: i64) -> Vec<i64> {
    row.iter().skip(1 + prompt).take_while(|&&t| t != eos).copied().collect()
}
