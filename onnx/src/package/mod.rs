//! Model packages: a folder in optimum's ONNX layout plus our manifest.
//!
//! [`ModelPackage::open`] makes every check that does not need ONNX Runtime: files exist, graphs
//! parse far enough to list their external data (which must stay inside the folder), the
//! scheduler config and tokenizer load. Graph-level checks (tensor names, ranks, dtypes) happen
//! when sessions are created, in [`crate::model`].

pub mod external_data;
pub mod manifest;
pub mod onnx_ports;
mod protobuf;
pub mod weightless;

use std::path::{Path, PathBuf};

pub use manifest::{FamilyName, Manifest, TimestepDtype};

use crate::error::{Error, Result};
use crate::scheduler::SchedulerConfig;
use crate::tokenizer::PromptTokenizer;

/// The graphs of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphRole {
    TextEncoder,
    Denoiser,
    /// Wan 2.2 A14B's low-noise transformer (`denoiser_2` in the manifest).
    Denoiser2,
    VaeDecoder,
    VaeEncoder,
}

impl GraphRole {
    pub fn label(self) -> &'static str {
        match self {
            Self::TextEncoder => "text encoder",
            Self::Denoiser => "denoiser",
            Self::Denoiser2 => "low-noise denoiser",
            Self::VaeDecoder => "VAE decoder",
            Self::VaeEncoder => "VAE encoder",
        }
    }
}

/// A graph file of the package and its sidecars.
#[derive(Debug, Clone)]
pub struct GraphFile {
    pub role: GraphRole,
    pub path: PathBuf,
    pub external_data: Vec<PathBuf>,
    /// Bytes on disk, graph plus sidecars.
    pub bytes: u64,
}

/// An opened, statically checked model package.
#[derive(Debug)]
pub struct ModelPackage {
    root: PathBuf,
    manifest: Manifest,
    scheduler: SchedulerConfig,
    tokenizer: PromptTokenizer,
    graphs: Vec<GraphFile>,
    identity: String,
}

impl ModelPackage {
    /// Opens and checks the package in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let root = crate::paths::canonicalize(dir).map_err(|e| {
            Error::package(format!(
                "model folder {} cannot be opened ({e}); give the folder that holds \
                 promptreel.json",
                dir.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(Error::package(format!(
                "{} is a file, not a model folder; give the folder that holds promptreel.json",
                dir.display()
            )));
        }
        let manifest = Manifest::read(&root)?;
        let scheduler =
            SchedulerConfig::from_file(&file_in(&root, &manifest.scheduler, "scheduler")?)?;
        let tok_path = file_in(&root, &manifest.tokenizer.path, "tokenizer")?;
        let tokenizer = PromptTokenizer::load(
            &tok_path,
            manifest.tokenizer.max_length as usize,
            manifest.tokenizer.pad_token.as_deref(),
        )?;
        let mut specs = vec![
            (GraphRole::TextEncoder, manifest.text_encoder.path.clone()),
            (GraphRole::Denoiser, manifest.denoiser.path.clone()),
            (GraphRole::VaeDecoder, manifest.vae_decoder.path.clone()),
        ];
        if let Some(d2) = &manifest.denoiser_2 {
            specs.push((GraphRole::Denoiser2, d2.path.clone()));
        }
        if let Some(enc) = &manifest.vae_encoder {
            specs.push((GraphRole::VaeEncoder, enc.path.clone()));
        }
        let mut graphs = Vec::new();
        for (role, rel) in specs {
            let path = file_in(&root, &rel, role.label())?;
            let external_data = external_data::check_external_data(&path, &root)?;
            let mut bytes = file_len(&path)?;
            for f in &external_data {
                bytes += file_len(f)?;
            }
            graphs.push(GraphFile {
                role,
                path,
                external_data,
                bytes,
            });
        }
        let (_, identity) = identity(&root)?;
        Ok(Self {
            root,
            manifest,
            scheduler,
            tokenizer,
            graphs,
            identity,
        })
    }

    /// The canonical package folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn scheduler_config(&self) -> &SchedulerConfig {
        &self.scheduler
    }

    pub fn tokenizer(&self) -> &PromptTokenizer {
        &self.tokenizer
    }

    pub fn graphs(&self) -> &[GraphFile] {
        &self.graphs
    }

    /// The graph file for `role`, if the package has one.
    pub fn graph(&self, role: GraphRole) -> Option<&GraphFile> {
        self.graphs.iter().find(|g| g.role == role)
    }

    /// Total bytes of all graphs and sidecars (the weights).
    pub fn weight_bytes(&self) -> u64 {
        self.graphs.iter().map(|g| g.bytes).sum()
    }

    /// See [`identity`]: name, version and graph sizes.
    pub fn identity(&self) -> &str {
        &self.identity
    }
}

fn identity_string(m: &Manifest, sizes: impl Iterator<Item = u64>) -> String {
    let sizes: Vec<String> = sizes.map(|b| b.to_string()).collect();
    format!("{}@{}#{}", m.name, m.version, sizes.join("-"))
}

/// Reads just the manifest of the package in `dir` and its identity: a string that changes
/// whenever the weights could have changed (name, version and the size of every graph file and
/// sidecar). It does not depend on where the package lives, so caches made on one machine are
/// valid on another (render farms). Cheap: no tokenizer, no ONNX Runtime.
pub fn identity(dir: &Path) -> Result<(Manifest, String)> {
    let root = crate::paths::canonicalize(dir).map_err(|e| {
        Error::package(format!(
            "model folder {} cannot be opened ({e}); give the folder that holds promptreel.json",
            dir.display()
        ))
    })?;
    let manifest = Manifest::read(&root)?;
    let mut rels = vec![
        &manifest.text_encoder.path,
        &manifest.denoiser.path,
        &manifest.vae_decoder.path,
    ];
    if let Some(enc) = &manifest.vae_encoder {
        rels.push(&enc.path);
    }
    let mut sizes = Vec::new();
    for rel in rels {
        let path = file_in(&root, rel, "graph")?;
        let mut bytes = file_len(&path)?;
        // Sidecars sit next to the graph; count every file of the graph's folder but the graph.
        if let Some(dir) = path.parent()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for e in entries.flatten() {
                let p = e.path();
                if p != path && p.is_file() {
                    bytes += file_len(&p)?;
                }
            }
        }
        sizes.push(bytes);
    }
    let id = identity_string(&manifest, sizes.into_iter());
    Ok((manifest, id))
}

/// Resolves `rel` inside `root`, refusing paths that leave it, and checks the file exists.
fn file_in(root: &Path, rel: &str, what: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::package(format!(
            "{}: the {what} path {rel:?} must be relative to the model folder and stay inside it",
            root.join(manifest::MANIFEST_FILE).display()
        )));
    }
    let full = root.join(p);
    if !full.is_file() {
        return Err(Error::package(format!(
            "the {what} file {} is missing; the package is incomplete (export it again, or fix \
             the path in promptreel.json)",
            full.display()
        )));
    }
    Ok(full)
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io("read the size of", path, e))?
        .len())
}
