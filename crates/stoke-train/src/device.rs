//! Backend choice: the trainer is the only crate that turns Burn backends on, and a device
//! is always chosen explicitly (never Burn's default device, which picks a GPU adapter, or a
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
    /// PyTorch's kernels on the CPU through Burn's deprecated LibTorch backend.
    Libtorch,
}

impl Backend {
    /// Every backend name.
    pub const ALL: [Backend; 5] =
        [Self::Flex, Self::Ndarray, Self::Wgpu, Self::Vulkan, Self::Libtorch];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
            Self::Vulkan => "vulkan",
            Self::Libtorch => "libtorch",
        }
    }

    /// Whether this binary was compiled with the backend.
    pub fn compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::Ndarray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Vulkan => cfg!(feature = "vulkan"),
            Self::Libtorch => cfg!(feature = "libtorch"),
        }
    }

    /// The backends compiled into this binary.
    pub fn compiled_backends() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.compiled()).collect()
    }

    /// The Burn device (without autodiff), checked by a small round trip so that a GPU
    /// backend without a usable adapter fails here, with a message, and not as a panic deep
    /// inside Burn after a run directory exists.
    ///
    /// # Errors
    /// The backend was not compiled in, or cannot start on this machine.
    pub fn device(self) -> Result<Device> {
        self.device_at(None)
    }

    /// Whether the backend runs on a GPU (and so can pick one of several).
    pub fn is_gpu(self) -> bool {
        matches!(self, Self::Wgpu | Self::Vulkan)
    }

    /// [`Backend::device`] on the `index`-th discrete GPU for a GPU backend (one per
    /// data-parallel rank of a machine); `None`, or a CPU backend: the default device.
    ///
    /// # Errors
    /// As [`Backend::device`]; no such GPU.
    pub fn device_at(self, index: Option<usize>) -> Result<Device> {
        // The probe swaps the process's panic hook: ranks on threads probe one at a time.
        static PROBING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = PROBING.lock().unwrap_or_else(|e| e.into_inner());
        let device = self.uncheck_device(index)?;
        let probe = device.clone();
        // Burn's GPU runtimes start on their own threads and panic there; collect the first
        // message from any thread, silence the default report, and restore it afterwards.
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = messages.clone();
        let previous_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".into());
            if let Ok(mut m) = sink.lock() {
                m.push(text);
            }
        }));
        let outcome = std::panic::catch_unwind(move || {
            let x = burn::tensor::Tensor::<1>::ones([4], &probe);
            x.sum().into_scalar::<f32>()
        });
        std::panic::set_hook(previous_hook);
        match outcome {
            Ok(4.0) => Ok(device),
            Ok(sum) => Err(TrainError::Invalid(format!(
                "--device {self}: a test sum of four ones gave {sum}"
            ))),
            Err(_) => {
                let messages = messages.lock().map(|m| m.clone()).unwrap_or_default();
                let first = messages.first().map(String::as_str).unwrap_or("unknown failure");
                let first_line = first.lines().next().unwrap_or(first);
                Err(TrainError::Invalid(format!("--device {self}: cannot start: {first_line}")))
            }
        }
    }

    #[allow(unused_variables)]
    fn uncheck_device(self, index: Option<usize>) -> Result<Device> {
        #[cfg(any(feature = "wgpu", feature = "vulkan"))]
        let kind = match index {
            Some(i) => burn::tensor::DeviceKind::DiscreteGpu(i),
            None => burn::tensor::DeviceKind::DefaultDevice,
        };
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(kind)),
            #[cfg(feature = "vulkan")]
            Self::Vulkan => Ok(Device::vulkan(kind)),
            #[cfg(feature = "libtorch")]
            #[allow(deprecated)]
            Self::Libtorch => Ok(Device::libtorch()),
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
                "--device '{s}' is not a backend (expected flex, ndarray, wgpu, vulkan or libtorch)"
            ))
        })
    }
}
