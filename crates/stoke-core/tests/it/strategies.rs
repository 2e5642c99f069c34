//! Bounded proptest strategies shared by the law tests.

#![allow(dead_code)]

use proptest::prelude::*;
use stoke_core::schedule::{
    BetaSchedule, DiscreteSchedule, Edm, Flow, NoiseSchedule, Ve, VpCosine, VpLinear,
};

/// Every continuous schedule with `t` domain `(0, 1)` (EDM uses `t = sigma`).
pub fn schedules() -> Vec<(&'static str, Box<dyn NoiseSchedule>)> {
    vec![
        ("vp_linear", Box::new(VpLinear::song())),
        ("vp_cosine", Box::new(VpCosine::nichol())),
        ("ve", Box::new(Ve::song())),
        ("edm", Box::new(Edm)),
        ("flow", Box::new(Flow)),
        ("discrete_linear", Box::new(DiscreteSchedule::diffusers(BetaSchedule::Linear))),
        ("discrete_cosine", Box::new(DiscreteSchedule::diffusers(BetaSchedule::SquaredCosCapV2))),
    ]
}

/// Times strictly inside `(0, 1)`, away from the ends where `sigma` or `alpha` vanish.
pub fn interior_t() -> impl Strategy<Value = f64> {
    0.01f64..0.99
}

/// A pair `t1 < t2` in the interior, at least `gap` apart.
pub fn ordered_times(gap: f64) -> impl Strategy<Value = (f64, f64)> {
    (0.01f64..0.99 - gap).prop_flat_map(move |t1| (Just(t1), t1 + gap..0.99))
}

/// Data and noise values of moderate size.
pub fn value() -> impl Strategy<Value = f64> {
    -10.0f64..10.0
}

/// Beta schedules.
pub fn beta_schedule() -> impl Strategy<Value = BetaSchedule> {
    prop::sample::select(BetaSchedule::ALL.to_vec())
}

/// Any f64, NaN and infinities included.
pub fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::ANY,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        -2.0f64..2.0,
    ]
}
