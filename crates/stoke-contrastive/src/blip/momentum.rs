//! ALBEF's momentum distillation [LI21, Sec. 3.3] as BLIP uses it [LI22, Sec. 3.2]: a
//! momentum copy of the unimodal encoders, updated by an exponential moving average of the
//! online weights, and queues of its recent features that serve as extra contrastive
//! negatives (and, with caption ids, positives).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use stoke_contrastive::blip::FeatureQueue;
//!
//! let device = Device::flex();
//! let queue = FeatureQueue::new(4, 2, &device)?;
//! let queue = queue.enqueue(Tensor::<2>::ones([2, 2], &device))?;
//! // The newest features come first; the two oldest rows fell off the end.
//! let rows: Vec<f32> = queue.features().into_data().try_to_vec::<f32>().unwrap();
//! assert_eq!(&rows[..4], &[1.0; 4]);
//! // A batch larger than the queue: an error.
//! assert!(queue.enqueue(Tensor::<2>::ones([5, 2], &device)).is_err());
//! # Ok::<(), stoke_contrastive::ContrastiveError>(())
//! ```

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Tensor};
use stoke_core::validate;

use crate::error::{Result, check_shape};
use crate::normalize::l2_normalize;

/// `momentum <- m * momentum + (1 - m) * online`, parameter by parameter in visiting
/// order, computed in `f32` as `momentum * m + online * (1 - m)` with both factors rounded
/// to `f32` once. The result is detached and carries no gradient. `online` and `momentum`
/// must be two builds of the same config (the same parameters in the same order).
///
/// # Errors
/// `m` outside `[0, 1]`; modules whose parameters differ in number or shape.
pub fn ema_update<M: Module>(momentum: M, online: &M, m: f64) -> Result<M> {
    validate::in_range("momentum", m, 0.0, 1.0, "[0, 1]")?;
    // Each online parameter flattened (and detached), on its device: no host round trip.
    struct Collect(Vec<(Vec<usize>, Tensor<1>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val().detach();
            let dims = value.dims().to_vec();
            self.0.push((dims, value.reshape([param.shape().num_elements()])));
        }
    }
    let mut online_values = Collect(Vec::new());
    online.visit(&mut online_values);
    struct Blend {
        online: std::vec::IntoIter<(Vec<usize>, Tensor<1>)>,
        keep: f32,
        take: f32,
        error: Option<(Vec<usize>, Vec<usize>)>,
    }
    impl ModuleMapper for Blend {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let got = param.val().dims().to_vec();
            let Some((dims, flat)) = self.online.next() else {
                self.error.get_or_insert((Vec::new(), got));
                return param;
            };
            if dims != got {
                self.error.get_or_insert((dims, got));
                return param;
            }
            let (keep, take) = (self.keep, self.take);
            param.map(|old| {
                let new: Tensor<D> = flat.reshape(old.dims());
                (old.detach().mul_scalar(keep) + new.mul_scalar(take)).set_require_grad(false)
            })
        }
    }
    let mut blend = Blend {
        online: online_values.0.into_iter(),
        keep: m as f32,
        take: (1.0 - m) as f32,
        error: None,
    };
    let momentum = momentum.map(&mut blend);
    let leftover = blend.online.len();
    match blend.error {
        Some((expected, got)) => {
            check_shape("momentum parameter", &expected, &got).map(|_| momentum)
        }
        None if leftover > 0 => {
            check_shape("momentum parameters", &[leftover], &[0]).map(|_| momentum)
        }
        None => Ok(momentum),
    }
}

/// A first-in first-out queue of `size` feature vectors, newest first: each
/// [`FeatureQueue::enqueue`] puts a batch at the front and drops as many of the oldest
/// rows, so the size never changes. It starts as L2-normalised Gaussian noise, as in BLIP's
/// code (those rows are pushed out after `size / batch` steps). It is a module so that a
/// checkpoint keeps it; its tensor carries no gradient.
#[derive(Module, Debug)]
pub struct FeatureQueue {
    features: Param<Tensor<2>>,
}

impl FeatureQueue {
    /// A queue of `size` random unit vectors of width `dim`.
    ///
    /// # Errors
    /// A zero size or width.
    pub fn new(size: usize, dim: usize, device: &Device) -> Result<Self> {
        validate::size("queue_size", size)?;
        validate::size("queue feature width", dim)?;
        let noise = Tensor::<2>::random([size, dim], Distribution::Normal(0.0, 1.0), device);
        let features = Param::from_tensor(l2_normalize(noise)).set_require_grad(false);
        Ok(Self { features })
    }

    /// A queue of `size` rows of width `dim`, every value `value` (BLIP's id queue starts
    /// at -100, "no id").
    ///
    /// # Errors
    /// A zero size or width.
    pub fn filled(size: usize, dim: usize, value: f32, device: &Device) -> Result<Self> {
        validate::size("queue_size", size)?;
        validate::size("queue feature width", dim)?;
        let features = Tensor::<2>::full([size, dim], value, device);
        Ok(Self { features: Param::from_tensor(features).set_require_grad(false) })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.features.val().dims()[0]
    }

    /// Always false: a queue holds at least one row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows, newest first.
    ///
    /// # Shapes
    /// `[size, dim]`.
    pub fn features(&self) -> Tensor<2> {
        self.features.val()
    }

    /// Puts `batch` (detached) at the front and drops the oldest `batch` rows.
    ///
    /// # Shapes
    /// `batch: [b, dim]`, `b <= size`.
    ///
    /// # Errors
    /// A batch of another width, an empty batch, or more rows than the queue.
    pub fn enqueue(self, batch: Tensor<2>) -> Result<Self> {
        let [size, dim] = self.features.val().dims();
        let [b, width] = batch.dims();
        check_shape("queued features", &[b, dim], &[b, width])?;
        validate::size("queued rows", b)?;
        if b > size {
            check_shape("queued rows (at most the queue size)", &[size], &[b])?;
        }
        let features = self.features.map(|old| {
            let rows = if b == size {
                batch.detach()
            } else {
                Tensor::cat(vec![batch.detach(), old.narrow(0, 0, size - b)], 0)
            };
            rows.set_require_grad(false)
        });
        Ok(Self { features })
    }
}
