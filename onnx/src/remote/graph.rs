//! One package graph served by a remote server: its declared ports (from `ModelMetadata`, checked
//! against the package's own graph file) and its calls (`ModelInfer`, raw tensors both ways).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::client::{self, Client, MAX_MESSAGE};
use super::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use super::proto::model_metadata_response::TensorMetadata;
use super::proto::{ModelInferRequest, ModelMetadataRequest, ModelReadyRequest, infer_parameter};
use super::server::ServerConfig;
use super::tensor::{self, RawTensor};
use crate::control::Observer;
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::Port;

/// The response parameter in which our MLServer runtime reports the time the graph itself ran
/// (microseconds); Triton does not send it.
pub const COMPUTE_PARAMETER: &str = "promptreel_compute_us";

/// A graph on the server.
pub(crate) struct RemoteGraph {
    client: Arc<Client>,
    model: String,
    /// "the denoiser (model NAME on URL)", for messages.
    what: String,
    /// Inputs the graph takes as scalars, which the server declares as `[1]` (Triton has no
    /// empty dimensions): sent with shape `[1]`.
    scalars: Vec<String>,
    /// What the server said the last call's graph run took, in microseconds (`u64::MAX`: it
    /// did not say).
    last_compute_us: AtomicU64,
}

/// What a call returned: the outputs asked for, in order, and the wall time.
pub(crate) struct Answer {
    pub outputs: Vec<RawTensor>,
    pub wall: Duration,
}

fn ports(list: &[TensorMetadata], what: &str, kind: &str) -> Result<Vec<Port>> {
    list.iter()
        .map(|t| {
            let elem = tensor::element(&t.datatype).ok_or_else(|| {
                Error::new(
                    ErrorKind::Server,
                    format!(
                        "{what} declares {kind} {:?} as {:?}, a datatype Promptreel does not \
                         exchange; the server does not hold this package's graph",
                        t.name, t.datatype
                    ),
                )
            })?;
            Ok(Port {
                name: t.name.clone(),
                elem,
                shape: t.shape.clone(),
            })
        })
        .collect()
}

impl RemoteGraph {
    /// Connects (or reuses the connection) and reads the model's metadata. `local` is what the
    /// package's own graph file declares: the server's model must declare the same names,
    /// element types and ranks (a scalar as `[1]`), or the call is refused here, in a sentence,
    /// before anything runs. Returns the graph and its ports as the package graph declares them.
    pub fn open(
        server: &ServerConfig,
        model: &str,
        role: &str,
        local: &crate::package::onnx_ports::GraphPorts,
    ) -> Result<(Self, Vec<Port>, Vec<Port>)> {
        let client = client::connect(server)?;
        let what = format!("the {role} (model {model:?} on {})", client.url());
        let missing = || {
            Error::new(
                ErrorKind::Server,
                format!(
                    "the server at {} has no ready model named {model:?} (this package's \
                     {role}): it is not in the server's model repository, still loading, or it \
                     failed to load (see the server's log). Write the repository with \
                     `promptreel triton-repo PACKAGE OUT`, load it on the server and try again",
                    client.url()
                ),
            )
        };
        let ready = client.call(
            client::CHECK_TIMEOUT,
            &mut || false,
            |mut g, r| async move { g.model_ready(r).await },
            ModelReadyRequest {
                name: model.to_string(),
                version: String::new(),
            },
        );
        match ready {
            Ok(r) if r.ready => {}
            Ok(_) => return Err(missing()),
            // NOTE: MLServer answers an unknown model's ModelReady with UNKNOWN ("ModelNotFound"),
            // not NOT_FOUND; ModelMetadata below says NOT_FOUND properly, so any status that is
            // not about the connection is left for it to decide.
            Err(client::Failure::Status(s))
                if !matches!(
                    s.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Unauthenticated
                        | tonic::Code::PermissionDenied
                ) => {}
            Err(f) => return Err(client.failure(f, &format!("the check of {what}"), 1, 0)),
        }
        let meta = client
            .call(
                client::CHECK_TIMEOUT,
                &mut || false,
                |mut g, r| async move { g.model_metadata(r).await },
                ModelMetadataRequest {
                    name: model.to_string(),
                    version: String::new(),
                },
            )
            .map_err(|f| match f {
                client::Failure::Status(s) if s.code() == tonic::Code::NotFound => missing(),
                f => client.failure(f, &format!("the metadata of {what}"), 1, 0),
            })?;
        let inputs = ports(&meta.inputs, &what, "input")?;
        let outputs = ports(&meta.outputs, &what, "output")?;
        let scalars = compare(&what, local, &inputs, &outputs)?;
        Ok((
            Self {
                client,
                model: model.to_string(),
                what,
                scalars,
                last_compute_us: AtomicU64::new(u64::MAX),
            },
            local.inputs.clone(),
            local.outputs.clone(),
        ))
    }

    /// What the server said its last call's graph run took (our MLServer runtime says; Triton
    /// does not).
    pub fn last_compute(&self) -> Option<Duration> {
        match self.last_compute_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Runs the graph on `inputs` and returns `outputs`, in that order.
    pub fn run(
        &self,
        inputs: Vec<(String, RawTensor)>,
        outputs: &[&str],
        observer: &mut dyn Observer,
    ) -> Result<Answer> {
        let bytes: usize = inputs.iter().map(|(_, t)| t.len()).sum();
        // NOTE: a margin for the message's own fields; the tensors are nearly all of it.
        if bytes > MAX_MESSAGE - (1 << 20) {
            return Err(Error::setting(format!(
                "{} would send {:.2} GiB in one call, over gRPC's 2 GiB limit; lower Frames or \
                 Resolution",
                self.what,
                bytes as f64 / f64::from(1u32 << 30)
            )));
        }
        let mut request = ModelInferRequest {
            model_name: self.model.clone(),
            ..Default::default()
        };
        for (name, t) in inputs {
            let mut shape = t.shape.clone();
            if shape.is_empty() && self.scalars.contains(&name) {
                shape = vec![1];
            }
            request.inputs.push(InferInputTensor {
                name,
                datatype: tensor::datatype(t.elem).unwrap_or("FP32").to_string(),
                shape,
                ..Default::default()
            });
            request.raw_input_contents.push(t.data);
        }
        request.outputs = outputs
            .iter()
            .map(|n| InferRequestedOutputTensor {
                name: n.to_string(),
                ..Default::default()
            })
            .collect();
        let started = Instant::now();
        let call = format!("the call to {}", self.what);
        let response = self.client.call_with_retries(
            &call,
            bytes,
            Some(observer),
            |mut g, r| async move { g.model_infer(r).await },
            request,
        )?;
        let wall = started.elapsed();
        let compute =
            response
                .parameters
                .get(COMPUTE_PARAMETER)
                .and_then(|p| match p.parameter_choice {
                    Some(infer_parameter::ParameterChoice::Int64Param(us)) => {
                        Some(Duration::from_micros(us.max(0) as u64))
                    }
                    _ => None,
                });
        self.last_compute_us.store(
            compute.map_or(u64::MAX, |d| d.as_micros() as u64),
            Ordering::Relaxed,
        );
        let damaged = |why: String| {
            Error::new(
                ErrorKind::Server,
                format!("the server's answer to {call} is damaged: {why}"),
            )
        };
        let mut got = Vec::with_capacity(outputs.len());
        for &name in outputs {
            let Some(i) = response.outputs.iter().position(|o| o.name == name) else {
                return Err(damaged(format!("it has no output named {name:?}")));
            };
            let o = &response.outputs[i];
            let elem = tensor::element(&o.datatype)
                .ok_or_else(|| damaged(format!("{name:?} has datatype {:?}", o.datatype)))?;
            let t = if let Some(raw) = response.raw_output_contents.get(i) {
                RawTensor {
                    elem,
                    shape: o.shape.clone(),
                    data: raw.clone(),
                }
            } else {
                o.contents
                    .as_ref()
                    .and_then(|c| tensor::from_contents(elem, o.shape.clone(), c))
                    .ok_or_else(|| damaged(format!("{name:?} came without data")))?
            };
            got.push(t);
        }
        Ok(Answer { outputs: got, wall })
    }
}

/// Checks the server's ports against the package graph's, and returns the inputs the graph
/// takes as scalars that the server declares as `[1]`.
fn compare(
    what: &str,
    local: &crate::package::onnx_ports::GraphPorts,
    inputs: &[Port],
    outputs: &[Port],
) -> Result<Vec<String>> {
    let mut scalars = Vec::new();
    let show = |p: &Port| format!("{} {:?}", tensor::datatype(p.elem).unwrap_or("?"), p.shape);
    let mismatch = |why: String| {
        Error::new(
            ErrorKind::Server,
            format!(
                "{what} does not match this package's graph: {why}. The server holds other \
                 graphs under this name; write the repository again with `promptreel \
                 triton-repo PACKAGE OUT` and reload it on the server"
            ),
        )
    };
    for (kind, mine, theirs) in [
        ("input", &local.inputs, inputs),
        ("output", &local.outputs, outputs),
    ] {
        for p in mine {
            let Some(s) = theirs.iter().find(|s| s.name == p.name) else {
                return Err(mismatch(format!(
                    "the package's {kind} {:?} is missing on the server (it has: {})",
                    p.name,
                    theirs
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let scalar = p.shape.is_empty() && s.shape == [1];
            let same_dims = s.shape.len() == p.shape.len()
                && s.shape
                    .iter()
                    .zip(&p.shape)
                    .all(|(&a, &b)| a == b || a < 0 || b < 0);
            if s.elem != p.elem || !(scalar || same_dims) {
                return Err(mismatch(format!(
                    "{kind} {:?} is {} on the server but {} in the package",
                    p.name,
                    show(s),
                    show(p)
                )));
            }
            if scalar && kind == "input" {
                scalars.push(p.name.clone());
            }
        }
        // An extra output does no harm (only the named ones are asked for); an extra input
        // would be missing from every call.
        if kind == "input"
            && let Some(extra) = theirs
                .iter()
                .find(|s| !mine.iter().any(|p| p.name == s.name))
        {
            return Err(mismatch(format!(
                "the server's model takes an input {:?} that the package's graph has not",
                extra.name
            )));
        }
    }
    Ok(scalars)
}
