//! Metrics that several recipes share: 2-D sample quality per NFE ([`points`]) and the
//! digits classifier with its sample-quality metrics ([`digits`]).

pub mod digits;
pub mod points;
