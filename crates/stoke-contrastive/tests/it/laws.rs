//! Laws of the losses: a joint permutation of the batch changes nothing; SigLIP is the sum
//! of +-1-label binary cross-entropies; chunked equals plain and sharded equals one shard
//! in value and gradients, for every chunk size and shard count; over ranks (threads that
//! exchange blocks as processes do), the mean loss and averaged gradients are one process's.

use burn::tensor::{Device, Int, Tensor, TensorData};
use proptest::prelude::*;
use stoke_contrastive::loss::{
    ContrastiveLossConfig, Exchange, LocalRing, SiglipLoss, SiglipLossConfig,
};

use crate::{floats, relative_gap, unit_rows};

/// Value-and-gradient tolerance for f32 sums regrouped (chunks, shards, permutations).
const REGROUPED: f32 = 1e-5;

fn siglip(bias: f64, device: &Device) -> SiglipLoss {
    SiglipLossConfig { init_bias: bias, init_log_scale: 1.5, ..SiglipLossConfig::default() }
        .init(device)
        .unwrap()
}

/// The value and the gradients `[image, text, t', b]` of a SigLIP loss computed by `f`.
fn with_gradients(
    loss: &SiglipLoss,
    image: &Tensor<2>,
    text: &Tensor<2>,
    f: impl Fn(&SiglipLoss, Tensor<2>, Tensor<2>) -> Tensor<1>,
) -> Vec<Vec<f32>> {
    let (image, text) = (image.clone().require_grad(), text.clone().require_grad());
    let value = f(loss, image.clone(), text.clone());
    let grads = value.backward();
    vec![
        floats(value),
        floats(image.grad(&grads).unwrap()),
        floats(text.grad(&grads).unwrap()),
        floats(loss.log_scale.val().grad(&grads).unwrap()),
        floats(loss.bias.val().grad(&grads).unwrap()),
    ]
}

fn assert_close(got: &[Vec<f32>], expected: &[Vec<f32>], what: &str) {
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let gap = relative_gap(g, e);
        assert!(gap < REGROUPED, "{what}: part {i} differs by {gap}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn losses_are_invariant_under_a_joint_permutation_of_the_batch(
        order in Just((0..7).collect::<Vec<usize>>()).prop_shuffle(),
        bias in -10.0f64..3.0,
    ) {
        let device = Device::flex();
        let (image, text) = (unit_rows(7, 5, &device), unit_rows(7, 5, &device));
        let index: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [7]), &device);
        let configs = [
            ContrastiveLossConfig::clip(),
            ContrastiveLossConfig::Siglip(SiglipLossConfig { init_bias: bias, ..Default::default() }),
        ];
        for config in configs {
            let loss = config.init(&device).unwrap();
            let plain = floats(loss.forward(image.clone(), text.clone()).unwrap());
            let permuted = loss
                .forward(image.clone().select(0, index.clone()), text.clone().select(0, index.clone()))
                .unwrap();
            prop_assert!(relative_gap(&floats(permuted), &plain) < REGROUPED);
        }
    }

    #[test]
    fn chunked_siglip_equals_plain_in_value_and_gradients(
        batch in 1usize..=9,
        chunk_offset in 0usize..=10,
        bias in -10.0f64..3.0,
    ) {
        let device = Device::flex().autodiff();
        let chunk = 1 + chunk_offset % (batch + 1);
        let (image, text) = (unit_rows(batch, 6, &device), unit_rows(batch, 6, &device));
        let loss = siglip(bias, &device);
        let plain = with_gradients(&loss, &image, &text, |l, x, y| l.forward(x, y).unwrap());
        let chunked =
            with_gradients(&loss, &image, &text, |l, x, y| l.forward_chunked(x, y, chunk).unwrap());
        assert_close(&chunked, &plain, &format!("batch {batch}, chunk {chunk}"));
    }

    #[test]
    fn sharded_siglip_equals_one_shard_in_value_and_gradients(
        sizes in proptest::collection::vec(1usize..=4, 1..=4),
        bias in -10.0f64..3.0,
    ) {
        let device = Device::flex().autodiff();
        let batch: usize = sizes.iter().sum();
        let (image, text) = (unit_rows(batch, 6, &device), unit_rows(batch, 6, &device));
        let loss = siglip(bias, &device);
        let plain = with_gradients(&loss, &image, &text, |l, x, y| l.forward(x, y).unwrap());
        let split = |x: Tensor<2>| {
            let mut start = 0;
            sizes.iter().map(|&n| { start += n; x.clone().narrow(0, start - n, n) }).collect::<Vec<_>>()
        };
        let sharded = with_gradients(&loss, &image, &text, |l, x, y| {
            l.forward_sharded(split(x), split(y), &LocalRing).unwrap()
        });
        assert_close(&sharded, &plain, &format!("shards {sizes:?}"));
    }
}

/// `-(1/B) sum_ij [y_ij ln p_ij + (1 - y_ij) ln(1 - p_ij)]`, `y = I`, `p = sigmoid(logit)`,
/// in f64 on the host: the binary cross-entropy form of SigLIP [ZHAI23, Sec. 3.2].
fn bce_reference(image: &[f32], text: &[f32], batch: usize, dim: usize, t: f64, b: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..batch {
        for j in 0..batch {
            let dot: f64 = (0..dim)
                .map(|k| f64::from(image[i * dim + k]) * f64::from(text[j * dim + k]))
                .sum();
            let p = 1.0 / (1.0 + (-(t * dot + b)).exp());
            total -= if i == j { p.ln() } else { (1.0 - p).ln() };
        }
    }
    total / batch as f64
}

#[test]
fn siglip_is_the_sum_of_plus_minus_one_label_binary_cross_entropies() {
    let device = Device::flex();
    for (batch, bias) in [(1, -10.0), (4, 0.0), (9, -3.0), (16, 2.0)] {
        let (image, text) = (unit_rows(batch, 8, &device), unit_rows(batch, 8, &device));
        let loss = siglip(bias, &device);
        let value = f64::from(floats(loss.forward(image.clone(), text.clone()).unwrap())[0]);
        let expected = bce_reference(&floats(image), &floats(text), batch, 8, 1.5f64.exp(), bias);
        assert!((value - expected).abs() < 1e-5 * expected.abs().max(1.0), "{value} vs {expected}");
        let pairs = floats(
            loss.forward_no_reduction(unit_rows(batch, 8, &device), unit_rows(batch, 8, &device))
                .unwrap(),
        );
        assert_eq!(pairs.len(), batch * batch);
    }
}

#[test]
fn a_fixed_bias_gets_no_gradient_and_a_learned_one_does() {
    let device = Device::flex().autodiff();
    let (image, text) = (unit_rows(5, 4, &device), unit_rows(5, 4, &device));
    for chunk in [None, Some(2)] {
        for learn_bias in [false, true] {
            let config =
                SiglipLossConfig { learn_bias, chunk, init_bias: 0.0, ..Default::default() };
            let loss = config.init(&device).unwrap();
            let grads = loss.forward(image.clone(), text.clone()).unwrap().backward();
            let grad = loss.bias.val().grad(&grads);
            assert_eq!(grad.is_some_and(|g| floats(g)[0] != 0.0), learn_bias, "chunk {chunk:?}");
        }
    }
}

#[test]
fn the_clip_scale_is_clamped_at_one_hundred() {
    let device = Device::flex().autodiff();
    let config = stoke_contrastive::ClipLossConfig { init_log_scale: 6.0, ..Default::default() };
    let loss = config.init(&device).unwrap();
    assert!((floats(loss.scale())[0] - 100.0).abs() < 1e-3);
    let (image, text) = (unit_rows(4, 4, &device), unit_rows(4, 4, &device));
    let grads = loss.forward(image, text).unwrap().backward();
    let grad = loss.log_scale.val().grad(&grads).map_or(0.0, |g| floats(g)[0]);
    assert_eq!(grad, 0.0, "past the clamp the scale must not move");
}

#[test]
fn catlip_labels_are_the_content_words_and_its_loss_is_binary_cross_entropy() {
    use stoke_contrastive::loss::{CatlipLoss, LabelVocabulary};
    let captions = ["a photo of a red sneaker", "a picture of the sneaker", "an ankle boot"];
    let vocabulary = LabelVocabulary::from_captions(&captions, &[], 1).unwrap();
    assert_eq!(vocabulary.labels(), ["ankle", "boot", "red", "sneaker"]);
    assert_eq!(vocabulary.targets("A red ankle boot!"), [1.0, 1.0, 1.0, 0.0]);
    let frequent = LabelVocabulary::from_captions(&captions, &["red"], 2).unwrap();
    assert_eq!(frequent.labels(), ["sneaker"]);
    assert!(LabelVocabulary::from_captions(&["a photo of the"], &[], 1).is_err());
    let device = Device::flex();
    let logits = Tensor::<2>::from_floats([[2.0, -1.0], [0.0, 40.0]], &device);
    let targets = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
    let got = floats(CatlipLoss.forward_no_reduction(logits, targets).unwrap());
    let bce = |l: f64, y: f64| {
        -(y * (1.0 / (1.0 + (-l).exp())).ln() + (1.0 - y) * (1.0 / (1.0 + l.exp())).ln())
    };
    let expected = [bce(2.0, 1.0), bce(-1.0, 0.0), bce(0.0, 0.0), bce(40.0, 1.0)];
    for (g, e) in got.iter().zip(expected) {
        assert!((f64::from(*g) - e).abs() < 1e-6, "{g} vs {e}");
    }
    let bad = CatlipLoss.forward(Tensor::zeros([2, 2], &device), Tensor::zeros([2, 3], &device));
    assert!(bad.is_err());
}

#[test]
fn siglip_pair_losses_sum_to_the_loss_times_the_batch() {
    let device = Device::flex();
    let (image, text) = (unit_rows(6, 4, &device), unit_rows(6, 4, &device));
    let loss = siglip(-2.0, &device);
    let total = floats(loss.forward(image.clone(), text.clone()).unwrap())[0];
    let pairs: f32 = floats(loss.forward_no_reduction(image, text).unwrap()).iter().sum();
    assert!((pairs / 6.0 - total).abs() < 1e-5);
}

#[test]
fn siglip_at_a_large_batch_matches_an_f64_sum_plain_and_chunked() {
    // 4M pairs, most of them negatives whose loss (~5e-5) a flat f32 sum drops once its
    // running total is large: the regression that row-first sums fixed.
    let device = Device::flex();
    let batch = 2048;
    let (image, text) = (unit_rows(batch, 16, &device), unit_rows(batch, 16, &device));
    let (x, y) = (floats(image.clone()), floats(text.clone()));
    let expected = bce_reference(&x, &y, batch, 16, 10f64, -10.0);
    let loss = SiglipLossConfig::default().init(&device).unwrap();
    let plain = f64::from(floats(loss.forward(image.clone(), text.clone()).unwrap())[0]);
    let chunked = f64::from(floats(loss.forward_chunked(image, text, 300).unwrap())[0]);
    for value in [plain, chunked] {
        assert!((value - expected).abs() < 1e-5 * expected, "{value} vs {expected}");
    }
}

/// Ranks on threads joined by one channel per ordered pair: what MPI's send/receive does
/// between processes.
struct Channels {
    rank: usize,
    to: Vec<std::sync::mpsc::Sender<Vec<f32>>>,
    from: Vec<std::sync::mpsc::Receiver<Vec<f32>>>,
}

impl Channels {
    fn ring(k: usize) -> Vec<Channels> {
        // senders[a][b] sends from a to b; receivers[b][a] receives it.
        let mut senders: Vec<Vec<_>> = (0..k).map(|_| Vec::new()).collect();
        let mut receivers: Vec<Vec<Option<_>>> =
            (0..k).map(|_| (0..k).map(|_| None).collect()).collect();
        for (a, to) in senders.iter_mut().enumerate() {
            for row in receivers.iter_mut() {
                let (tx, rx) = std::sync::mpsc::channel();
                to.push(tx);
                row[a] = Some(rx);
            }
        }
        senders
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(rank, (to, from))| Channels {
                rank,
                to,
                from: from.into_iter().map(Option::unwrap).collect(),
            })
            .collect()
    }
}

impl Exchange for Channels {
    fn rank(&self) -> usize {
        self.rank
    }
    fn ranks(&self) -> usize {
        self.to.len()
    }
    fn send_receive(&self, send: &[f32], to: usize, from: usize) -> Result<Vec<f32>, String> {
        self.to[to].send(send.to_vec()).map_err(|e| e.to_string())?;
        self.from[from].recv_timeout(std::time::Duration::from_secs(20)).map_err(|e| e.to_string())
    }
}

#[test]
fn siglip_over_ranks_averages_to_one_process_in_value_and_gradients() {
    let (each, dim) = (3, 5);
    for k in 1..=5 {
        for bias in [-10.0, 0.5] {
            let device = Device::flex().autodiff();
            let batch = k * each;
            let (image, text) = (unit_rows(batch, dim, &device), unit_rows(batch, dim, &device));
            let plain = with_gradients(&siglip(bias, &device), &image, &text, |l, x, y| {
                l.forward(x, y).unwrap()
            });
            let (x, y) = (floats(image), floats(text));
            let ranks: Vec<Vec<Vec<f32>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = Channels::ring(k)
                    .into_iter()
                    .map(|exchange| {
                        let (x, y) = (&x, &y);
                        scope.spawn(move || {
                            let device = Device::flex().autodiff();
                            let rows = exchange.rank * each * dim..(exchange.rank + 1) * each * dim;
                            let shard = |v: &[f32]| {
                                Tensor::<2>::from_data(
                                    TensorData::new(v[rows.clone()].to_vec(), [each, dim]),
                                    &device,
                                )
                            };
                            let (image, text) = (shard(x), shard(y));
                            with_gradients(&siglip(bias, &device), &image, &text, |l, x, y| {
                                l.forward_ranks(x, y, &exchange).unwrap()
                            })
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            // Data parallelism averages over the ranks: the losses and t', b gradients by
            // their mean; each rank's own images' and texts' gradients, divided by k, are the
            // whole batch's rows.
            let mean = |part: usize| -> Vec<f32> {
                let n = ranks[0][part].len();
                (0..n).map(|i| ranks.iter().map(|r| r[part][i]).sum::<f32>() / k as f32).collect()
            };
            let rows = |part: usize| -> Vec<f32> {
                ranks.iter().flat_map(|r| r[part].iter().map(|g| g / k as f32)).collect()
            };
            let averaged = vec![mean(0), rows(1), rows(2), mean(3), mean(4)];
            assert_close(&averaged, &plain, &format!("{k} ranks, bias {bias}"));
        }
    }
}
