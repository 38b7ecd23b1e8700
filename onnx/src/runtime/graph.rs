//! One ONNX graph loaded into an ONNX Runtime session, with the conversions our pipelines need.
//!
//! Pipelines speak f32 and i64; a graph may want f16 (or bf16) latents or i32 token ids.
//! [`Graph::run`]
//! converts at the boundary using the element types the graph declares, so fp16 exports work
//! without manifest fields, and times every call for the per-graph report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use half::{bf16, f16};
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use parking_lot::Mutex;

use super::device::{Device, Provider};
use super::library::Runtime;
use crate::control::Observer;
use crate::error::{Error, ErrorKind, Result};
use crate::remote::ServerConfig;
use crate::remote::graph::RemoteGraph;
use crate::remote::tensor::{self, RawTensor};

/// Options for building sessions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOptions {
    pub device: Device,
    /// With [`Device::Remote`]: the server that runs the graphs.
    pub server: Option<ServerConfig>,
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
    pub intra_threads: usize,
    /// Which sessions stay loaded between the phases of a generation.
    pub memory: MemoryMode,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            device: Device::Auto,
            server: None,
            intra_threads: 0,
            memory: MemoryMode::Auto,
        }
    }
}

/// Whether a model keeps every graph's session loaded, or only the running phase's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemoryMode {
    /// Sequential when the package's weights exceed half of the memory available, else
    /// resident.
    #[default]
    Auto,
    /// Every session stays loaded: the next generation starts at once.
    Resident,
    /// Each graph's session is released when its phase ends (the text encoder after the prompts,
    /// the denoiser after the loop, the VAE after decoding): the peak is about the largest
    /// graph, not the sum, and each generation loads its graphs again.
    Sequential,
}

impl MemoryMode {
    /// Parses `auto`, `resident` or `sequential`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "resident" => Ok(Self::Resident),
            "sequential" => Ok(Self::Sequential),
            other => Err(Error::setting(format!(
                "memory mode {other:?} is not one of auto, resident, sequential"
            ))),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Resident => "resident",
            Self::Sequential => "sequential",
        }
    }
}

/// A declared input or output of a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: String,
    pub elem: TensorElementType,
    /// Dimensions, -1 where dynamic.
    pub shape: Vec<i64>,
}

/// A flat f32 tensor with its shape (row-major).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorF32 {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl TensorF32 {
    /// A tensor, checking that the data fills the shape.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::setting(format!(
                "tensor of shape {shape:?} needs {n} values, got {}",
                data.len()
            )));
        }
        Ok(Self { shape, data })
    }
}

/// Data handed to [`Graph::run`].
pub enum Input<'a> {
    /// Floating point data; converted to the graph's float type.
    F32 { shape: &'a [usize], data: &'a [f32] },
    /// Integer ids; converted to the graph's integer type.
    I64 { shape: &'a [usize], data: &'a [i64] },
}

/// A graph's inputs bound ahead of its calls (ONNX Runtime's IO binding).
///
/// An input bound here is converted to the graph's element type and handed to the session once;
/// on a GPU provider it is copied into device memory then and stays there for every later call.
/// The denoiser binds its text conditioning (hidden states, mask, rotary scale) once per
/// generation and only the latents and timestep per step: the hidden states are the largest
/// input (Wan: 2 x 512 x 4096 floats with guidance) and never change during the loop. The
/// output comes back to host memory, where the scheduler and guidance run in float32.
pub struct Binding {
    kind: BindingKind,
    output: String,
}

enum BindingKind {
    Local(Box<IoBinding>),
    /// A remote graph's inputs, converted, sent again with every call.
    Remote(Vec<(String, RawTensor)>),
}

/// Name prefixes of a stateful graph's state inputs and outputs.
const STATE_IN: &str = "cache_in_";
const STATE_OUT: &str = "cache_out_";

/// A stateful graph's state between calls, kept as ONNX Runtime tensors (or, for a remote graph,
/// as the server sent them).
pub struct State(StateKind);

enum StateKind {
    Local(Vec<DynValue>),
    Remote(Vec<RawTensor>),
}

/// Where a graph runs.
enum Backend {
    // NOTE: `Session::run` needs `&mut`; one lock per graph serialises callers of the same
    // graph while ONNX Runtime parallelises inside the call.
    Local(Mutex<Session>),
    Remote(RemoteGraph),
}

/// A loaded graph.
pub struct Graph {
    role: &'static str,
    path: PathBuf,
    provider: Provider,
    /// With the `auto` device: the better providers that could not run this graph, and why.
    passed_over: Option<String>,
    /// "the denoiser graph PATH", or "the denoiser (model NAME on URL)", for messages.
    what: String,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    backend: Backend,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("role", &self.role)
            .field("path", &self.path)
            .field("provider", &self.provider)
            .finish()
    }
}

/// A tensor port as ONNX Runtime declares it; `None` for sequences and maps.
pub(super) fn port(name: &str, dtype: &ValueType) -> Option<Port> {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => Some(Port {
            name: name.to_string(),
            elem: *ty,
            shape: shape.iter().copied().collect(),
        }),
        _ => None,
    }
}

impl Graph {
    /// Loads `path` as the `role` graph ("text encoder", "denoiser", ...), trying the device's
    /// providers in order. Loads from the file path so external-data sidecars resolve.
    pub fn load(
        rt: &Runtime,
        role: &'static str,
        path: &Path,
        opts: SessionOptions,
    ) -> Result<Self> {
        let mut failures = Vec::new();
        for provider in opts.device.candidates(&rt.library_dir()) {
            match Self::load_with(rt, role, path, &opts, provider) {
                Ok(mut g) => {
                    if !failures.is_empty() {
                        g.passed_over = Some(failures.join("; "));
                    }
                    return Ok(g);
                }
                Err(e) if e.kind() == ErrorKind::Device && opts.device == Device::Auto => {
                    failures.push(format!("{provider}: {e}"));
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Device,
            format!(
                "no execution provider could run the {role}: {}",
                failures.join("; ")
            ),
        ))
    }

    fn load_with(
        rt: &Runtime,
        role: &'static str,
        path: &Path,
        opts: &SessionOptions,
        provider: Provider,
    ) -> Result<Self> {
        let dispatch = provider.dispatch(&rt.library_dir())?;
        let ort_err = |what: &str, e: ort::Error| {
            Error::new(
                ErrorKind::Package,
                format!("could not {what} the {role} graph {}: {e}", path.display()),
            )
            .with_cause(e)
        };
        let mut b = Session::builder(&rt.env).map_err(|e| ort_err("prepare", e))?;
        b = b
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| ort_err("configure", e.into()))?
            .with_intra_threads(opts.intra_threads)
            .map_err(|e| ort_err("configure", e.into()))?
            .with_inter_threads(1)
            .map_err(|e| ort_err("configure", e.into()))?
            .with_memory_pattern(provider.wants_memory_pattern())
            .map_err(|e| ort_err("configure", e.into()))?;
        if rt.arena_cap().is_some() {
            // Tensors come from the environment's capped CPU arena (registered at load).
            b = b
                .with_config_entry("session.use_env_allocators", "1")
                .map_err(|e| ort_err("configure", e.into()))?;
        }
        if let Some(d) = dispatch {
            b = b.with_execution_providers([d]).map_err(|e| {
                Error::new(
                    ErrorKind::Device,
                    format!(
                        "ONNX Runtime could not start {provider} on this machine ({}); choose \
                         the CPU device, or see docs/gpu.md for what {provider} needs",
                        e.to_string().trim()
                    ),
                )
            })?;
        }
        let session = b.commit_from_file(path).map_err(|e| ort_err("load", e))?;
        let inputs = session
            .inputs()
            .iter()
            .filter_map(|o| port(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .filter_map(|o| port(o.name(), o.dtype()))
            .collect();
        Ok(Self {
            role,
            path: path.to_path_buf(),
            provider,
            passed_over: None,
            what: format!("the {role} graph {}", path.display()),
            inputs,
            outputs,
            backend: Backend::Local(Mutex::new(session)),
        })
    }

    /// The `role` graph of the package file `path`, served by `server` as the model `model`.
    /// The server's metadata is checked against the ports `path` declares (read without its
    /// weights) before this returns.
    pub fn remote(
        server: &ServerConfig,
        model: &str,
        role: &'static str,
        path: &Path,
    ) -> Result<Self> {
        let local = crate::package::onnx_ports::read_ports(path)?;
        let (graph, inputs, outputs) = RemoteGraph::open(server, model, role, &local)?;
        Ok(Self {
            role,
            path: path.to_path_buf(),
            provider: Provider::Remote,
            passed_over: None,
            what: format!("the {role} (model {model:?} on {})", server.url()),
            inputs,
            outputs,
            backend: Backend::Remote(graph),
        })
    }

    /// For a remote graph, the time the server says its last call's graph run took (our
    /// MLServer runtime reports it; Triton does not): the rest of a call's wall time is the
    /// network and the server's own overhead.
    pub fn server_compute_of_last_call(&self) -> Option<Duration> {
        match &self.backend {
            Backend::Remote(r) => r.last_compute(),
            Backend::Local(_) => None,
        }
    }

    /// "the denoiser graph PATH", or for a remote graph "the denoiser (model NAME on URL)".
    pub fn describe(&self) -> &str {
        &self.what
    }

    /// What this graph is in its package ("denoiser", ...).
    pub fn role(&self) -> &'static str {
        self.role
    }

    /// The graph file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The execution provider this session registered.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// With the `auto` device, why the providers preferred to [`Graph::provider`] did not run
    /// this graph ("CUDA: no NVIDIA driver found ..."); `None` when the first choice ran it.
    pub fn passed_over(&self) -> Option<&str> {
        self.passed_over.as_deref()
    }

    /// Declared inputs.
    pub fn inputs(&self) -> &[Port] {
        &self.inputs
    }

    /// Declared outputs.
    pub fn outputs(&self) -> &[Port] {
        &self.outputs
    }

    /// The declared input called `name`.
    pub fn input(&self, name: &str) -> Option<&Port> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// The declared output called `name`.
    pub fn output(&self, name: &str) -> Option<&Port> {
        self.outputs.iter().find(|p| p.name == name)
    }

    /// Runs the graph on named inputs and returns the named output as f32, plus the time ONNX
    /// Runtime spent (conversion excluded).
    /// `observer` may cancel a remote call while it waits for the server.
    pub fn run(
        &self,
        inputs: &[(&str, Input<'_>)],
        output: &str,
        observer: &mut dyn Observer,
    ) -> Result<(TensorF32, Duration)> {
        let (mut out, _, took) = self.run_stateful(inputs, &[], None, &[output], &[], observer)?;
        Ok((out.remove(0), took))
    }

    /// A binding whose `output` comes back to host memory on every [`Graph::run_bound`].
    pub fn binding(&self, output: &str) -> Result<Binding> {
        if self.output(output).is_none() {
            return Err(Error::package(format!(
                "the {} graph {} has no output named {output:?}",
                self.role,
                self.path.display()
            )));
        }
        let session = match &self.backend {
            Backend::Local(session) => session,
            Backend::Remote(_) => {
                return Ok(Binding {
                    kind: BindingKind::Remote(Vec::new()),
                    output: output.to_string(),
                });
            }
        };
        let bad = |e: ort::Error| Error::inference(format_args!("bind the {}", self.role), e);
        let mut io = session.lock().create_binding().map_err(bad)?;
        let host = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(bad)?;
        io.bind_output_to_device(output, &host).map_err(bad)?;
        Ok(Binding {
            kind: BindingKind::Local(Box::new(io)),
            output: output.to_string(),
        })
    }

    /// Binds `input` to the input `name` for every later [`Graph::run_bound`] with `binding`,
    /// until bound again. The data is converted and copied now.
    pub fn bind(&self, binding: &mut Binding, name: &str, input: &Input<'_>) -> Result<()> {
        let port = self.port_in(name)?;
        match &mut binding.kind {
            BindingKind::Local(io) => {
                let value = self.to_value(port, input)?;
                io.bind_input(name, &value).map_err(|e| {
                    Error::inference(format_args!("bind {name:?} of the {}", self.role), e)
                })
            }
            BindingKind::Remote(bound) => {
                let raw = tensor::encode(port, input, &self.what)?;
                bound.retain(|(n, _)| n != name);
                bound.push((name.to_string(), raw));
                Ok(())
            }
        }
    }

    /// Runs the graph on what `binding` holds and returns its output as f32, with the time ONNX
    /// Runtime spent.
    pub fn run_bound(
        &self,
        binding: &Binding,
        observer: &mut dyn Observer,
    ) -> Result<(TensorF32, Duration)> {
        let (session, io) = match (&self.backend, &binding.kind) {
            (Backend::Local(session), BindingKind::Local(io)) => (session, io),
            (Backend::Remote(remote), BindingKind::Remote(bound)) => {
                let answer = remote.run(bound.clone(), &[&binding.output], observer)?;
                let out = answer.outputs.into_iter().next().ok_or_else(|| {
                    Error::package(format!("{} produced no {:?}", self.what, binding.output))
                })?;
                return Ok((tensor::decode(&out, &self.what)?, answer.wall));
            }
            _ => {
                return Err(Error::package(format!(
                    "a binding made for another graph was used with {}",
                    self.what
                )));
            }
        };
        let mut session = session.lock();
        let started = Instant::now();
        let results = session
            .run_binding(io)
            .map_err(|e| Error::inference(format_args!("run the {}", self.role), e))?;
        let elapsed = started.elapsed();
        let value = results.get(binding.output.as_str()).ok_or_else(|| {
            Error::package(format!(
                "the {} graph {} produced no {:?}",
                self.role,
                self.path.display(),
                binding.output
            ))
        })?;
        // NOTE: ONNX Runtime reuses the bound output's buffer on the next call; it is copied
        // into a vector here, before that can happen.
        Ok((self.from_value(value)?, elapsed))
    }

    /// A stateful graph's state: its (input, output) pairs `cache_in_<i>` / `cache_out_<i>`,
    /// numbered from 0 (docs/model-package.md, "stateful VAE graphs"); empty for other graphs.
    pub fn state_pairs(&self) -> Vec<(String, String)> {
        (0..)
            .map(|i| (format!("{STATE_IN}{i}"), format!("{STATE_OUT}{i}")))
            .take_while(|(i, o)| self.input(i).is_some() && self.output(o).is_some())
            .collect()
    }

    /// Inputs and outputs named like state (`cache_in_*`, `cache_out_*`), paired or not.
    pub fn state_like_ports(&self) -> (usize, usize) {
        let count = |ports: &[Port], prefix: &str| {
            ports.iter().filter(|p| p.name.starts_with(prefix)).count()
        };
        (
            count(&self.inputs, STATE_IN),
            count(&self.outputs, STATE_OUT),
        )
    }

    /// Runs a stateful graph: `state` (the previous call's, or `None` for the first call, which
    /// gets empty tensors of zero frames `[1, C, 0, 1, 1]`) goes to the inputs `state_in`, and the
    /// outputs `state_out` come back as the next call's state. The state stays in ONNX Runtime's
    /// own tensors between calls: a video VAE's caches are hundreds of MB at full resolution, and
    /// converting them to f32 vectors and back each call cost more than the decoding itself.
    pub fn run_stateful(
        &self,
        inputs: &[(&str, Input<'_>)],
        state_in: &[&str],
        state: Option<State>,
        outputs: &[&str],
        state_out: &[&str],
        observer: &mut dyn Observer,
    ) -> Result<(Vec<TensorF32>, State, Duration)> {
        let session = match &self.backend {
            Backend::Local(session) => session,
            Backend::Remote(remote) => {
                return self.run_remote(
                    remote, inputs, state_in, state, outputs, state_out, observer,
                );
            }
        };
        let previous = match state {
            None => None,
            Some(State(StateKind::Local(v))) => Some(v),
            Some(State(StateKind::Remote(_))) => {
                return Err(Error::package(format!(
                    "{} was handed the state of a remote graph",
                    self.what
                )));
            }
        };
        let mut values: Vec<(String, DynValue)> = Vec::with_capacity(inputs.len() + state_in.len());
        match previous {
            Some(previous) if previous.len() == state_in.len() => {
                for (name, v) in state_in.iter().zip(previous) {
                    values.push((name.to_string(), v));
                }
            }
            Some(previous) => {
                return Err(Error::package(format!(
                    "{} takes {} state tensors but {} came back from its last call",
                    self.what,
                    state_in.len(),
                    previous.len()
                )));
            }
            None => {
                for name in state_in {
                    let port = self.port_in(name)?;
                    let shape = empty_state_shape(port);
                    let empty = Input::F32 {
                        shape: &shape,
                        data: &[],
                    };
                    values.push((name.to_string(), self.to_value(port, &empty)?));
                }
            }
        }
        for (name, input) in inputs {
            let port = self.port_in(name)?;
            values.push((name.to_string(), self.to_value(port, input)?));
        }
        let mut session = session.lock();
        let started = Instant::now();
        let mut results = session
            .run(values)
            .map_err(|e| Error::inference(format_args!("run the {}", self.role), e))?;
        let elapsed = started.elapsed();
        let mut tensors = Vec::with_capacity(outputs.len());
        for &name in outputs {
            let value = results.get(name).ok_or_else(|| {
                Error::package(format!(
                    "the {} graph {} has no output named {name:?}",
                    self.role,
                    self.path.display()
                ))
            })?;
            tensors.push(self.from_value(value)?);
        }
        let mut next = Vec::with_capacity(state_out.len());
        for &name in state_out {
            next.push(results.remove(name).ok_or_else(|| {
                Error::package(format!(
                    "the {} graph {} has no output named {name:?}",
                    self.role,
                    self.path.display()
                ))
            })?);
        }
        Ok((tensors, State(StateKind::Local(next)), elapsed))
    }

    /// [`Graph::run_stateful`] on the server: the state travels with each call, as the server
    /// keeps nothing between calls.
    #[allow(clippy::too_many_arguments)]
    fn run_remote(
        &self,
        remote: &RemoteGraph,
        inputs: &[(&str, Input<'_>)],
        state_in: &[&str],
        state: Option<State>,
        outputs: &[&str],
        state_out: &[&str],
        observer: &mut dyn Observer,
    ) -> Result<(Vec<TensorF32>, State, Duration)> {
        let mut values: Vec<(String, RawTensor)> =
            Vec::with_capacity(inputs.len() + state_in.len());
        match state {
            Some(State(StateKind::Remote(previous))) if previous.len() == state_in.len() => {
                for (name, t) in state_in.iter().zip(previous) {
                    values.push((name.to_string(), t));
                }
            }
            Some(_) => {
                return Err(Error::package(format!(
                    "{} takes {} state tensors but another number came back from its last call",
                    self.what,
                    state_in.len()
                )));
            }
            None => {
                for name in state_in {
                    let port = self.port_in(name)?;
                    let shape = empty_state_shape(port);
                    let empty = Input::F32 {
                        shape: &shape,
                        data: &[],
                    };
                    values.push((name.to_string(), tensor::encode(port, &empty, &self.what)?));
                }
            }
        }
        for (name, input) in inputs {
            let port = self.port_in(name)?;
            values.push((name.to_string(), tensor::encode(port, input, &self.what)?));
        }
        let wanted: Vec<&str> = outputs.iter().chain(state_out).copied().collect();
        let answer = remote.run(values, &wanted, observer)?;
        let mut raw = answer.outputs.into_iter();
        let mut tensors = Vec::with_capacity(outputs.len());
        for _ in outputs {
            if let Some(t) = raw.next() {
                tensors.push(tensor::decode(&t, &self.what)?);
            }
        }
        Ok((
            tensors,
            State(StateKind::Remote(raw.collect())),
            answer.wall,
        ))
    }

    fn port_in(&self, name: &str) -> Result<&Port> {
        // (the message names the graph file, or the server's model)
        self.input(name).ok_or_else(|| {
            Error::package(format!(
                "{} has no input named {name:?} (it has: {})",
                self.what,
                self.inputs
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn to_value(&self, port: &Port, input: &Input<'_>) -> Result<DynValue> {
        let bad =
            |e: ort::Error| Error::inference(format_args!("build inputs for the {}", self.role), e);
        let mismatch = |got: &str| {
            Error::package(format!(
                "the {} graph {} declares input {:?} as {:?}, which cannot take {got}",
                self.role,
                self.path.display(),
                port.name,
                port.elem
            ))
        };
        Ok(match (input, port.elem) {
            (Input::F32 { shape, data }, TensorElementType::Float32) => {
                Tensor::from_array((shape.to_vec(), data.to_vec()))
                    .map_err(bad)?
                    .into_dyn()
            }
            (Input::F32 { shape, data }, TensorElementType::Float16) => {
                let v: Vec<f16> = data.iter().map(|&x| f16::from_f32(x)).collect();
                Tensor::from_array((shape.to_vec(), v))
                    .map_err(bad)?
                    .into_dyn()
            }
            (Input::F32 { shape, data }, TensorElementType::Bfloat16) => {
                let v: Vec<bf16> = data.iter().map(|&x| bf16::from_f32(x)).collect();
                Tensor::from_array((shape.to_vec(), v))
                    .map_err(bad)?
                    .into_dyn()
            }
            (Input::F32 { shape, data }, TensorElementType::Int64) => {
                // NOTE: integer timesteps (DDPM-family exports); diffusers rounds the same way.
                let v: Vec<i64> = data.iter().map(|&x| x.round() as i64).collect();
                Tensor::from_array((shape.to_vec(), v))
                    .map_err(bad)?
                    .into_dyn()
            }
            (Input::I64 { shape, data }, TensorElementType::Int64) => {
                Tensor::from_array((shape.to_vec(), data.to_vec()))
                    .map_err(bad)?
                    .into_dyn()
            }
            (Input::I64 { shape, data }, TensorElementType::Int32) => {
                let v: Vec<i32> = data.iter().map(|&x| x as i32).collect();
                Tensor::from_array((shape.to_vec(), v))
                    .map_err(bad)?
                    .into_dyn()
            }
            (Input::F32 { .. }, _) => return Err(mismatch("floating point data")),
            (Input::I64 { .. }, _) => return Err(mismatch("integer ids")),
        })
    }

    #[allow(clippy::wrong_self_convention)]
    fn from_value(&self, value: &DynValue) -> Result<TensorF32> {
        let bad =
            |e: ort::Error| Error::inference(format_args!("read the {} output", self.role), e);
        let elem = value.dtype().tensor_type();
        let (shape, data) = match elem {
            Some(TensorElementType::Float32) => {
                let (s, d) = value.try_extract_tensor::<f32>().map_err(bad)?;
                (s.iter().map(|&x| x as usize).collect(), d.to_vec())
            }
            Some(TensorElementType::Float16) => {
                let (s, d) = value.try_extract_tensor::<f16>().map_err(bad)?;
                (
                    s.iter().map(|&x| x as usize).collect(),
                    d.iter().map(|x| x.to_f32()).collect(),
                )
            }
            Some(TensorElementType::Bfloat16) => {
                let (s, d) = value.try_extract_tensor::<bf16>().map_err(bad)?;
                (
                    s.iter().map(|&x| x as usize).collect(),
                    d.iter().map(|x| x.to_f32()).collect(),
                )
            }
            other => {
                return Err(Error::package(format!(
                    "the {} graph {} produced {other:?} output; float32, float16 or bfloat16 \
                     expected",
                    self.role,
                    self.path.display()
                )));
            }
        };
        Ok(TensorF32 { shape, data })
    }
}

/// The first call of a stateful graph gets empty caches of zero frames, `[1, C, 0, 1, 1]`.
fn empty_state_shape(port: &Port) -> [usize; 5] {
    let channels = port.shape.get(1).copied().filter(|&d| d > 0).unwrap_or(1);
    [1, channels as usize, 0, 1, 1]
}
