//! ONNX Runtime: loading the library, choosing execution providers, running graphs.

pub mod cuda;
pub mod device;
mod ffi;
pub mod graph;
pub mod library;
pub mod session_ports;

pub use device::{Device, Provider};
pub use graph::{Binding, Graph, Input, MemoryMode, Port, SessionOptions, State, TensorF32};
pub use library::{Runtime, load, loaded, locate};
pub use session_ports::session_ports;
