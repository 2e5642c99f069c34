//! Backend choice: the trainer is the only crate that turns Burn backends on, and a device
//! is always chosen explicitly (never `Device::default()`, which picks a GPU adapter, or a
//! 100x slower software one, whenever a GPU feature is compiled in).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{Result, TrainError};

/// A backend named on the command line (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Burn's pure-Rust CPU backend (the default).
    Flex,
    /// The deprecated ndarray CPU backend.
    Ndarray,
    /// wgpu, letting it pick the graphics API.
    Wgpu,
    /// wgpu pinned to Vulkan.
    Vulkan,
}

impl Backend {
    /// Every backend name.
    pub const ALL: [Backend; 4] = [Self::Flex, Self::Ndarray, Self::Wgpu, Self::Vulkan];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
            Self::Vulkan => "vulkan",
        }
    }

    /// Whether this binary was compiled with the backend.
    pub fn compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::Ndarray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Vulkan => cfg!(feature = "vulkan"),
        }
    }

    /// The backends compiled into this binary.
    pub fn compiled_backends() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.compiled()).collect()
    }

    /// The Burn device (without autodiff).
    ///
    /// # Errors
    /// The backend was not compiled in.
    pub fn device(self) -> Result<Device> {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "vulkan")]
            Self::Vulkan => Ok(Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            other => Err(TrainError::Invalid(format!(
                "--device {other}: this binary was built without the `{other}` feature \
                 (cargo xtask adds it; built with: {})",
                Self::compiled_backends().iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
            TrainError::Invalid(format!(
                "--device '{s}' is not a backend (expected flex, ndarray, wgpu or vulkan)"
            ))
        })
    }
}
