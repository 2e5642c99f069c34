//! The receptive-field recurrence against back-propagation through a real Burn conv stack.

use burn::tensor::Device;
use proptest::prelude::*;
use stoke_core::receptive_field::{Layer, empirical_span, receptive_field};

fn device() -> Device {
    Device::flex().autodiff()
}

#[test]
fn vgg_like_stack_matches_known_sizes() {
    // Two 3x3 convs then a 2x2 pool, twice: RF 3, 5, 6, 10, 14, 16.
    let conv = Layer::new(3, 1, 1).unwrap();
    let pool = Layer::new(2, 2, 0).unwrap();
    let rf = receptive_field(&[conv, conv, pool, conv, conv, pool]).unwrap();
    let sizes: Vec<usize> = rf.iter().map(|f| f.size).collect();
    assert_eq!(sizes, [3, 5, 6, 10, 14, 16]);
    assert_eq!(rf[5].jump, 4);
    // Output unit 10 of the last layer sees input [start + 40 - 7.5, start + 40 + 7.5].
    let (first, last) = rf[5].span(10);
    let layers = [conv, conv, pool, conv, conv, pool];
    let measured = empirical_span(&layers, 128, 10, &device()).unwrap();
    assert_eq!((measured.0 as f64, measured.1 as f64), (first, last));
    assert_eq!(measured.1 - measured.0 + 1, 16);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn recurrence_matches_backprop(
        raw in prop::collection::vec((1usize..6, 1usize..3, 0usize..3, 1usize..3), 1..5),
    ) {
        let layers: Vec<Layer> = raw
            .iter()
            .map(|&(k, s, p, d)| Layer::dilated(k, s, p.min(k / 2), d).unwrap())
            .collect();
        let field = *receptive_field(&layers).unwrap().last().unwrap();
        let input_len = 4 * field.size + 8 * field.jump + 16;
        // An output unit whose field lies inside the input.
        let index = ((field.size as f64 - field.start) / field.jump as f64).ceil().max(0.0) as usize;
        let (first, last) = field.span(index);
        prop_assume!(first >= 0.0 && (last as usize) < input_len);
        let got = empirical_span(&layers, input_len, index, &device());
        prop_assume!(got.is_ok()); // the unit may not exist if the stack shrinks the input away
        let (e_first, e_last) = got.unwrap();
        prop_assert_eq!((e_first as f64, e_last as f64), (first, last), "{:?}", layers);
    }
}
