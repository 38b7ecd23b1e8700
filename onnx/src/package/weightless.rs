//! A weightless copy of an ONNX graph: the same graph with its weights turned into inputs.
//!
//! ONNX Runtime does not only report the output shapes a file declares: its shape inference
//! pins dimensions the exporter left symbolic (a Wan VAE's cache outputs are declared
//! `[?, ?, ?, ?, ?]` and reported `[?, 16, ?, ?, ?]`). Triton's ONNX Runtime backend compares a
//! model configuration's output dims with that report exactly, so the report is what a
//! configuration must say. Shape inference needs the weights' shapes, not their values; so
//! every weight that is stored outside the file or is larger than [`KEEP_BYTES`] becomes a graph
//! input of the same type and shape, and ONNX Runtime can build a session of the whole graph
//! from a few kilobytes per node instead of gigabytes. Small initializers (the shape constants
//! Reshape and Expand read) are kept, so value-dependent shapes come out the same.
//!
//! Field numbers are from onnx.proto3: ModelProto.graph = 7; GraphProto.initializer = 5,
//! .input = 11, .sparse_initializer = 15; TensorProto.dims = 1, .data_type = 2, .name = 8,
//! .external_data = 13, .data_location = 14 (EXTERNAL = 1); SparseTensorProto.values = 1,
//! .dims = 3; ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1;
//! TypeProto.Tensor.elem_type = 1, .shape = 2; TensorShapeProto.dim = 1;
//! Dimension.dim_value = 1.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::Path;

use super::protobuf::{Field, Reader, WalkResult, put_bytes_field, put_varint_field};
use crate::error::{Error, Result};

/// Initializers up to this size (their whole TensorProto) stay in the copy.
const KEEP_BYTES: u64 = 4096;

/// What a weight turned input needs: its name, element type and shape.
#[derive(Default)]
struct Weight {
    name: String,
    elem: u64,
    dims: Vec<u64>,
    external: bool,
}

/// The graph in the ONNX file at `path`, with every weight stored outside it or larger than
/// [`KEEP_BYTES`] turned into an input, serialized. Reads the weights' headers only.
pub fn weightless_copy(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("read the size of", path, e))?
        .len();
    let invalid = |why: &str| {
        Error::package(format!(
            "{} is not a valid ONNX graph ({why}); it may be truncated or corrupt: re-export it \
             or copy it again",
            path.display()
        ))
    };
    if len == 0 {
        return Err(invalid("the file is empty"));
    }
    model(&mut Reader::new(file), len).map_err(|why| invalid(&why))
}

fn model<R: Read + Seek>(r: &mut Reader<R>, len: u64) -> WalkResult<Vec<u8>> {
    let mut out = Vec::new();
    r.message(len, |r, f| {
        match f {
            Field::Bytes { num: 7, size } => {
                let g = graph(r, size)?;
                put_bytes_field(7, &g, &mut out);
            }
            Field::Bytes { num, size } => {
                let payload = r.bytes(size)?;
                put_bytes_field(num, &payload, &mut out);
            }
            Field::Varint { num, value } => put_varint_field(num, value, &mut out),
        }
        Ok(())
    })?;
    Ok(out)
}

fn graph<R: Read + Seek>(r: &mut Reader<R>, len: u64) -> WalkResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut inputs = HashSet::new();
    let mut weights = Vec::new();
    r.message(len, |r, f| {
        match f {
            Field::Bytes { num: 5, size } if size <= KEEP_BYTES => {
                let payload = r.bytes(size)?;
                let w = tensor(&mut Reader::new(Cursor::new(&payload)), size)?;
                if w.external {
                    weights.push(w);
                } else {
                    put_bytes_field(5, &payload, &mut out);
                }
            }
            Field::Bytes { num: 5, size } => weights.push(tensor(r, size)?),
            Field::Bytes { num: 15, size } => weights.push(sparse_tensor(r, size)?),
            Field::Bytes { num: 11, size } => {
                let payload = r.bytes(size)?;
                inputs.insert(value_info_name(&payload, size)?);
                put_bytes_field(11, &payload, &mut out);
            }
            Field::Bytes { num, size } => {
                let payload = r.bytes(size)?;
                put_bytes_field(num, &payload, &mut out);
            }
            Field::Varint { num, value } => put_varint_field(num, value, &mut out),
        }
        Ok(())
    })?;
    // NOTE: IR < 4 exports already list every weight as an input; one declaration is enough.
    for w in weights.iter().filter(|w| !inputs.contains(&w.name)) {
        put_bytes_field(11, &input_for(w), &mut out);
    }
    Ok(out)
}

/// A TensorProto's name, type, shape and whether its data is stored outside the file.
fn tensor<R: Read + Seek>(r: &mut Reader<R>, len: u64) -> WalkResult<Weight> {
    let mut w = Weight::default();
    r.message(len, |r, f| {
        match f {
            Field::Varint { num: 1, value } => w.dims.push(value),
            Field::Bytes { num: 1, size } => w.dims.extend(r.packed_varints(size)?),
            Field::Varint { num: 2, value } => w.elem = value,
            Field::Bytes { num: 8, size } => {
                w.name = r.string(size, "an initializer's name", 64 * 1024)?;
            }
            Field::Bytes { num: 13, .. } | Field::Varint { num: 14, value: 1 } => {
                w.external = true;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(w)
}

/// A SparseTensorProto as the dense weight it stands for (named and typed by its values).
fn sparse_tensor<R: Read + Seek>(r: &mut Reader<R>, len: u64) -> WalkResult<Weight> {
    let mut w = Weight::default();
    let mut dims = Vec::new();
    r.message(len, |r, f| {
        match f {
            Field::Bytes { num: 1, size } => w = tensor(r, size)?,
            Field::Varint { num: 3, value } => dims.push(value),
            Field::Bytes { num: 3, size } => dims.extend(r.packed_varints(size)?),
            _ => {}
        }
        Ok(())
    })?;
    w.dims = dims;
    Ok(w)
}

fn value_info_name(payload: &[u8], size: u64) -> WalkResult<String> {
    let mut name = String::new();
    Reader::new(Cursor::new(payload)).message(size, |r, f| {
        if let Field::Bytes { num: 1, size } = f {
            name = r.string(size, "a port's name", 64 * 1024)?;
        }
        Ok(())
    })?;
    Ok(name)
}

/// The ValueInfoProto declaring `w` as an input.
fn input_for(w: &Weight) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in &w.dims {
        let mut dim = Vec::new();
        put_varint_field(1, d, &mut dim);
        put_bytes_field(1, &dim, &mut shape);
    }
    let mut tensor = Vec::new();
    put_varint_field(1, w.elem, &mut tensor);
    put_bytes_field(2, &shape, &mut tensor);
    let mut ty = Vec::new();
    put_bytes_field(1, &tensor, &mut ty);
    let mut info = Vec::new();
    put_bytes_field(1, w.name.as_bytes(), &mut info);
    put_bytes_field(2, &ty, &mut info);
    info
}
