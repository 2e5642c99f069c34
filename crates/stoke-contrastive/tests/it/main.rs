//! stoke-contrastive's integration tests in one binary: open_clip golden values, the laws
//! of the losses (permutation, chunking, sharding, the BCE form), the model's locking and
//! patch dropping, the evaluations, and bad input.

mod blip;
mod eval;
mod fuzz;
mod golden;
mod laws;
mod model;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use stoke_contrastive::normalize::l2_normalize;

/// L2-normalised standard normal rows.
fn unit_rows(batch: usize, dim: usize, device: &Device) -> Tensor<2> {
    l2_normalize(Tensor::random([batch, dim], Distribution::Normal(0.0, 1.0), device))
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

/// The values of a tensor, row-major.
fn floats<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// A `[rows, cols]` tensor from nested rows.
fn matrix(rows: &[Vec<f32>], device: &Device) -> Tensor<2> {
    let cols = rows.first().map_or(0, Vec::len);
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), cols]), device)
}

/// Largest absolute difference relative to the largest magnitude of `expected` (at least 1).
fn relative_gap(got: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(got.len(), expected.len());
    let scale = expected.iter().fold(1f32, |m, v| m.max(v.abs()));
    got.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max) / scale
}
