//! Tensor lifting agrees with the scalar reference on a real Burn device.

use burn::tensor::{Device, Tensor, TensorData};
use stoke_core::noise_level::NoiseLevelSampler;
use stoke_core::param::{Prediction, convert, convert_tensor};
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, Edm, Flow, NoiseSchedule, Ve, VpCosine, VpLinear,
};

fn times(device: &Device) -> (Vec<f64>, Tensor<1>) {
    let t: Vec<f64> = (1..50).map(|i| i as f64 / 50.0).collect();
    let data: Vec<f32> = t.iter().map(|&v| v as f32).collect();
    (t.clone(), Tensor::from_data(TensorData::new(data, [t.len()]), device))
}

fn values(x: Tensor<1>) -> Vec<f64> {
    x.into_data().iter::<f64>().collect()
}

#[test]
fn tensor_schedules_match_scalars() {
    let device = Device::flex();
    let (t, t_tensor) = times(&device);
    let schedules: [&dyn NoiseSchedule; 6] = [
        &VpLinear::song(),
        &VpCosine::nichol(),
        &Ve::song(),
        &Edm,
        &Flow,
        &DiscreteSchedule::diffusers(BetaSchedule::Linear),
    ];
    for s in schedules {
        let alpha = values(s.alpha_tensor(t_tensor.clone()));
        let sigma = values(s.sigma_tensor(t_tensor.clone()));
        for i in 0..t.len() {
            // f32 tolerance: the tensors are float32.
            let (ta, ts) = (t[i] as f32 as f64, t[i] as f32 as f64);
            assert!((alpha[i] - s.alpha(ta)).abs() <= 1e-5 * (1.0 + s.alpha(ta).abs()));
            assert!((sigma[i] - s.sigma(ts)).abs() <= 1e-5 * (1.0 + s.sigma(ts).abs()));
        }
    }
}

#[test]
fn tensor_conversion_matches_scalar() {
    let device = Device::flex();
    let point = VpCosine::nichol().point(0.4);
    let x: Vec<f32> = vec![0.5, -1.0, 2.0];
    let p: Vec<f32> = vec![0.1, 0.3, -0.7];
    let to_tensor = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [3]), &device);
    let got = values(
        convert_tensor(Prediction::V, Prediction::Eps, to_tensor(&p), to_tensor(&x), &point)
            .unwrap(),
    );
    for i in 0..3 {
        let want =
            convert(Prediction::V, Prediction::Eps, p[i] as f64, x[i] as f64, &point).unwrap();
        assert!((got[i] - want).abs() < 1e-5);
    }
    let levels = NoiseLevelSampler::uniform().sample_tensor(16, &device, &mut rand::rng());
    assert_eq!(levels.dims(), [16]);
}

/// The discrete schedule's tensor path is a host round trip of its scalar path, so comparing
/// the two says nothing; instead it must hit the table at the grid times `t_i = i / T`
/// (`alpha = sqrt(alpha_bar_i)`) and stay between neighbouring grid values in between.
#[test]
fn discrete_tensor_path_hits_the_table() {
    let device = Device::flex();
    let s = DiscreteSchedule::diffusers(BetaSchedule::Linear);
    let table = s.alphas_cumprod();
    let grid: Vec<f32> = (0..1000).step_by(37).map(|i| i as f32 / 1000.0).collect();
    let mid: Vec<f32> = grid.iter().map(|t| t + 0.5 / 1000.0).collect();
    let n = grid.len();
    let on = values(s.alpha_tensor(Tensor::from_data(TensorData::new(grid.clone(), [n]), &device)));
    let between = values(s.alpha_tensor(Tensor::from_data(TensorData::new(mid, [n]), &device)));
    for (k, t) in grid.iter().enumerate() {
        let i = (t * 1000.0).round() as usize;
        let want = table[i].sqrt();
        assert!((on[k] - want).abs() < 1e-6, "t = {t}: {} vs {want}", on[k]);
        let next = table[(i + 1).min(999)].sqrt();
        assert!(between[k] <= want + 1e-6 && between[k] >= next - 1e-6, "t = {t}");
    }
}
