//! Laws of the networks of `stoke-nn` (STYLE.md, "Tests define correctness"): each test
//! states a property that a broken implementation fails.

mod attention;
mod block;
mod config;
mod dit;
mod embedding;
mod fuzz;
mod mlp;
mod patch;
mod reference;
mod strategies;
mod towers;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

/// Burn seeds one generator per device and process, and parameters draw from it lazily (on
/// first use): a test that needs reproducible draws holds it alone ([`seeded`]); the others
/// share it ([`shared`]), so they never draw between its seed and its last draw.
static DEVICE_RNG: RwLock<()> = RwLock::new(());

/// Exclusive use of the device generator, seeded with `seed`.
fn seeded(device: &Device, seed: u64) -> RwLockWriteGuard<'static, ()> {
    let guard = DEVICE_RNG.write().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    guard
}

/// Shared use of the device generator (draws whose values do not matter).
fn shared() -> RwLockReadGuard<'static, ()> {
    DEVICE_RNG.read().unwrap_or_else(|e| e.into_inner())
}

/// Standard normal draws.
fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// The values of a tensor, row-major.
fn floats<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().try_to_vec::<f32>().unwrap()
}

/// Largest absolute difference, relative to the largest magnitude of `expected` (at least 1).
fn relative_gap<const D: usize>(got: Tensor<D>, expected: Tensor<D>) -> f32 {
    let (got, expected) = (floats(got), floats(expected));
    assert_eq!(got.len(), expected.len());
    let scale = expected.iter().fold(1f32, |m, v| m.max(v.abs()));
    got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max) / scale
}

/// Token `index` of every row of `[batch, seq, d]`, as `[batch, d]`.
fn token(x: &Tensor<3>, index: usize) -> Tensor<2> {
    let [batch, _, d] = x.dims();
    // [batch, 1, d] -> [batch, d]
    x.clone().narrow(1, index, 1).reshape([batch, d])
}

/// `x` with token `index` of every row replaced by `value: [batch, 1, d]`.
fn with_token(x: &Tensor<3>, index: usize, value: Tensor<3>) -> Tensor<3> {
    let [_, seq, _] = x.dims();
    let mut parts = Vec::new();
    if index > 0 {
        parts.push(x.clone().narrow(1, 0, index));
    }
    parts.push(value);
    if index + 1 < seq {
        parts.push(x.clone().narrow(1, index + 1, seq - index - 1));
    }
    Tensor::cat(parts, 1)
}

/// Integer indices as a tensor.
fn ints(values: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

/// Replaces the `k`-th float parameter (in visiting order) by fixed values
/// `0.3 sin(0.618 (7919 k + i))`: two modules that visit parameters of the same shapes in
/// the same order end up with the same weights, whatever their initialisers.
struct Fill {
    k: usize,
}

impl ModuleMapper for Fill {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.k += 1;
        let k = self.k;
        param.map(|t| {
            let dims = t.dims();
            let n: usize = dims.iter().product();
            let values: Vec<f32> =
                (0..n).map(|i| 0.3 * (0.618 * (7919 * k + i) as f32).sin()).collect();
            Tensor::from_data(TensorData::new(values, dims), &t.device())
        })
    }
}

/// Every float parameter of a module, in visiting order.
fn parameters<M: Module>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(floats(param.val()));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}
