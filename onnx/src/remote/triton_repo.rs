//! Writing a Triton model repository for a model package.
//!
//! Each graph becomes one Triton model: `<out>/<model_name>/config.pbtxt` and
//! `<out>/<model_name>/1/model.onnx`, with the graph's external-data sidecars beside it at the
//! relative locations the graph records. The configuration declares the ports the graph file
//! declares (read with [`read_ports_and_unranked`], no ONNX Runtime needed) in the form Triton's
//! ONNX Runtime backend checks against its own session: `max_batch_size: 0` (our graphs carry
//! their batch dimension, CFG included), -1 for dynamic dimensions.
//!
//! Written for Triton's `ModelConfig` protobuf (triton-inference-server/common,
//! `protobuf/model_config.proto`) and the ONNX Runtime backend's rules
//! (triton-inference-server/onnxruntime_backend, README and `src/onnxruntime.cc`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};

use ort::value::TensorElementType;

use super::names::model_name;
use crate::error::{Error, ErrorKind, Result};
use crate::package::external_data::external_locations;
use crate::package::onnx_ports::{GraphPorts, read_ports_and_unranked};
use crate::package::{GraphFile, GraphRole, ModelPackage};
use crate::runtime::{Port, session_ports};

/// How the graph files get into the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Copies: the repository stands alone (another machine, a container image).
    #[default]
    Copy,
    /// Symbolic links to the package's files (absolute, canonical paths): no extra disk, but
    /// the server must see the package at the same path.
    Symlink,
    /// Hard links: no extra disk and no dependence on paths, on the package's filesystem only.
    Hardlink,
}

/// Which accelerator Triton's ONNX Runtime backend puts in front of the graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accelerator {
    /// The backend's default: the CUDA execution provider on GPU instances, the CPU on CPU ones.
    #[default]
    None,
    /// ONNX Runtime's TensorRT execution provider, CUDA for what TensorRT cannot take.
    TensorRt { fp16: bool },
}

/// How the repository is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoOptions {
    pub placement: Placement,
    pub accelerator: Accelerator,
    /// Instances of each model per GPU (or in all, with CPU instances); at least 1.
    pub instances: u32,
    /// GPU instances (`KIND_GPU`); false writes `KIND_CPU`, for a CPU-only Triton.
    pub kind_gpu: bool,
}

impl Default for RepoOptions {
    fn default() -> Self {
        Self {
            placement: Placement::Copy,
            accelerator: Accelerator::None,
            instances: 1,
            kind_gpu: true,
        }
    }
}

/// One model written into the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoModel {
    pub role: GraphRole,
    /// The model's name on the server (its folder name).
    pub name: String,
    /// The model's folder.
    pub dir: PathBuf,
}

/// The version folder Triton loads (it serves the highest number present; we write one).
const VERSION_DIR: &str = "1";
/// The file name Triton's ONNX Runtime backend loads by default.
const MODEL_FILE: &str = "model.onnx";
const CONFIG_FILE: &str = "config.pbtxt";

/// TensorRT's scratch memory per engine. Triton's default (1 GiB) starves the attention layers
/// of video transformers of tactics; TensorRT takes less when it can.
const TRT_WORKSPACE_BYTES: u64 = 4 << 30;

/// A graph's model, planned before anything is written.
struct Plan<'a> {
    graph: &'a GraphFile,
    name: String,
    /// (relative location, source file) of each sidecar.
    sidecars: Vec<(PathBuf, PathBuf)>,
    config: String,
}

/// Writes a Triton model repository for `package` into `out` (created if missing; an existing
/// model folder of the same name is replaced, other folders are left alone).
///
/// Every graph is read and checked before anything is written, so a graph Triton could not
/// serve leaves the repository as it was. Each file appears under its final name complete
/// (written or linked under a temporary name, then renamed), so an interrupted run never
/// leaves half a graph for a server to load.
pub fn write(package: &ModelPackage, out: &Path, options: &RepoOptions) -> Result<Vec<RepoModel>> {
    check_options(options)?;
    let mut plans = Vec::new();
    for graph in package.graphs() {
        plans.push(plan(package, graph, options)?);
    }
    fs::create_dir_all(out).map_err(|e| Error::io("create the repository folder", out, e))?;
    let out = crate::paths::canonicalize(out)
        .map_err(|e| Error::io("open the repository folder", out, e))?;
    let mut written = Vec::new();
    for p in plans {
        let dir = out.join(&p.name);
        write_model(&p, &dir, options.placement)?;
        written.push(RepoModel {
            role: p.graph.role,
            name: p.name,
            dir,
        });
    }
    Ok(written)
}

fn check_options(options: &RepoOptions) -> Result<()> {
    if options.instances == 0 {
        return Err(Error::setting(
            "the instance count is 0; Triton needs at least 1 instance of each model",
        ));
    }
    if matches!(options.accelerator, Accelerator::TensorRt { .. }) && !options.kind_gpu {
        return Err(Error::setting(
            "TensorRT runs on GPU instances only; drop the CPU instances (--cpu) or TensorRT \
             (--tensorrt)",
        ));
    }
    Ok(())
}

fn plan<'a>(
    package: &ModelPackage,
    graph: &'a GraphFile,
    options: &RepoOptions,
) -> Result<Plan<'a>> {
    let m = package.manifest();
    let name = model_name(&m.name, package.identity(), graph.role);
    let locations = external_locations(&graph.path)?;
    // NOTE: `external_data` holds one canonical path per location, in the same (sorted) order;
    // the package checked both when it opened.
    if locations.len() != graph.external_data.len() {
        return Err(Error::package(format!(
            "{} changed since the package was opened (its external data differs); run the \
             command again",
            graph.path.display()
        )));
    }
    let mut sidecars = Vec::new();
    for (loc, src) in locations.iter().zip(&graph.external_data) {
        let plain = Path::new(loc)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        let rel: PathBuf = Path::new(loc)
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        if !plain || rel.as_os_str().is_empty() || rel == Path::new(MODEL_FILE) {
            return Err(Error::package(format!(
                "{} records its external data at {loc:?}, which cannot be placed beside \
                 {MODEL_FILE} in a Triton model folder; re-export the graph with its sidecars \
                 in its own folder",
                graph.path.display()
            )));
        }
        sidecars.push((rel, src.clone()));
    }
    let ports = triton_ports(graph)?;
    let mut config = header(package, graph);
    let _ = writeln!(config, "name: {}", quote(&name));
    config.push_str("platform: \"onnxruntime_onnx\"\n");
    // NOTE: 0 = Triton does not batch requests; our graphs take the batch (CFG's 2) as data.
    config.push_str("max_batch_size: 0\n");
    config.push_str(&ports_block("input", &ports.inputs, graph)?);
    config.push_str(&ports_block("output", &ports.outputs, graph)?);
    let _ = writeln!(
        config,
        "instance_group [\n  {{\n    count: {}\n    kind: {}\n  }}\n]",
        options.instances,
        if options.kind_gpu {
            "KIND_GPU"
        } else {
            "KIND_CPU"
        }
    );
    if let Accelerator::TensorRt { fp16 } = options.accelerator {
        let _ = writeln!(
            config,
            "optimization {{\n  execution_accelerators {{\n    gpu_execution_accelerator : [\n      \
             {{\n        name : \"tensorrt\"\n        parameters {{ key: \"precision_mode\" value: \
             \"{}\" }}\n        parameters {{ key: \"max_workspace_size_bytes\" value: \"{}\" }}\n      \
             }}\n    ]\n  }}\n}}",
            if fp16 { "FP16" } else { "FP32" },
            TRT_WORKSPACE_BYTES
        );
    }
    Ok(Plan {
        graph,
        name,
        sidecars,
        config,
    })
}

/// The ports Triton's ONNX Runtime backend will check the configuration against: the declared
/// inputs, and the outputs as an ONNX Runtime session reports them, which can be more precise
/// than the file's declarations (see [`crate::package::weightless`]). The backend compares
/// output dims exactly, so only the session's report loads.
fn triton_ports(graph: &GraphFile) -> Result<GraphPorts> {
    let (declared, unranked) = read_ports_and_unranked(&graph.path)?;
    if let Some(p) = declared.inputs.iter().find(|p| unranked.contains(&p.name)) {
        return Err(Error::package(format!(
            "{}: the input {:?} declares no shape, and Triton needs every input's rank (it would \
             take it for a scalar); re-export the graph with shapes on its inputs",
            graph.path.display(),
            p.name
        )));
    }
    let settled = declared
        .outputs
        .iter()
        .all(|p| !p.shape.is_empty() && p.shape.iter().all(|&d| d >= 0));
    if settled {
        return Ok(declared);
    }
    let rt = crate::runtime::load(None).map_err(|e| {
        Error::new(
            e.kind(),
            format!(
                "writing the Triton configuration of {} needs ONNX Runtime, to learn the output \
                 shapes Triton checks (the graph leaves some dynamic): {e}",
                graph.path.display()
            ),
        )
    })?;
    session_ports(&rt, &graph.path)
}

/// The `#` lines that say what the model serves and who wrote it.
fn header(package: &ModelPackage, graph: &GraphFile) -> String {
    let m = package.manifest();
    let rel = graph
        .path
        .strip_prefix(package.root())
        .unwrap_or(&graph.path);
    format!(
        "# The {} graph ({}) of the Promptreel package {:?} version {:?},\n\
         # identity {:?}.\n\
         # Written by `promptreel triton-repo`; the name changes when the package is re-exported,\n\
         # so write the repository again then.\n",
        graph.role.label(),
        one_line(&rel.display().to_string()),
        one_line(&m.name),
        one_line(&m.version),
        one_line(package.identity()),
    )
}

/// `s` with line breaks and other control characters made spaces, for a `#` comment.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` as a protobuf text-format string literal.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(q, "\\{b:03o}");
                }
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The `input [ ... ]` or `output [ ... ]` block.
fn ports_block(kind: &str, ports: &[Port], graph: &GraphFile) -> Result<String> {
    let mut s = format!("{kind} [\n");
    for (i, p) in ports.iter().enumerate() {
        let data_type = triton_type(p.elem).ok_or_else(|| {
            Error::package(format!(
                "{}: the {kind} {:?} is {:?}, which Triton's ONNX Runtime backend cannot pass; \
                 re-export the graph with float32, float16, bfloat16 or integer ports",
                graph.path.display(),
                p.name,
                p.elem
            ))
        })?;
        if let Some(d) = p.shape.iter().find(|&&d| d < -1 || d == 0) {
            return Err(Error::package(format!(
                "{}: the {kind} {:?} declares a dimension of {d} in {:?}; Triton takes only \
                 sizes >= 1 or -1 (dynamic): re-export the graph with that dimension dynamic",
                graph.path.display(),
                p.name,
                p.shape
            )));
        }
        // NOTE: Triton has no rank-0 dims. For a model that does not batch (max_batch_size 0)
        // a scalar is declared `dims: [ 1 ]` with no reshape: Triton refuses an empty reshape
        // there ("cannot have empty reshape for non-batching model", core
        // model_config_utils.cc), and the ONNX Runtime backend turns a [1] request into the
        // scalar the graph declares (onnxruntime_backend #213, Triton 23.10).
        let dims: Vec<String> = if p.shape.is_empty() {
            vec!["1".into()]
        } else {
            p.shape.iter().map(i64::to_string).collect()
        };
        let _ = write!(
            s,
            "  {{\n    name: {}\n    data_type: {data_type}\n    dims: [ {} ]\n  }}",
            quote(&p.name),
            dims.join(", ")
        );
        s.push_str(if i + 1 < ports.len() { ",\n" } else { "\n" });
    }
    s.push_str("]\n");
    Ok(s)
}

/// Triton's name for an element type, for those its ONNX Runtime backend passes.
fn triton_type(elem: TensorElementType) -> Option<&'static str> {
    use TensorElementType as T;
    Some(match elem {
        T::Bool => "TYPE_BOOL",
        T::Uint8 => "TYPE_UINT8",
        T::Uint16 => "TYPE_UINT16",
        T::Uint32 => "TYPE_UINT32",
        T::Uint64 => "TYPE_UINT64",
        T::Int8 => "TYPE_INT8",
        T::Int16 => "TYPE_INT16",
        T::Int32 => "TYPE_INT32",
        T::Int64 => "TYPE_INT64",
        T::Float16 => "TYPE_FP16",
        T::Bfloat16 => "TYPE_BF16",
        T::Float32 => "TYPE_FP32",
        T::Float64 => "TYPE_FP64",
        T::String => "TYPE_STRING",
        _ => return None,
    })
}

/// Writes one model folder: graph and sidecars first, the configuration last (a folder without
/// one is not a model yet), then whatever an earlier run left that this one did not write.
fn write_model(p: &Plan<'_>, dir: &Path, placement: Placement) -> Result<()> {
    // A file or a symlink where the folder goes is replaced by a real folder.
    if let Ok(meta) = fs::symlink_metadata(dir)
        && !meta.is_dir()
    {
        fs::remove_file(dir).map_err(|e| Error::io("replace", dir, e))?;
    }
    let version = dir.join(VERSION_DIR);
    place(&p.graph.path, &version.join(MODEL_FILE), placement)?;
    let mut keep: HashSet<PathBuf> = HashSet::from([PathBuf::from(MODEL_FILE)]);
    for (rel, src) in &p.sidecars {
        place(src, &version.join(rel), placement)?;
        keep.insert(rel.clone());
    }
    write_atomic(&dir.join(CONFIG_FILE), p.config.as_bytes())?;
    prune(
        dir,
        &HashSet::from([PathBuf::from(CONFIG_FILE), PathBuf::from(VERSION_DIR)]),
        true,
    )?;
    prune(&version, &keep, false)?;
    Ok(())
}

/// The temporary name `dst` is prepared under, in its own folder (so the rename is atomic).
fn temp_name(dst: &Path) -> Result<PathBuf> {
    let file = dst
        .file_name()
        .ok_or_else(|| Error::package(format!("{} has no file name to write", dst.display())))?;
    Ok(dst.with_file_name(format!(
        ".{}.promptreel-tmp-{}",
        file.to_string_lossy(),
        std::process::id()
    )))
}

/// Puts `src` at `dst` as `placement` says, atomically.
fn place(src: &Path, dst: &Path, placement: Placement) -> Result<()> {
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io("create the folder", parent, e))?;
    }
    let tmp = temp_name(dst)?;
    let _ = fs::remove_file(&tmp);
    let made = match placement {
        Placement::Copy => fs::copy(src, &tmp)
            .and_then(|_| fs::File::open(&tmp))
            // NOTE: flushed before the rename, so even a power cut never leaves a short file
            // under the final name.
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("copy the graph file", src, e)),
        Placement::Symlink => src
            .canonicalize()
            .and_then(|target| symlink(&target, &tmp))
            .map_err(|e| {
                io_with_hint(
                    "link to",
                    src,
                    e,
                    "symbolic links may need extra rights on Windows; use --placement copy",
                )
            }),
        Placement::Hardlink => fs::hard_link(src, &tmp).map_err(|e| {
            io_with_hint(
                "hard-link",
                src,
                e,
                "hard links work only within one filesystem; use --placement copy or symlink",
            )
        }),
    };
    if let Err(e) = made {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    finish(&tmp, dst)
}

/// An I/O error on `path` with what to do about it.
fn io_with_hint(doing: &str, path: &Path, cause: std::io::Error, hint: &str) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("could not {doing} {}: {cause}; {hint}", path.display()),
    )
    .with_cause(cause)
}

/// Renames the prepared `tmp` onto `dst`.
fn finish(tmp: &Path, dst: &Path) -> Result<()> {
    if let Err(e) = fs::rename(tmp, dst) {
        let _ = fs::remove_file(tmp);
        return Err(Error::io("write", dst, e));
    }
    // NOTE: renaming a hard link onto another link to the same file succeeds and does nothing
    // (POSIX rename), leaving the temporary name behind.
    if fs::symlink_metadata(tmp).is_ok() {
        let _ = fs::remove_file(tmp);
    }
    Ok(())
}

fn write_atomic(dst: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_name(dst)?;
    let written = fs::write(&tmp, bytes)
        .and_then(|_| fs::File::open(&tmp))
        .and_then(|f| f.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write", dst, e));
    }
    finish(&tmp, dst)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

/// Removes everything under `dir` whose path relative to it is not in `keep` (nor a folder on
/// the way to one). With `top_only`, entries in `keep` are kept whole. Links are removed, never
/// followed.
fn prune(dir: &Path, keep: &HashSet<PathBuf>, top_only: bool) -> Result<()> {
    prune_in(dir, Path::new(""), keep, top_only).map(|_| ())
}

/// Returns whether anything was kept under `dir`.
fn prune_in(dir: &Path, rel: &Path, keep: &HashSet<PathBuf>, top_only: bool) -> Result<bool> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut kept = false;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let path = entry.path();
        let rel_path = rel.join(entry.file_name());
        if keep.contains(&rel_path) {
            kept = true;
            continue;
        }
        let is_dir = fs::symlink_metadata(&path)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if is_dir && !top_only && prune_in(&path, &rel_path, keep, false)? {
            kept = true;
            continue;
        }
        let removed = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io("remove the stale", &path, e))?;
    }
    Ok(kept)
}
