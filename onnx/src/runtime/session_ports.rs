//! A graph's ports exactly as an ONNX Runtime session reports them, without loading its weights.
//!
//! Inputs are what the file declares ([`read_ports`] drops weights listed as inputs, as ONNX
//! Runtime does). Outputs can differ from the declarations: ONNX Runtime's shape inference pins
//! dimensions an exporter left symbolic, and a server that checks a configuration against its
//! own session (Triton's ONNX Runtime backend) wants those. They come from a session of the
//! graph's weightless copy ([`weightless_copy`]): the same nodes and shapes, kilobytes instead of
//! gigabytes, built without optimizations since only the declarations are read.

use std::path::Path;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use super::graph::port;
use super::library::Runtime;
use crate::error::{Error, ErrorKind, Result};
use crate::package::onnx_ports::{GraphPorts, read_ports};
use crate::package::weightless::weightless_copy;

/// The inputs and outputs a session of the ONNX file at `path` reports.
pub fn session_ports(rt: &Runtime, path: &Path) -> Result<GraphPorts> {
    let declared = read_ports(path)?;
    let bytes = weightless_copy(path)?;
    let ort_err = |e: ort::Error| {
        Error::new(
            ErrorKind::Package,
            format!(
                "ONNX Runtime could not read the output shapes of {}: {e}; check that the graph \
                 loads (promptreel inspect) or re-export it",
                path.display()
            ),
        )
        .with_cause(e)
    };
    let session = Session::builder(&rt.env)
        .map_err(ort_err)?
        .with_optimization_level(GraphOptimizationLevel::Disable)
        .map_err(|e| ort_err(e.into()))?
        .with_intra_threads(1)
        .map_err(|e| ort_err(e.into()))?
        .commit_from_memory(&bytes)
        .map_err(ort_err)?;
    let outputs = session
        .outputs()
        .iter()
        .filter_map(|o| port(o.name(), o.dtype()))
        .collect();
    Ok(GraphPorts {
        inputs: declared.inputs,
        outputs,
    })
}
