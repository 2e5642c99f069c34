//! Serde for an `f64` that may be infinite: JSON has no infinity, so `inf` is written as
//! `null` and `null` reads back as `inf` (EDM's `S_tmax` defaults to infinity).

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `inf` as `null`, any other value as itself.
pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_infinite() && *value > 0.0 {
        serializer.serialize_none()
    } else {
        serializer.serialize_f64(*value)
    }
}

/// Reads `null` as `inf`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::INFINITY))
}
