//! A model ready to run: a checked package plus its ONNX Runtime sessions, created lazily and
//! checked against the manifest (tensor names, ranks, timestep type) when they are created.
//!
//! Models are shared through [`crate::registry`]; every method takes `&self` and is safe to call
//! from several threads.

use std::sync::Arc;

use ort::value::TensorElementType;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::family::{self, Family};
use crate::package::{FamilyName, GraphRole, ModelPackage, TimestepDtype};
use crate::runtime::{Graph, MemoryMode, Provider, Runtime, SessionOptions};

/// A model package with its sessions.
pub struct Model {
    package: ModelPackage,
    runtime: Arc<Runtime>,
    options: SessionOptions,
    family: &'static dyn Family,
    // NOTE: one slot per role; the lock is held while a session is built so two threads never
    // build the same session twice.
    sessions: [Mutex<Option<Arc<Graph>>>; 5],
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("root", &self.package.root())
            .field("options", &self.options)
            .finish()
    }
}

fn slot(role: GraphRole) -> usize {
    match role {
        GraphRole::TextEncoder => 0,
        GraphRole::Denoiser => 1,
        GraphRole::VaeDecoder => 2,
        GraphRole::VaeEncoder => 3,
        GraphRole::Denoiser2 => 4,
    }
}

impl Model {
    /// Wraps an opened package; no session is created yet.
    pub fn new(package: ModelPackage, runtime: Arc<Runtime>, options: SessionOptions) -> Self {
        let family = family::for_name(package.manifest().family);
        Self {
            package,
            runtime,
            options,
            family,
            sessions: Default::default(),
        }
    }

    pub fn package(&self) -> &ModelPackage {
        &self.package
    }

    /// The ONNX Runtime this model's sessions run on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    pub(crate) fn family(&self) -> &'static dyn Family {
        self.family
    }

    /// The session for `role`, created (and checked) on first use.
    pub fn graph(&self, role: GraphRole) -> Result<Arc<Graph>> {
        let mut slot = self.sessions[slot(role)].lock();
        if let Some(g) = slot.as_ref() {
            return Ok(g.clone());
        }
        let file = self.package.graph(role).ok_or_else(|| {
            Error::package(format!(
                "the model {} has no {}",
                self.package.root().display(),
                role.label()
            ))
        })?;
        let graph = match &self.options.server {
            Some(server) => {
                let m = self.package.manifest();
                let name = crate::remote::names::model_name(&m.name, self.package.identity(), role);
                Graph::remote(server, &name, role.label(), &file.path)?
            }
            None if self.options.device == crate::runtime::Device::Remote => {
                return Err(Error::setting(
                    "the remote device needs the server's address (--server URL, or the Server \
                     parameter), e.g. http://gpu-server:8001",
                ));
            }
            None => Graph::load(
                &self.runtime,
                role.label(),
                &file.path,
                self.options.clone(),
            )?,
        };
        self.check(role, &graph)?;
        let graph = Arc::new(graph);
        *slot = Some(graph.clone());
        Ok(graph)
    }

    /// Bytes of the weights whose sessions are loaded now (they are already in memory, so a
    /// generation's estimate need not find room for them again).
    pub fn loaded_weight_bytes(&self) -> u64 {
        [
            GraphRole::TextEncoder,
            GraphRole::Denoiser,
            GraphRole::Denoiser2,
            GraphRole::VaeDecoder,
            GraphRole::VaeEncoder,
        ]
        .into_iter()
        .filter(|r| self.sessions[slot(*r)].lock().is_some())
        .filter_map(|r| self.package.graph(r))
        .map(|g| g.bytes)
        .sum()
    }

    /// Creates every session now (useful before timing, or to surface errors early).
    pub fn load_all(&self) -> Result<()> {
        for role in [
            GraphRole::TextEncoder,
            GraphRole::Denoiser,
            GraphRole::Denoiser2,
            GraphRole::VaeDecoder,
        ] {
            if self.package.graph(role).is_some() {
                self.graph(role)?;
            }
        }
        Ok(())
    }

    /// The provider of each session created so far.
    pub fn providers(&self) -> Vec<(GraphRole, Provider)> {
        [
            GraphRole::TextEncoder,
            GraphRole::Denoiser,
            GraphRole::Denoiser2,
            GraphRole::VaeDecoder,
            GraphRole::VaeEncoder,
        ]
        .into_iter()
        .filter_map(|r| {
            self.sessions[slot(r)]
                .lock()
                .as_ref()
                .map(|g| (r, g.provider()))
        })
        .collect()
    }

    /// The memory mode in force: the option, with `Auto` decided now (sequential when the
    /// package's weights exceed half of the memory available).
    pub fn memory_mode(&self) -> MemoryMode {
        crate::budget::resolve_mode(self.options.memory, self.package.weight_bytes())
    }

    /// Drops one role's session (a generation in sequential mode, when the phase ends); a
    /// caller still holding it keeps it alive until it lets go.
    pub fn release(&self, role: GraphRole) {
        let dropped = self.sessions[slot(role)].lock().take();
        // the session is freed here unless another generation still holds it
        if let Some(g) = dropped
            && Arc::into_inner(g).is_some()
        {
            crate::memory::trim();
        }
    }

    /// Drops the sessions (they are rebuilt on next use).
    pub fn drop_sessions(&self) {
        for s in &self.sessions {
            *s.lock() = None;
        }
    }

    /// Checks a freshly loaded graph against the manifest.
    fn check(&self, role: GraphRole, g: &Graph) -> Result<()> {
        let m = self.package.manifest();
        let family = self.family();
        let expect = |name: &str, rank: Option<usize>, input: bool| -> Result<()> {
            let port = if input { g.input(name) } else { g.output(name) };
            let list = |ports: &[crate::runtime::Port]| {
                ports
                    .iter()
                    .map(|p| format!("{} (rank {})", p.name, p.shape.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let Some(port) = port else {
                return Err(Error::package(format!(
                    "the {} graph {} has no {} named {name:?}; it has: {}. Fix the names in \
                     promptreel.json",
                    role.label(),
                    g.path().display(),
                    if input { "input" } else { "output" },
                    if input {
                        list(g.inputs())
                    } else {
                        list(g.outputs())
                    }
                )));
            };
            if let Some(rank) = rank
                && port.shape.len() != rank
            {
                return Err(Error::package(format!(
                    "the {} graph {}: {name:?} has rank {} but the {} family needs rank {rank}; \
                     this graph does not belong to a {} model",
                    role.label(),
                    g.path().display(),
                    port.shape.len(),
                    m.family.as_str(),
                    m.family.as_str()
                )));
            }
            Ok(())
        };
        match role {
            GraphRole::TextEncoder => {
                expect(&m.text_encoder.input_ids, Some(2), true)?;
                if let Some(mask) = &m.text_encoder.attention_mask {
                    expect(mask, Some(2), true)?;
                }
                expect(&m.text_encoder.output, Some(3), false)?;
            }
            GraphRole::Denoiser | GraphRole::Denoiser2 => {
                let d = if role == GraphRole::Denoiser2 {
                    m.denoiser_2.as_ref().unwrap_or(&m.denoiser)
                } else {
                    &m.denoiser
                };
                expect(&d.sample, Some(self.family.sample_rank()), true)?;
                expect(&d.timestep, None, true)?;
                expect(&d.encoder_hidden_states, Some(3), true)?;
                expect(&d.output, Some(self.family.sample_rank()), false)?;
                let ts = g.input(&d.timestep).map(|p| p.elem);
                let want = match d.timestep_dtype {
                    TimestepDtype::Float32 => TensorElementType::Float32,
                    TimestepDtype::Float16 => TensorElementType::Float16,
                    TimestepDtype::Int64 => TensorElementType::Int64,
                };
                if ts != Some(want) {
                    return Err(Error::package(format!(
                        "the denoiser {} takes its timestep as {ts:?}, but promptreel.json says \
                         timestep_dtype {:?}; correct the manifest",
                        g.path().display(),
                        d.timestep_dtype
                    )));
                }
                // [batch, frames]: one timestep per latent frame (LTX, whose first frame can
                // be a conditioning image at timestep 0)
                let most = if m.family == FamilyName::Ltx { 2 } else { 1 };
                if g.input(&d.timestep)
                    .map(|p| p.shape.len() > most)
                    .unwrap_or(false)
                {
                    return Err(Error::package(format!(
                        "the denoiser {} takes a timestep of rank > {most}; a scalar or [batch]{} \
                         is expected",
                        g.path().display(),
                        if most == 2 { " or [batch, frames]" } else { "" }
                    )));
                }
            }
            GraphRole::VaeDecoder => {
                // stateful step graphs work on [B, C, T, h, w] chunks, LTX's on the whole
                // [B, C, F, h, w] clip; per-frame ones on [N, C, h, w]
                let video = m.vae_decoder.stateful || family.decodes_whole_clip();
                let rank = if video { 5 } else { 4 };
                expect(&m.vae_decoder.input, Some(rank), true)?;
                expect(&m.vae_decoder.output, Some(rank), false)?;
                if m.vae_decoder.stateful {
                    check_state(g, role)?;
                }
            }
            GraphRole::VaeEncoder => {
                if let Some(enc) = &m.vae_encoder {
                    let video = enc.stateful || family.decodes_whole_clip();
                    let rank = if video { 5 } else { 4 };
                    expect(&enc.input, Some(rank), true)?;
                    expect(&enc.output, Some(rank), false)?;
                    if enc.stateful {
                        check_state(g, role)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A stateful graph's caches come in pairs, `cache_in_<i>` -> `cache_out_<i>`, numbered from 0.
fn check_state(g: &Graph, role: GraphRole) -> Result<()> {
    let pairs = g.state_pairs().len();
    let (ins, outs) = g.state_like_ports();
    if pairs == 0 || ins != pairs || outs != pairs {
        return Err(Error::package(format!(
            "the {} graph {} is marked stateful in promptreel.json but does not have paired \
             cache_in_<i> / cache_out_<i> tensors ({ins} inputs, {outs} outputs); export it again \
             with tools/export.py",
            role.label(),
            g.path().display()
        )));
    }
    Ok(())
}
