//! Finding the external-data files an ONNX graph refers to, without loading its weights.
//!
//! ONNX stores big tensors outside the `.onnx` file and records their `location` relative to
//! the graph. A hostile or broken package could point that at any file on the machine, and ONNX
//! Runtime would read it; so before a graph reaches ONNX Runtime we walk its protobuf just far
//! enough to list every location, skipping over weight bytes with seeks. The walk also catches
//! a truncated or corrupt file with a message that names it.
//!
//! Field numbers are from onnx.proto3: ModelProto.graph = 7; GraphProto.node = 1,
//! .initializer = 5, .sparse_initializer = 15; NodeProto.attribute = 5; AttributeProto.t = 5,
//! .g = 6, .tensors = 10, .graphs = 11, .sparse_tensor = 22, .sparse_tensors = 23;
//! SparseTensorProto.values = 1, .indices = 2; TensorProto.external_data = 13;
//! StringStringEntryProto.key = 1, .value = 2.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Component, Path, PathBuf};

use super::protobuf::{Field, Reader, WalkResult};
use crate::error::{Error, Result};

/// What kind of protobuf message a byte range holds, for the fields we descend into.
#[derive(Clone, Copy)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    Entry,
}

fn child(msg: Msg, field: u64) -> Option<Msg> {
    Some(match (msg, field) {
        (Msg::Model, 7) => Msg::Graph,
        (Msg::Graph, 1) => Msg::Node,
        (Msg::Graph, 5) => Msg::Tensor,
        (Msg::Graph, 15) => Msg::SparseTensor,
        (Msg::Node, 5) => Msg::Attribute,
        (Msg::Attribute, 5 | 10) => Msg::Tensor,
        (Msg::Attribute, 6 | 11) => Msg::Graph,
        (Msg::Attribute, 22 | 23) => Msg::SparseTensor,
        (Msg::SparseTensor, 1 | 2) => Msg::Tensor,
        (Msg::Tensor, 13) => Msg::Entry,
        _ => return None,
    })
}

/// Walks `len` bytes holding a `msg`, adding every external-data location to `locations`;
/// returns (key, value) for entries.
fn walk<R: Read + Seek>(
    r: &mut Reader<R>,
    msg: Msg,
    len: u64,
    depth: u32,
    locations: &mut Vec<String>,
) -> WalkResult<(String, String)> {
    if depth > 64 {
        return Err("graphs are nested more than 64 levels deep".into());
    }
    let (mut key, mut value) = (String::new(), String::new());
    r.message(len, |r, field| {
        let Field::Bytes { num, size } = field else {
            return Ok(());
        };
        match (msg, num) {
            (Msg::Entry, 1) => key = r.string(size, "an external-data entry", 64 * 1024)?,
            (Msg::Entry, 2) => value = r.string(size, "an external-data entry", 64 * 1024)?,
            _ => match child(msg, num) {
                Some(Msg::Entry) => {
                    let (k, v) = walk(r, Msg::Entry, size, depth + 1, locations)?;
                    if k == "location" {
                        locations.push(v);
                    }
                }
                Some(inner) => {
                    walk(r, inner, size, depth + 1, locations)?;
                }
                None => {}
            },
        }
        Ok(())
    })?;
    Ok((key, value))
}

/// Lists the external-data locations recorded in the ONNX file at `path` (possibly none).
pub fn external_locations(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("read the size of", path, e))?
        .len();
    if len == 0 {
        return Err(Error::package(format!(
            "{} is empty; re-export the model or copy the file again",
            path.display()
        )));
    }
    let mut locations = Vec::new();
    walk(&mut Reader::new(file), Msg::Model, len, 0, &mut locations).map_err(|why| {
        Error::package(format!(
            "{} is not a valid ONNX file ({why}); it may be truncated or corrupt: re-export it \
             or copy it again",
            path.display()
        ))
    })?;
    locations.sort();
    locations.dedup();
    Ok(locations)
}

/// Checks that every external-data file of the graph at `graph` exists inside `root`, and
/// returns their paths. `root` must be canonical.
pub fn check_external_data(graph: &Path, root: &Path) -> Result<Vec<PathBuf>> {
    let dir = graph.parent().unwrap_or(root);
    let mut files = Vec::new();
    for loc in external_locations(graph)? {
        let rel = Path::new(&loc);
        let escapes = rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
        let escape_err = || {
            Error::package(format!(
                "{} refers to external data at {loc:?}, outside the model folder {}; refusing to \
                 load it. Sidecar files must sit inside the package (re-export the model)",
                graph.display(),
                root.display()
            ))
        };
        if escapes {
            return Err(escape_err());
        }
        let full = dir.join(rel);
        let canon = crate::paths::canonicalize(&full).map_err(|_| {
            Error::package(format!(
                "{} refers to external data {loc:?}, but {} does not exist; copy the sidecar \
                 file next to the graph",
                graph.display(),
                full.display()
            ))
        })?;
        // NOTE: a symlink inside the folder could still point outside it. Compared in the
        // system's own canonical form: on Windows one of the two may be verbatim (`\\?\`) and
        // the other not, when only one is longer than the ordinary form allows.
        let inside = match (full.canonicalize(), root.canonicalize()) {
            (Ok(f), Ok(r)) => f.starts_with(r),
            _ => canon.starts_with(root),
        };
        if !inside {
            return Err(escape_err());
        }
        files.push(canon);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field(num: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    /// A ModelProto with one initializer whose external data is at `loc`, plus raw bytes.
    fn model_with_location(loc: &str) -> Vec<u8> {
        let mut entry = Vec::new();
        field(1, b"location", &mut entry);
        field(2, loc.as_bytes(), &mut entry);
        let mut tensor = Vec::new();
        varint(1 << 3, &mut tensor); // dims
        varint(4, &mut tensor);
        field(8, b"w", &mut tensor); // name
        field(13, &entry, &mut tensor);
        let mut graph = Vec::new();
        field(5, &tensor, &mut graph);
        field(2, b"graph-name", &mut graph);
        let mut model = Vec::new();
        varint(1 << 3, &mut model); // ir_version
        varint(8, &mut model);
        field(7, &graph, &mut model);
        model
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("promptreel-ext-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("unet")).expect("temp dir");
        d.canonicalize().expect("canonical")
    }

    #[test]
    fn finds_locations_and_accepts_a_sidecar_inside() {
        let root = temp_dir("inside");
        let graph = root.join("unet/model.onnx");
        std::fs::write(&graph, model_with_location("model.onnx_data")).expect("write");
        std::fs::write(root.join("unet/model.onnx_data"), [0u8; 16]).expect("write");
        assert_eq!(
            external_locations(&graph).expect("parse"),
            vec!["model.onnx_data"]
        );
        let files = check_external_data(&graph, &root).expect("inside");
        assert_eq!(files, vec![root.join("unet/model.onnx_data")]);
    }

    #[test]
    fn refuses_a_sidecar_escaping_the_folder() {
        let root = temp_dir("escape");
        let graph = root.join("unet/model.onnx");
        for loc in ["../../etc/passwd", "/etc/passwd"] {
            std::fs::write(&graph, model_with_location(loc)).expect("write");
            let err = check_external_data(&graph, &root)
                .err()
                .map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(
                err.contains("outside the model folder") && err.contains(loc),
                "{err}"
            );
        }
    }

    #[test]
    fn missing_sidecar_is_named() {
        let root = temp_dir("missing");
        let graph = root.join("unet/model.onnx");
        std::fs::write(&graph, model_with_location("weights.bin")).expect("write");
        let err = check_external_data(&graph, &root)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("weights.bin") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_empty_files_are_reported() {
        let root = temp_dir("trunc");
        let graph = root.join("unet/model.onnx");
        let bytes = model_with_location("x.bin");
        std::fs::write(&graph, &bytes[..bytes.len() - 5]).expect("write");
        let err = external_locations(&graph)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("truncated or corrupt") && err.contains("model.onnx"),
            "{err}"
        );
        std::fs::write(&graph, b"").expect("write");
        let err = external_locations(&graph)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("is empty"), "{err}");
    }
}
