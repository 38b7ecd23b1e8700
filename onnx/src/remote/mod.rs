//! The remote backend: each graph call goes to a KServe v2 / Open Inference Protocol server over
//! gRPC (NVIDIA Triton in production, MLServer in our tests) instead of the local ONNX Runtime.
//!
//! Everything else stays here: the tokenizer, the schedulers, guidance, progress, cancelling and
//! the clip cache. Only the graphs run on the server, from the same package files, so the frames
//! are the same bits as a local run (the server's ONNX Runtime permitting).
//!
//! Layout: [`server`] (the address the user chose), `client` (the connection, waiting and
//! retries, failures as sentences), `graph` (one package graph on the server: metadata checks
//! and calls), `tensor` (raw tensors on the wire), [`names`] (server-side model names) and
//! [`triton_repo`] (writing a Triton model repository for a package).

mod client;
pub(crate) mod graph;
pub mod names;
mod proto;
pub mod server;
pub(crate) mod tensor;
pub mod triton_repo;

pub use graph::COMPUTE_PARAMETER;

/// Connects to `server` (or reuses the open connection) and checks that it is ready for
/// inference; the error is the sentence a generation would give.
pub fn check_server(server: &ServerConfig) -> crate::Result<()> {
    client::connect(server).map(|_| ())
}
pub use server::{DEFAULT_CALL_TIMEOUT, ServerConfig, TOKEN_ENV};
