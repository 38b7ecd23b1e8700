//! `package::onnx_ports::read_ports` and `runtime::session_ports` against ONNX Runtime: for
//! every graph we ship or test with, the inputs read from the file equal what a session of the
//! same file reports and the outputs are compatible with it, and `session_ports` (a session of
//! the weightless copy) equals it exactly; and the cases no fixture has (weights listed as
//! inputs, symbolic and missing dimensions, non-tensor ports, broken files) on graphs written
//! byte by byte here.

mod common;

use std::path::{Path, PathBuf};

use ort::value::TensorElementType;
use promptreel_engine::package::onnx_ports::{GraphPorts, read_ports};
use promptreel_engine::package::weightless::weightless_copy;
use promptreel_engine::runtime::{self, Graph, Port, session_ports};

/// ONNX Runtime's view of `path`.
fn ort_ports(path: &Path) -> GraphPorts {
    let rt = runtime::load(None).expect("ONNX Runtime (set PROMPTREEL_ORT_LIB)");
    let g = Graph::load(&rt, "test", path, common::cpu(1))
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    GraphPorts {
        inputs: g.inputs().to_vec(),
        outputs: g.outputs().to_vec(),
    }
}

fn onnx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            onnx_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "onnx") {
            out.push(p);
        }
    }
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("promptreel-ports-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Every `.onnx` file under `onnx/tests/data` and the default model.
fn shipped_graphs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    onnx_files(&common::data(), &mut files);
    onnx_files(&root.join("../bundle/models/default"), &mut files);
    assert!(files.len() > 40, "found only {} graphs", files.len());
    files
}

#[test]
fn every_shipped_graph_reads_as_onnx_runtime_reports_it() {
    let mut pinned = 0;
    for f in &shipped_graphs() {
        let read = read_ports(f).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let ort = ort_ports(f);
        assert_eq!(read.inputs, ort.inputs, "{}", f.display());
        // Outputs as declared: ONNX Runtime's shape inference may pin a dynamic dimension
        // (Wan's VAE caches, the attention cases), never change a declared one.
        assert_eq!(read.outputs.len(), ort.outputs.len(), "{}", f.display());
        for (a, b) in read.outputs.iter().zip(&ort.outputs) {
            let same_rank = a.shape.len() == b.shape.len();
            let compatible = a
                .shape
                .iter()
                .zip(&b.shape)
                .all(|(&x, &y)| x == -1 || x == y);
            assert!(
                a.name == b.name && a.elem == b.elem && same_rank && compatible,
                "{}: declared {a:?}, ONNX Runtime {b:?}",
                f.display()
            );
            pinned += usize::from(a != b);
        }
    }
    // the fixtures do exercise the difference session_ports exists for
    assert!(pinned > 0);
}

#[test]
fn session_ports_equal_a_full_session_for_every_shipped_graph() {
    let rt = runtime::load(None).expect("ONNX Runtime (set PROMPTREEL_ORT_LIB)");
    for f in &shipped_graphs() {
        let weightless = session_ports(&rt, f).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        assert_eq!(weightless, ort_ports(f), "{}", f.display());
    }
}

#[test]
fn the_weightless_copy_is_small() {
    // the default model's denoiser: 14 MB of weights, almost all of it dropped
    let unet =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/default/unet/model.onnx");
    let copy = weightless_copy(&unet).expect("copy");
    let full = std::fs::metadata(&unet).expect("size").len();
    assert!(
        (copy.len() as u64) < full / 10,
        "{} of {full} bytes",
        copy.len()
    );
}

// ---- protobuf by hand -------------------------------------------------------------------

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

fn bytes_field(num: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint(num << 3 | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn varint_field(num: u64, v: u64, out: &mut Vec<u8>) {
    varint(num << 3, out);
    varint(v, out);
}

/// A dimension: `Ok(n)` a fixed size, `Err(name)` a symbolic one, `None`... see `dims`.
enum Dim {
    Value(i64),
    Param(&'static str),
    Unset,
}

/// A ValueInfoProto of a tensor; `dims: None` declares no shape at all.
fn tensor_info(name: &str, elem: u64, dims: Option<&[Dim]>) -> Vec<u8> {
    let mut tensor = Vec::new();
    varint_field(1, elem, &mut tensor);
    if let Some(dims) = dims {
        let mut shape = Vec::new();
        for d in dims {
            let mut dim = Vec::new();
            match d {
                Dim::Value(v) => varint_field(1, *v as u64, &mut dim),
                Dim::Param(p) => bytes_field(2, p.as_bytes(), &mut dim),
                Dim::Unset => {}
            }
            bytes_field(1, &dim, &mut shape);
        }
        bytes_field(2, &shape, &mut tensor);
    }
    let mut ty = Vec::new();
    bytes_field(1, &tensor, &mut ty);
    let mut info = Vec::new();
    bytes_field(1, name.as_bytes(), &mut info);
    bytes_field(2, &ty, &mut info);
    info
}

/// A ValueInfoProto of a sequence of float tensors.
fn sequence_info(name: &str) -> Vec<u8> {
    let mut tensor = Vec::new();
    varint_field(1, 1, &mut tensor);
    let mut elem = Vec::new();
    bytes_field(1, &tensor, &mut elem);
    let mut seq = Vec::new();
    bytes_field(1, &elem, &mut seq);
    let mut ty = Vec::new();
    bytes_field(4, &seq, &mut ty);
    let mut info = Vec::new();
    bytes_field(1, name.as_bytes(), &mut info);
    bytes_field(2, &ty, &mut info);
    info
}

/// A float initializer `name` of `n` values, its data in raw_data; `packed` writes its dims as
/// proto3 writers do.
fn initializer(name: &str, n: usize, packed: bool) -> Vec<u8> {
    let mut t = Vec::new();
    if packed {
        let mut dims = Vec::new();
        varint(n as u64, &mut dims);
        bytes_field(1, &dims, &mut t);
    } else {
        varint_field(1, n as u64, &mut t); // dims
    }
    varint_field(2, 1, &mut t); // data_type FLOAT
    bytes_field(8, name.as_bytes(), &mut t);
    let data: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
    bytes_field(9, &data, &mut t);
    t
}

/// `y = x + w` with `w` an initializer of 2 floats. With `ir_version` 3 the graph lists `w` as
/// an input too, as IR < 4 exporters did.
fn add_model(ir_version: u64, x: Vec<u8>, y: Vec<u8>) -> Vec<u8> {
    add_model_with(ir_version, x, y, initializer("w", 2, false))
}

fn add_model_with(ir_version: u64, x: Vec<u8>, y: Vec<u8>, w: Vec<u8>) -> Vec<u8> {
    let mut node = Vec::new();
    bytes_field(1, b"x", &mut node);
    bytes_field(1, b"w", &mut node);
    bytes_field(2, b"y", &mut node);
    bytes_field(4, b"Add", &mut node);
    let mut graph = Vec::new();
    bytes_field(1, &node, &mut graph);
    bytes_field(2, b"g", &mut graph);
    bytes_field(5, &w, &mut graph);
    bytes_field(11, &x, &mut graph);
    if ir_version < 4 {
        bytes_field(11, &tensor_info("w", 1, Some(&[Dim::Value(2)])), &mut graph);
    }
    bytes_field(12, &y, &mut graph);
    let mut opset = Vec::new();
    bytes_field(1, b"", &mut opset);
    varint_field(2, 7, &mut opset);
    let mut model = Vec::new();
    varint_field(1, ir_version, &mut model);
    bytes_field(8, &opset, &mut model);
    bytes_field(7, &graph, &mut model);
    model
}

fn port(name: &str, elem: TensorElementType, shape: &[i64]) -> Port {
    Port {
        name: name.into(),
        elem,
        shape: shape.to_vec(),
    }
}

#[test]
fn weights_listed_as_inputs_are_not_inputs() {
    let dir = scratch("ir3");
    let path = dir.join("model.onnx");
    let x = tensor_info("x", 1, Some(&[Dim::Value(2)]));
    let y = tensor_info("y", 1, Some(&[Dim::Value(2)]));
    std::fs::write(&path, add_model(3, x, y)).expect("write");
    let read = read_ports(&path).expect("read");
    assert_eq!(
        read.inputs,
        vec![port("x", TensorElementType::Float32, &[2])]
    );
    assert_eq!(read, ort_ports(&path));
    let rt = runtime::load(None).expect("ONNX Runtime");
    assert_eq!(
        session_ports(&rt, &path).expect("session ports"),
        ort_ports(&path)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn large_weights_become_inputs_of_the_weightless_copy() {
    let dir = scratch("large");
    let path = dir.join("model.onnx");
    let n = 3000; // 12 kB of floats: dropped from the copy
    for packed in [false, true] {
        let x = tensor_info("x", 1, Some(&[Dim::Param("n"), Dim::Value(n as i64)]));
        // declared fully dynamic; ONNX Runtime pins the last dimension to w's
        let y = tensor_info("y", 1, Some(&[Dim::Param("a"), Dim::Param("b")]));
        let w = initializer("w", n, packed);
        std::fs::write(&path, add_model_with(8, x, y, w)).expect("write");
        let copy = weightless_copy(&path).expect("copy");
        assert!(copy.len() < 1000, "{} bytes", copy.len());
        let rt = runtime::load(None).expect("ONNX Runtime");
        let ports = session_ports(&rt, &path).expect("session ports");
        assert_eq!(ports, ort_ports(&path), "packed {packed}");
        assert_eq!(ports.outputs[0].shape, vec![-1, n as i64]);
        assert_eq!(
            read_ports(&path).expect("read").outputs[0].shape,
            vec![-1, -1]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn symbolic_unset_and_fixed_dimensions() {
    let dir = scratch("dims");
    let path = dir.join("model.onnx");
    let x = tensor_info(
        "x",
        1,
        Some(&[Dim::Param("batch"), Dim::Unset, Dim::Value(2)]),
    );
    let y = tensor_info(
        "y",
        1,
        Some(&[Dim::Param("b"), Dim::Param("n"), Dim::Value(2)]),
    );
    std::fs::write(&path, add_model(8, x, y)).expect("write");
    let read = read_ports(&path).expect("read");
    assert_eq!(
        read.inputs,
        vec![port("x", TensorElementType::Float32, &[-1, -1, 2])]
    );
    assert_eq!(read, ort_ports(&path));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_port_without_shape_reads_as_onnx_runtime_reports_it() {
    let dir = scratch("noshape");
    let path = dir.join("model.onnx");
    let x = tensor_info("x", 1, None);
    let y = tensor_info("y", 1, None);
    std::fs::write(&path, add_model(8, x, y)).expect("write");
    let read = read_ports(&path).expect("read");
    assert_eq!(read, ort_ports(&path));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn element_types() {
    let dir = scratch("types");
    let path = dir.join("model.onnx");
    // (ONNX DataType, what ONNX Runtime calls it)
    let cases = [
        (1, TensorElementType::Float32),
        (2, TensorElementType::Uint8),
        (3, TensorElementType::Int8),
        (4, TensorElementType::Uint16),
        (5, TensorElementType::Int16),
        (6, TensorElementType::Int32),
        (7, TensorElementType::Int64),
        (8, TensorElementType::String),
        (9, TensorElementType::Bool),
        (10, TensorElementType::Float16),
        (11, TensorElementType::Float64),
        (12, TensorElementType::Uint32),
        (13, TensorElementType::Uint64),
        (16, TensorElementType::Bfloat16),
    ];
    for (code, elem) in cases {
        // the graph does not need to run: only the declarations are read
        let x = tensor_info("x", code, Some(&[Dim::Value(2)]));
        let y = tensor_info("y", 1, Some(&[Dim::Value(2)]));
        std::fs::write(&path, add_model(8, x, y)).expect("write");
        let read = read_ports(&path).expect("read");
        assert_eq!(read.inputs, vec![port("x", elem, &[2])], "type {code}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sequence_input_is_refused_by_name() {
    let dir = scratch("seq");
    let path = dir.join("model.onnx");
    let y = tensor_info("y", 1, Some(&[Dim::Value(2)]));
    std::fs::write(&path, add_model(8, sequence_info("frames"), y)).expect("write");
    let err = read_ports(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("model.onnx") && err.contains("\"frames\"") && err.contains("a sequence"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_empty_and_foreign_files_are_named() {
    let dir = scratch("broken");
    let src = common::data().join("tiny-sd/unet/model.onnx");
    let bytes = std::fs::read(&src).expect("read fixture");
    let path = dir.join("model.onnx");
    for (what, data) in [
        ("truncated", &bytes[..bytes.len() / 2]),
        ("truncated by one byte", &bytes[..bytes.len() - 1]),
        ("empty", &[][..]),
        ("JSON", &br#"{"format": 1, "name": "not a graph"}"#[..]),
        ("PNG", &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..]),
    ] {
        std::fs::write(&path, data).expect("write");
        let err = read_ports(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("model.onnx")
                && err.contains("not a valid ONNX graph")
                && err.contains("re-export"),
            "{what}: {err}"
        );
    }
    let err = read_ports(&dir.join("missing.onnx"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("missing.onnx"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
