//! BLIP's laws: the EMA is exact, the queue is first-in first-out at a fixed size, soft
//! targets are distributions, hard negatives are never the positive, the MED shares what
//! the design says, the decoder is causal, beam search with one beam and nucleus sampling
//! with top-p near 0 are greedy decoding, bad settings are refused, and each loss falls on a
//! tiny problem.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use stoke_contrastive::blip::{
    BeamSearch, Blip, BlipConfig, BlipInputs, FeatureQueue, Nucleus, Objectives, hard_negatives,
    positive_targets, soft_targets,
};
use stoke_nn::{MedConfig, MedMode, Memory, VitConfig};

use crate::{floats, parameters};

const VOCAB: usize = 10; // 8 text ids (0 pad, 1 bos, 2 eos, 3..8 words), [ENC], [DEC]
const EOS: i64 = 2;

fn config(queue: usize) -> BlipConfig {
    let image = VitConfig::new(3, 8, 4, 16, 1, 2);
    let text = MedConfig::new(VOCAB, 8, 16, 2, 2, 16);
    BlipConfig::new(image, text, 8, queue)
}

fn tiny(device: &Device) -> Blip {
    config(8).init(device).unwrap()
}

/// Adds `delta` to every parameter of a module.
struct Shift(f32);

impl ModuleMapper for Shift {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let delta = self.0;
        param.map(|t| t.add_scalar(delta))
    }
}

/// Four classes of solid-colour 8x8 images, captioned `<bos> w <eos>` with word `3 + class`.
struct Toy {
    images: Tensor<4>,
    ids: Vec<i64>,
    lengths: Vec<usize>,
    groups: Vec<usize>,
}

fn toy(classes: &[usize], device: &Device) -> Toy {
    let colours = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]];
    let mut pixels = Vec::new();
    for &c in classes {
        for channel in colours[c] {
            pixels.extend(std::iter::repeat_n(channel, 64));
        }
    }
    let n = classes.len();
    let images = Tensor::from_data(TensorData::new(pixels, [n, 3, 8, 8]), device);
    let ids = classes.iter().flat_map(|&c| [1, 3 + c as i64, EOS, 0]).collect();
    Toy { images, ids, lengths: vec![3; n], groups: classes.to_vec() }
}

fn inputs<'a>(toy: &'a Toy, uniforms: &'a [f32], alpha: f64) -> BlipInputs<'a> {
    BlipInputs {
        images: toy.images.clone(),
        ids: &toy.ids,
        lengths: &toy.lengths,
        groups: Some(&toy.groups),
        decoder_ids: &toy.ids,
        decoder_lengths: &toy.lengths,
        prompt: 0,
        alpha,
        uniforms,
    }
}

#[test]
fn the_momentum_encoder_after_a_step_is_exactly_the_ema() {
    let device = Device::flex().autodiff();
    let mut blip = tiny(&device);
    // At init the momentum model equals the online one.
    assert_eq!(parameters(&blip.momentum), parameters(&blip.online));
    let data = toy(&[0, 1, 2, 3], &device);
    let uniforms = [0.3; 8];
    let mut optimizer = AdamConfig::new().init();
    for _ in 0..2 {
        let old = parameters(&blip.momentum);
        let out = blip.forward(&inputs(&data, &uniforms, 0.4), Objectives::ALL).unwrap();
        let grads = GradientsParams::from_grads(out.total().backward(), &blip);
        blip = optimizer.step(1e-2, blip, grads);
        let new = parameters(&blip.online);
        assert_ne!(new, old, "the step must move the online weights");
        blip = blip.after_step(out.queued).unwrap();
        let (m, one_minus) = (0.995f32, (1.0 - 0.995f64) as f32);
        let expected: Vec<Vec<f32>> = old
            .iter()
            .zip(&new)
            .map(|(o, n)| o.iter().zip(n).map(|(o, n)| o * m + n * one_minus).collect())
            .collect();
        assert_eq!(parameters(&blip.momentum), expected, "momentum = m old + (1 - m) new");
    }
    // The queues took both batches, newest first, with their caption ids.
    assert_eq!(blip.queued_ids(), vec![0, 1, 2, 3, 0, 1, 2, 3]);
    // The optimizer never holds state for the momentum model or the queues.
    let trainable = parameters(&blip.online).len() + parameters(&blip.itm_head).len() + 1;
    assert_eq!(optimizer.to_record().len(), 2 * trainable);
}

#[test]
fn the_queue_is_first_in_first_out_at_a_fixed_size() {
    let device = Device::flex();
    let mut queue = FeatureQueue::new(6, 2, &device).unwrap();
    let batch = |v: f32| {
        Tensor::<2>::from_data(TensorData::new(vec![v, v, v + 0.5, v + 0.5], [2, 2]), &device)
    };
    for v in 1..=5 {
        queue = queue.enqueue(batch(v as f32)).unwrap();
        assert_eq!(queue.len(), 6);
    }
    // Newest first: batches 5, 4, 3; batches 1 and 2 and the initial noise are gone.
    let expected = [5.0, 5.0, 5.5, 5.5, 4.0, 4.0, 4.5, 4.5, 3.0, 3.0, 3.5, 3.5];
    assert_eq!(floats(queue.features()), expected);
    assert!(queue.enqueue(Tensor::<2>::ones([2, 3], &device)).is_err(), "another width");
}

#[test]
fn soft_targets_are_distributions_and_positives_spread_over_the_caption_id() {
    let device = Device::flex();
    // Rows 0 and 2 share id 10, also held by queue row 1; row 3's id is in the queue twice.
    let ids = [10, 11, 10, 12];
    let queue_ids = [-1, 10, 12, 12, 13, -1];
    let positives = positive_targets(4, Some(&ids), &queue_ids, &device).unwrap();
    let p = floats(positives.clone());
    let third = 1.0 / 3.0;
    assert_eq!(&p[..10], &[third, 0.0, third, 0.0, 0.0, third, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(&p[10..20], &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(&p[30..40], &[0.0, 0.0, 0.0, third, 0.0, 0.0, third, third, 0.0, 0.0]);
    // Without ids, each row's own pair alone (BLIP's pre-training).
    let own = floats(positive_targets(4, None, &queue_ids, &device).unwrap());
    assert!((0..4).all(|i| own[i * 10 + i] == 1.0) && own.iter().sum::<f32>() == 4.0);
    for alpha in [0.0, 0.4, 1.0] {
        let sim = Tensor::<2>::random([4, 10], Distribution::Normal(0.0, 5.0), &device);
        let targets = soft_targets(sim, positives.clone(), alpha).unwrap();
        for s in floats(targets.sum_dim(1)) {
            assert!((s - 1.0).abs() < 1e-5, "alpha {alpha}: row sums to {s}");
        }
    }
    assert!(soft_targets(Tensor::zeros([4, 10], &device), positives, 1.5).is_err());
}

#[test]
fn hard_negatives_never_pick_the_positive_and_follow_the_similarities() {
    let mut state = 0x2545_f491_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    for n in [2usize, 3, 7] {
        for _ in 0..50 {
            // The positive is by far the most similar: a broken mask would pick it.
            let logits: Vec<f32> =
                (0..n * n).map(|k| if k / n == k % n { 40.0 } else { 4.0 * next() }).collect();
            let uniforms: Vec<f32> = (0..n).map(|_| next()).collect();
            let picks = hard_negatives(&logits, n, None, &uniforms).unwrap();
            assert!(picks.iter().enumerate().all(|(i, &j)| i != j && j < n), "{picks:?}");
        }
    }
    // With groups, no candidate of the row's group (identical captions) is drawn.
    let groups = [0, 0, 1, 1, 2];
    for u in [0.0, 0.2, 0.5, 0.8, 0.999_999] {
        let picks = hard_negatives(&[1.0; 25], 5, Some(&groups), &[u; 5]).unwrap();
        assert!(picks.iter().enumerate().all(|(i, &j)| groups[i] != groups[j]), "{picks:?}");
    }
    // Draws follow softmax: candidate 2 has three times candidate 1's weight.
    let logits = [0.0, 0.0, 3f32.ln(), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let grid: Vec<f32> = (0..1000).map(|k| (k as f32 + 0.5) / 1000.0).collect();
    let twos = grid
        .iter()
        .filter(|&&u| hard_negatives(&logits, 3, None, &[u, 0.5, 0.5]).unwrap()[0] == 2)
        .count();
    assert!((740..=760).contains(&twos), "{twos} of 1000 draws took the heavier candidate");
    // A row whose every candidate is of its group has no negative.
    assert!(hard_negatives(&[0.0; 4], 2, Some(&[0, 0]), &[0.5, 0.5]).is_err());
}

#[test]
fn the_med_shares_every_weight_but_the_self_attention() {
    let device = Device::flex();
    let med = MedConfig::new(VOCAB, 6, 16, 2, 2, 16).init(&device).unwrap();
    let ids = [1, 3, 4, 5, 2, 0, 1, 6, 7, 2, 0, 0];
    let lengths = [5, 4];
    let memory =
        Memory { tokens: Tensor::random([2, 5, 16], Distribution::Default, &device), hidden: None };
    let outputs = |med: &stoke_nn::Med| {
        let text = med.hidden_states(&ids, &lengths, &device, MedMode::Text, None).unwrap();
        let grounded =
            med.hidden_states(&ids, &lengths, &device, MedMode::Grounded, Some(&memory)).unwrap();
        let decoder =
            med.hidden_states(&ids, &lengths, &device, MedMode::Decoder, Some(&memory)).unwrap();
        [floats(text), floats(grounded), floats(decoder)]
    };
    let base = outputs(&med);
    let moved = |changed: &stoke_nn::Med| {
        let after = outputs(changed);
        [after[0] != base[0], after[1] != base[1], after[2] != base[2]]
    };
    let mut m = med.clone();
    m.layers[0].mlp_in = m.layers[0].mlp_in.clone().map(&mut Shift(0.1));
    assert_eq!(moved(&m), [true, true, true], "the MLP is shared by all three modes");
    let mut m = med.clone();
    m.tokens = m.tokens.clone().map(&mut Shift(0.1));
    assert_eq!(moved(&m), [true, true, true], "the embedding is shared");
    let mut m = med.clone();
    m.layers[1].cross = m.layers[1].cross.clone().map(&mut Shift(0.1));
    assert_eq!(moved(&m), [false, true, true], "cross-attention: grounded encoder and decoder");
    let mut m = med.clone();
    m.layers[0].decoder_attention = m.layers[0].decoder_attention.clone().map(&mut Shift(0.1));
    assert_eq!(moved(&m), [false, false, true], "the decoder's self-attention is its own");
    let mut m = med.clone();
    m.layers[1].encoder_attention = m.layers[1].encoder_attention.clone().map(&mut Shift(0.1));
    assert_eq!(moved(&m), [true, true, false], "the encoders' self-attention is theirs");
    // Each weight is one parameter: no id is visited twice.
    struct Ids(Vec<burn::module::ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut all = Ids(Vec::new());
    med.visit(&mut all);
    let n = all.0.len();
    all.0.sort_by_key(|id| id.val());
    all.0.dedup();
    assert_eq!(all.0.len(), n);
}

#[test]
fn the_decoder_is_causal_and_the_grounded_encoder_is_not() {
    let device = Device::flex();
    let blip = tiny(&device);
    let (tokens, _) =
        blip.encode_image(Tensor::random([2, 3, 8, 8], Distribution::Default, &device)).unwrap();
    let ids = [1, 3, 4, 5, 6, 7, 2, 0, 1, 6, 7, 3, 4, 5, 2, 0];
    let lengths = [7, 7];
    let logits = floats(blip.decoder_logits(tokens.clone(), &ids, &lengths).unwrap());
    let scores = blip.itm_logits(tokens.clone(), &ids, &lengths).unwrap();
    for k in 1..7 {
        let mut changed = ids;
        let other = |id: i64| if id == 7 { 3 } else { id + 1 };
        changed[k] = other(changed[k]);
        changed[8 + k] = other(changed[8 + k]);
        let after = floats(blip.decoder_logits(tokens.clone(), &changed, &lengths).unwrap());
        let width = VOCAB;
        for row in 0..2 {
            let start = row * 8 * width;
            assert_eq!(
                &logits[start..start + k * width],
                &after[start..start + k * width],
                "token {k} changed the logits before it"
            );
            assert_ne!(
                &logits[start + k * width..start + (k + 1) * width],
                &after[start + k * width..start + (k + 1) * width]
            );
        }
        // The [ENC] output sees every token.
        let after = blip.itm_logits(tokens.clone(), &changed, &lengths).unwrap();
        assert_ne!(floats(after), floats(scores.clone()));
    }
}

fn images(n: usize, device: &Device) -> Tensor<4> {
    Tensor::random([n, 3, 8, 8], Distribution::Default, device)
}

#[test]
fn beam_search_with_one_beam_and_nucleus_near_zero_are_greedy() {
    let device = Device::flex();
    for seed in 0..3 {
        device.seed(seed);
        let blip = tiny(&device);
        let x = images(4, &device);
        for (penalty, min_length) in [(1.0, 0), (1.5, 5)] {
            let greedy = blip.greedy(x.clone(), &[3], EOS, min_length, 8, penalty).unwrap();
            let search = BeamSearch {
                beams: 1,
                min_length,
                max_length: 8,
                repetition_penalty: penalty,
                length_penalty: 1.0,
            };
            assert_eq!(blip.beam_search(x.clone(), &[3], EOS, &search).unwrap(), greedy);
            let nucleus =
                Nucleus { top_p: 1e-9, min_length, max_length: 8, repetition_penalty: penalty };
            let mut u = 0.0f32;
            let mut uniform = || {
                u = (u + 0.37) % 1.0;
                u
            };
            assert_eq!(blip.nucleus(x.clone(), &[3], EOS, &nucleus, &mut uniform).unwrap(), greedy);
            // Minimum length: no caption ends before it ([DEC], the prompt, then the rest).
            if min_length > 0 {
                assert!(greedy.iter().all(|c| c.len() + 2 >= min_length), "{greedy:?}");
            }
            // More beams never lose to greedy on the summed log-probability they maximise
            // when lengths are not normalised.
            let wide = BeamSearch { beams: 3, length_penalty: 0.0, ..search };
            let captions = blip.beam_search(x.clone(), &[3], EOS, &wide).unwrap();
            assert_eq!(captions.len(), 4);
        }
    }
}

#[test]
fn bad_blip_settings_are_refused() {
    let device = Device::flex();
    for momentum in [1.0, -0.1, f64::NAN] {
        let err = config(8).with_momentum(momentum).init(&device).unwrap_err();
        assert!(err.to_string().contains("momentum"), "{err}");
    }
    // A queue of 6 with a batch of 4.
    let blip = config(6).init(&device).unwrap();
    let data = toy(&[0, 1, 2, 3], &device);
    let uniforms = [0.5; 8];
    let err = blip.forward(&inputs(&data, &uniforms, 0.4), Objectives::ALL).unwrap_err();
    assert!(err.to_string().contains("queue_size"), "{err}");
    let blip = tiny(&device);
    let x = images(1, &device);
    let search = BeamSearch {
        beams: 0,
        min_length: 0,
        max_length: 8,
        repetition_penalty: 1.0,
        length_penalty: 1.0,
    };
    assert!(
        blip.beam_search(x.clone(), &[3], EOS, &search).unwrap_err().to_string().contains("beams")
    );
    let long = BeamSearch { beams: 2, max_length: 4, ..search };
    let err = blip.beam_search(x.clone(), &[3, 4, 5], EOS, &long).unwrap_err();
    assert!(err.to_string().contains("prompt"), "{err}");
    let past = BeamSearch { beams: 2, max_length: 9, ..search };
    assert!(blip.beam_search(x.clone(), &[3], EOS, &past).is_err(), "beyond the context");
    for top_p in [0.0, 1.5, -0.2, f64::NAN] {
        let nucleus = Nucleus { top_p, min_length: 0, max_length: 8, repetition_penalty: 1.0 };
        let err = blip.nucleus(x.clone(), &[3], EOS, &nucleus, &mut || 0.5).unwrap_err();
        assert!(err.to_string().contains("top_p"), "top_p {top_p}: {err}");
    }
}

#[test]
fn each_loss_falls_on_a_tiny_problem() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let mut blip = tiny(&device);
    let mut optimizer = AdamConfig::new().init();
    let mut history = Vec::new();
    for step in 0..40 {
        let classes: Vec<usize> = (0..4).map(|i| (i + step) % 4).collect();
        let data = toy(&classes, &device);
        let uniforms: Vec<f32> = (0..8).map(|k| ((k * 7 + step * 3) % 10) as f32 / 10.0).collect();
        let alpha = 0.4 * (step as f64 / 20.0).min(1.0);
        let out = blip.forward(&inputs(&data, &uniforms, alpha), Objectives::ALL).unwrap();
        let values = [&out.itc, &out.itm, &out.lm].map(|l| l.clone().into_scalar::<f32>());
        history.push(values);
        let grads = GradientsParams::from_grads(out.total().backward(), &blip);
        blip = optimizer.step(3e-3, blip, grads);
        blip = blip.after_step(out.queued).unwrap();
    }
    let mean = |range: std::ops::Range<usize>, k: usize| {
        range.clone().map(|s| history[s][k]).sum::<f32>() / range.len() as f32
    };
    for (k, name) in ["itc", "itm", "lm"].iter().enumerate() {
        let (first, last) = (mean(0..5, k), mean(35..40, k));
        assert!(last < first, "{name}: {first} -> {last}");
    }
    // The trained decoder captions the toy: word 3 + class, then end of text.
    let data = toy(&[0, 1, 2, 3], &device);
    let search = BeamSearch {
        beams: 2,
        min_length: 0,
        max_length: 4,
        repetition_penalty: 1.0,
        length_penalty: 1.0,
    };
    let captions = blip.beam_search(data.images.clone(), &[], EOS, &search).unwrap();
    assert_eq!(captions, vec![vec![3], vec![4], vec![5], vec![6]]);
}
