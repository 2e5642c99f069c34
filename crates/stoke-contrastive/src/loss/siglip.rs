//! SigLIP's pairwise sigmoid loss [ZHAI23, Eq. 1 and Alg. 1], plain, chunked in
//! `O(batch x chunk)` extra memory, sharded round a ring of devices [ZHAI23, Sec. 3.3], and
//! over data-parallel ranks (processes), each holding its own pairs, with the text blocks
//! passed both ways round the ring as open_clip's `bidir` schedule does.
//!
//! Every image-text pair is an independent binary problem: label `z_ij = +1` for the pair
//! `i = j`, `-1` otherwise, logit `t x_i . y_j + b`; the loss is
//! `-(1 / batch) sum_ij log sigmoid(z_ij (t x_i . y_j + b))`, normalised by the number of
//! images as open_clip's `SigLipLoss` and big_vision do. No softmax couples the rows, so
//! the sum splits into blocks of texts, which is what the chunked and sharded forms use.

use burn::module::{Module, Param};
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use crate::error::{ContrastiveError, Result, check_pair, check_shape};

/// SigLIP's loss with a learnable temperature `t = exp(t')` and bias `b` [ZHAI23, Sec. 3.2].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiglipLossConfig {
    /// Initial `t' = ln t`: `ln 10` [ZHAI23, Sec. 3.2].
    pub init_log_scale: f64,
    /// Initial bias: `-10` [ZHAI23, Sec. 3.2], so that the many negatives start near their
    /// target and the first steps do not spend themselves pushing them down.
    pub init_bias: f64,
    /// Whether `b` is learned; `false` keeps it at `init_bias` (the ablation "fixed at 0").
    pub learn_bias: bool,
    /// `Some(c)`: compute [`SiglipLoss::forward`] in blocks of `c` texts, with extra memory
    /// `O(batch c)` in forward and backward instead of `O(batch^2)`; `None`: one block.
    pub chunk: Option<usize>,
}

impl Default for SiglipLossConfig {
    fn default() -> Self {
        Self { init_log_scale: 10f64.ln(), init_bias: -10.0, learn_bias: true, chunk: None }
    }
}

impl SiglipLossConfig {
    /// Checks the config.
    ///
    /// # Errors
    /// A non-finite initial value; a zero chunk.
    pub fn validate(&self) -> Result<()> {
        validate::finite("init_log_scale", self.init_log_scale)?;
        validate::finite("init_bias", self.init_bias)?;
        if let Some(chunk) = self.chunk {
            validate::size("chunk", chunk)?;
        }
        Ok(())
    }

    /// Builds the loss with its parameters on `device`.
    ///
    /// # Errors
    /// See [`SiglipLossConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<SiglipLoss> {
        self.validate()?;
        let scalar = |v: f64| Param::from_tensor(Tensor::<1>::from_floats([v as f32], device));
        Ok(SiglipLoss {
            log_scale: scalar(self.init_log_scale),
            bias: scalar(self.init_bias),
            learn_bias: self.learn_bias,
            chunk: self.chunk.unwrap_or(0),
        })
    }
}

/// See [`SiglipLossConfig`].
#[derive(Module, Debug)]
pub struct SiglipLoss {
    /// `t' = ln t`, learned.
    pub log_scale: Param<Tensor<1>>,
    /// `b`, learned unless the config fixed it.
    pub bias: Param<Tensor<1>>,
    learn_bias: bool,
    /// 0: no chunking.
    chunk: usize,
}

/// Passes each shard's texts to the next holder round a ring: the one communication the
/// sharded loss needs [ZHAI23, Sec. 3.3]. [`LocalRing`] does it on one device; a collective
/// (MPI send/receive) can back the same call across processes.
pub trait Ring {
    /// `held[r]` are the texts held for image shard `r`; returns what each holds next:
    /// after `k - 1` passes every shard has seen every other shard's texts once.
    fn pass(&self, held: Vec<Tensor<2>>) -> Vec<Tensor<2>>;
}

/// A ring of `k` shards on one device: shard `r` receives shard `r + 1`'s texts (mod `k`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalRing;

impl Ring for LocalRing {
    fn pass(&self, mut held: Vec<Tensor<2>>) -> Vec<Tensor<2>> {
        if !held.is_empty() {
            held.rotate_left(1);
        }
        held
    }
}

/// Point-to-point exchange between data-parallel ranks: what [`SiglipLoss::forward_ranks`]
/// needs from a collective (MPI send/receive, or threads of one process).
pub trait Exchange {
    /// This rank, `0..ranks`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn ranks(&self) -> usize;

    /// Sends `send` to rank `to` and returns what rank `from` sent here, in a round in which
    /// every rank sends and receives once (so every message has the length of `send`).
    ///
    /// # Errors
    /// A rank left or stopped answering (the message says which).
    fn send_receive(
        &self,
        send: &[f32],
        to: usize,
        from: usize,
    ) -> std::result::Result<Vec<f32>, String>;
}

impl SiglipLoss {
    /// `t = exp(t')`.
    ///
    /// # Shapes
    /// `[1]`.
    pub fn scale(&self) -> Tensor<1> {
        self.log_scale.val().exp()
    }

    /// `b`, detached when the config fixed it.
    ///
    /// # Shapes
    /// `[1]`.
    pub fn bias(&self) -> Tensor<1> {
        let bias = self.bias.val();
        if self.learn_bias { bias } else { bias.detach() }
    }

    /// `-(1 / batch) sum_ij log sigmoid(z_ij (t x_i . y_j + b))` [ZHAI23, Eq. 1], chunked
    /// when the config says so (same value and gradients, see
    /// [`SiglipLoss::forward_chunked`]).
    ///
    /// # Shapes
    /// `image, text: [batch, dim]`, L2-normalised, row `i` of each a pair -> `[1]`.
    ///
    /// # Errors
    /// Batches of different sizes or dimensions, or an empty one.
    pub fn forward(&self, image: Tensor<2>, text: Tensor<2>) -> Result<Tensor<1>> {
        let [batch, _] = check_pair(&image.dims(), &text.dims())?;
        if self.chunk > 0 {
            return self.forward_chunked(image, text, self.chunk);
        }
        Ok(self.block_sum(image, text, Some(0)).div_scalar(batch as f64))
    }

    /// The loss of every pair, `-log sigmoid(z_ij (t x_i . y_j + b))`; their sum over the
    /// batch size is [`SiglipLoss::forward`].
    ///
    /// # Shapes
    /// `image, text: [batch, dim]` -> `[batch, batch]` (row: image, column: text).
    ///
    /// # Errors
    /// As [`SiglipLoss::forward`].
    pub fn forward_no_reduction(&self, image: Tensor<2>, text: Tensor<2>) -> Result<Tensor<2>> {
        let [batch, _] = check_pair(&image.dims(), &text.dims())?;
        let labels = pair_labels(batch, batch, Some(0), &image.device());
        let logits = self.logits(image, text);
        Ok(log_sigmoid(logits * labels).neg())
    }

    /// `t X Y^T + b`.
    ///
    /// # Shapes
    /// `image: [n, dim]`, `text: [m, dim]` -> `[n, m]`.
    pub fn logits(&self, image: Tensor<2>, text: Tensor<2>) -> Tensor<2> {
        let scale = self.scale().reshape([1, 1]);
        image.matmul(text.transpose()) * scale + self.bias().reshape([1, 1])
    }

    /// `sum_ij -log sigmoid(z_ij (t x_i . y_j + b))` over one block of images `x` and texts
    /// `y`, the positives where text `j` is image `j + offset`'s own (`None`: all negative).
    ///
    /// # Shapes
    /// `image: [n, dim]`, `text: [m, dim]` -> `[1]`.
    fn block_sum(&self, image: Tensor<2>, text: Tensor<2>, offset: Option<usize>) -> Tensor<1> {
        let [n, _] = image.dims();
        let [m, _] = text.dims();
        let labels = pair_labels(n, m, offset, &image.device());
        sum_2d(log_sigmoid(self.logits(image, text) * labels).neg())
    }

    /// [`SiglipLoss::forward`] in blocks of `chunk` texts, with extra memory `O(batch chunk)`
    /// in forward and backward (not `O(batch^2)`): each block's loss and its gradients are
    /// computed outside the autodiff graph and freed, and the result is a surrogate whose
    /// value is the loss and whose gradient with respect to `image`, `text`, `t'` and `b`
    /// is the loss's (first-order autodiff suffices). With `G_ij = dL / d logit_ij =
    /// -z_ij sigmoid(-z_ij logit_ij) / batch`: `dL/dx_i = t sum_j G_ij y_j`,
    /// `dL/dy_j = t sum_i G_ij x_i`, `dL/dt' = t sum_ij G_ij x_i . y_j`, `dL/db = sum_ij G_ij`.
    ///
    /// # Shapes
    /// `image, text: [batch, dim]` -> `[1]`.
    ///
    /// # Errors
    /// As [`SiglipLoss::forward`]; a zero `chunk`.
    pub fn forward_chunked(
        &self,
        image: Tensor<2>,
        text: Tensor<2>,
        chunk: usize,
    ) -> Result<Tensor<1>> {
        let [batch, dim] = check_pair(&image.dims(), &text.dims())?;
        validate::size("chunk", chunk)?;
        let autodiff = image.is_autodiff() || self.log_scale.val().is_autodiff();
        let (x, y) = (image.clone().inner(), text.clone().inner());
        let scale = self.scale().inner().reshape([1, 1]);
        let bias = self.bias().inner().reshape([1, 1]);
        let inner_device = x.device();
        let mut loss = Tensor::<1>::zeros([1], &inner_device);
        let mut grad_x = Tensor::<2>::zeros([batch, dim], &inner_device);
        let mut grad_y = Vec::new();
        let (mut grad_log_scale, mut grad_bias) = (loss.clone(), loss.clone());
        for start in (0..batch).step_by(chunk) {
            let len = chunk.min(batch - start);
            let y_c = y.clone().narrow(0, start, len);
            // [batch, dim] x [dim, len] -> [batch, len]
            let dots = x.clone().matmul(y_c.clone().transpose());
            let labels = pair_labels(batch, len, Some(start), &inner_device);
            let signed = (dots.clone() * scale.clone() + bias.clone()) * labels.clone();
            loss = loss + sum_2d(log_sigmoid(signed.clone()).neg());
            // G = -z sigmoid(-z logit) / batch, the gradient of the block's loss by its logits
            let g = (labels * sigmoid(signed.neg())).div_scalar(-(batch as f64));
            grad_x = grad_x + g.clone().matmul(y_c) * scale.clone();
            grad_y.push(g.clone().transpose().matmul(x.clone()) * scale.clone());
            grad_log_scale = grad_log_scale + sum_2d(g.clone() * dots) * scale.clone().reshape([1]);
            grad_bias = grad_bias + sum_2d(g);
        }
        // The gradients enter the graph as constants.
        let lift = |t: Tensor<1>| if autodiff { t.autodiff() } else { t };
        let lift2 = |t: Tensor<2>| if autodiff { t.autodiff() } else { t };
        let mut surrogate = (image * lift2(grad_x)).sum()
            + (text * lift2(Tensor::cat(grad_y, 0))).sum()
            + self.log_scale.val() * lift(grad_log_scale);
        if self.learn_bias {
            surrogate = surrogate + self.bias.val() * lift(grad_bias);
        }
        let value = lift(loss.div_scalar(batch as f64));
        // surrogate - surrogate = 0 exactly: the value is the loss, the gradient the surrogate's.
        Ok(surrogate.clone() - surrogate.detach() + value)
    }

    /// The loss over a batch held in `k` shards [ZHAI23, Sec. 3.3]: shard `r` scores its
    /// images against its own texts (the positives), then `k - 1` times receives the next
    /// shard's texts round `ring` and scores them as negatives. Equal to
    /// [`SiglipLoss::forward`] on the concatenated batch; shards may differ in size.
    ///
    /// # Shapes
    /// `images[r], texts[r]: [batch_r, dim]` -> `[1]` (normalised by `sum_r batch_r`).
    ///
    /// # Errors
    /// No shards, or different numbers of image and text shards
    /// ([`ContrastiveError::Shards`]); a shard pair of different shapes or dimensions.
    pub fn forward_sharded(
        &self,
        images: Vec<Tensor<2>>,
        texts: Vec<Tensor<2>>,
        ring: &impl Ring,
    ) -> Result<Tensor<1>> {
        let k = images.len();
        if k == 0 || texts.len() != k {
            return Err(ContrastiveError::Shards { images: k, texts: texts.len() });
        }
        let dim = images[0].dims()[1];
        for (image, text) in images.iter().zip(&texts) {
            let [batch, _] = check_pair(&image.dims(), &text.dims())?;
            check_shape("image shard", &[batch, dim], &image.dims())?;
        }
        let total: usize = images.iter().map(|x| x.dims()[0]).sum();
        let mut held = texts;
        let mut loss = self.block_sum(images[0].clone(), held[0].clone(), Some(0));
        for (r, image) in images.iter().enumerate().skip(1) {
            loss = loss + self.block_sum(image.clone(), held[r].clone(), Some(0));
        }
        for _ in 1..k {
            held = ring.pass(held);
            for (image, text) in images.iter().zip(&held) {
                loss = loss + self.block_sum(image.clone(), text.clone(), None);
            }
        }
        Ok(loss.div_scalar(total as f64))
    }

    /// This rank's SigLIP loss when each of the `k` ranks of `exchange` holds `batch` of the
    /// `k batch` pairs [ZHAI23, Sec. 3.3], as open_clip's `SigLipLoss(bidir=True)`: the
    /// rank scores its images against its own texts (the positives), then the text blocks
    /// travel both ways round the ring, `(k - 1) / 2` rounds of a left and a right
    /// neighbour exchange plus one single exchange when `k` is even, each received block
    /// scored as negatives. The value is this rank's sum over `batch` (open_clip's
    /// normalisation), so the mean over the ranks is [`SiglipLoss::forward`] on the whole
    /// batch; with the gradients averaged over the ranks (data parallelism does), every
    /// gradient is the whole batch's too.
    ///
    /// Design decision: gradients are exact without autodiff across processes. The
    /// received blocks are constants here; their gradients, `t G^T x` with `G` the
    /// block's `dL / d logit` (as in [`SiglipLoss::forward_chunked`]), are sent back to the
    /// rank that owns the texts, which adds them to its own: the result is a surrogate
    /// whose value is the loss and whose gradient with respect to this rank's images,
    /// texts, `t'` and `b` is this rank's share of the whole batch's.
    ///
    /// # Shapes
    /// `image, text: [batch, dim]`, the same on every rank -> `[1]`.
    ///
    /// # Errors
    /// Batches of different sizes or dimensions; an exchange failure
    /// ([`ContrastiveError::Exchange`]).
    pub fn forward_ranks(
        &self,
        image: Tensor<2>,
        text: Tensor<2>,
        exchange: &impl Exchange,
    ) -> Result<Tensor<1>> {
        let [batch, dim] = check_pair(&image.dims(), &text.dims())?;
        let (k, rank) = (exchange.ranks(), exchange.rank());
        let own = self.block_sum(image.clone(), text.clone(), Some(0)).div_scalar(batch as f64);
        if k <= 1 {
            return Ok(own);
        }
        let autodiff = image.is_autodiff() || self.log_scale.val().is_autodiff();
        let (x, y) = (image.clone().inner(), text.clone().inner());
        let device = x.device();
        let host = |t: Tensor<2>| -> Vec<f32> {
            t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
        };
        let block = |values: Vec<f32>| -> Result<Tensor<2>> {
            if values.len() != batch * dim {
                return Err(ContrastiveError::Exchange(format!(
                    "received {} values where a [{batch}, {dim}] block has {}",
                    values.len(),
                    batch * dim
                )));
            }
            Ok(Tensor::from_data(TensorData::new(values, [batch, dim]), &device))
        };
        let send = |values: &[f32], to: usize, from: usize| -> Result<Tensor<2>> {
            block(exchange.send_receive(values, to, from).map_err(ContrastiveError::Exchange)?)
        };
        let (left, right) = ((rank + k - 1) % k, (rank + 1) % k);
        // The received blocks with the offset of the rank that owns them (`rank + offset`).
        let mut received: Vec<(isize, Tensor<2>)> = Vec::new();
        let own_texts = host(y.clone());
        let (mut to_left, mut to_right) = (own_texts.clone(), own_texts);
        let (bidir, single) = ((k - 1) / 2, (k - 1) % 2);
        for round in 1..=bidir as isize {
            // What goes left keeps going left: it came from the right, and so on.
            let from_right = send(&to_left, left, right)?;
            let from_left = send(&to_right, right, left)?;
            to_left = host(from_right.clone());
            to_right = host(from_left.clone());
            received.push((round, from_right));
            received.push((-round, from_left));
        }
        if single == 1 {
            received.push((-(bidir as isize) - 1, send(&to_right, right, left)?));
        }

        // Every received block is all negatives: G = sigmoid(logit) / batch.
        let scale = self.scale().inner().reshape([1, 1]);
        let bias = self.bias().inner().reshape([1, 1]);
        let mut value = Tensor::<1>::zeros([1], &device);
        let mut grad_x = Tensor::<2>::zeros([batch, dim], &device);
        let (mut grad_log_scale, mut grad_bias) = (value.clone(), value.clone());
        let mut grad_texts_back = Vec::new();
        for (offset, texts) in received {
            let dots = x.clone().matmul(texts.clone().transpose());
            let logits = dots.clone() * scale.clone() + bias.clone();
            value = value + sum_2d(log_sigmoid(logits.clone().neg()).neg());
            let g = sigmoid(logits).div_scalar(batch as f64);
            grad_x = grad_x + g.clone().matmul(texts) * scale.clone();
            grad_texts_back.push((offset, g.clone().transpose().matmul(x.clone()) * scale.clone()));
            grad_log_scale = grad_log_scale + sum_2d(g.clone() * dots) * scale.clone().reshape([1]);
            grad_bias = grad_bias + sum_2d(g);
        }
        // The texts' gradients go home: the block from `rank + offset` returns there, and
        // this rank's texts' come back from `rank - offset`, in the same order on every rank.
        let mut grad_y = Tensor::<2>::zeros([batch, dim], &device);
        for (offset, grad) in grad_texts_back {
            let owner = (rank as isize + offset).rem_euclid(k as isize) as usize;
            let sender = (rank as isize - offset).rem_euclid(k as isize) as usize;
            grad_y = grad_y + send(&host(grad), owner, sender)?;
        }
        let lift = |t: Tensor<1>| if autodiff { t.autodiff() } else { t };
        let lift2 = |t: Tensor<2>| if autodiff { t.autodiff() } else { t };
        let mut surrogate = (image * lift2(grad_x)).sum()
            + (text * lift2(grad_y)).sum()
            + self.log_scale.val() * lift(grad_log_scale);
        if self.learn_bias {
            surrogate = surrogate + self.bias.val() * lift(grad_bias);
        }
        let value = lift(value.div_scalar(batch as f64));
        Ok(own + surrogate.clone() - surrogate.detach() + value)
    }
}

/// The sum of a matrix, row sums first: one flat f32 sum of `B^2` pair losses drops the
/// many small negatives' terms once the running total is large (at `B = 8192` a flat sum
/// lost 0.4 of a loss of 10.4), while each row's sum stays small next to its terms.
///
/// # Shapes
/// `[n, m]` -> `[1]`.
fn sum_2d(x: Tensor<2>) -> Tensor<1> {
    x.sum_dim(1).sum()
}

/// The labels of a block of pairs: `+1` where text `j` is image `j + offset`'s own, `-1`
/// elsewhere (all `-1` for `offset = None`), built on the device.
///
/// # Shapes
/// `[n, m]`.
fn pair_labels(n: usize, m: usize, offset: Option<usize>, device: &Device) -> Tensor<2> {
    let Some(offset) = offset else {
        return Tensor::full([n, m], -1.0, device);
    };
    // [n, 1] image index against [1, m] text index + offset
    let rows = Tensor::<1, Int>::arange(0..n as i64, device).reshape([n, 1]).expand([n, m]);
    let first = offset as i64;
    let cols =
        Tensor::<1, Int>::arange(first..first + m as i64, device).reshape([1, m]).expand([n, m]);
    rows.equal(cols).float().mul_scalar(2.0).sub_scalar(1.0)
}
