//! The inputs and outputs an ONNX graph file declares, read without ONNX Runtime.
//!
//! A remote server (Triton) needs each graph's ports written into its model configuration,
//! and the machine writing it may not have the memory to load a 28 GB transformer. So the
//! top-level graph's declarations are read straight from the protobuf, seeking over weight
//! bytes, in ONNX Runtime's terms: -1 for a symbolic or unknown dimension, and graph inputs that
//! are also initializers (exports older than IR 4 list every weight as an input) left out.
//! The inputs are then exactly what a session reports. The outputs are what the file declares:
//! a session can report more, as its shape inference pins dimensions the exporter left
//! symbolic; [`crate::runtime::session_ports`] gets that report without the weights.
//!
//! Field numbers are from onnx.proto3: ModelProto.graph = 7; GraphProto.initializer = 5,
//! .input = 11, .output = 12, .sparse_initializer = 15; SparseTensorProto.values = 1;
//! TensorProto.name = 8; ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1,
//! .sequence_type = 4, .map_type = 5, .opaque_type = 7, .sparse_tensor_type = 8,
//! .optional_type = 9; TypeProto.Tensor.elem_type = 1, .shape = 2; TensorShapeProto.dim = 1;
//! Dimension.dim_value = 1, .dim_param = 2. Element types are TensorProto.DataType numbers.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use ort::value::TensorElementType;

use super::protobuf::{Field, Reader, WalkResult};
use crate::error::{Error, Result};
use crate::runtime::Port;

/// The inputs and outputs an ONNX graph file declares, read without loading its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphPorts {
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
}

/// Longest name we accept; a corrupt length must not allocate gigabytes.
const NAME_LIMIT: u64 = 64 * 1024;

/// What a declared port's TypeProto holds.
#[derive(Clone, Copy, Default, PartialEq)]
enum Kind {
    #[default]
    Missing,
    Tensor,
    Sequence,
    Map,
    Opaque,
    SparseTensor,
    Optional,
}

impl Kind {
    fn of_field(num: u64) -> Option<Self> {
        Some(match num {
            1 => Self::Tensor,
            4 => Self::Sequence,
            5 => Self::Map,
            7 => Self::Opaque,
            8 => Self::SparseTensor,
            9 => Self::Optional,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Self::Missing => "of no declared type",
            Self::Tensor => "a tensor",
            Self::Sequence => "a sequence",
            Self::Map => "a map",
            Self::Opaque => "an opaque value",
            Self::SparseTensor => "a sparse tensor",
            Self::Optional => "an optional value",
        }
    }
}

/// A ValueInfoProto as declared, before it is checked.
#[derive(Default)]
struct Declared {
    name: String,
    kind: Kind,
    elem: u64,
    /// `None` when the tensor type has no shape at all (rank unknown).
    dims: Option<Vec<i64>>,
}

/// What the walk collects from the top-level graph.
#[derive(Default)]
struct Collected {
    graphs: usize,
    inputs: Vec<Declared>,
    outputs: Vec<Declared>,
    initializers: HashSet<String>,
}

/// Reads the top-level graph's inputs and outputs of the ONNX file at `path`, as declared.
pub fn read_ports(path: &Path) -> Result<GraphPorts> {
    let (ports, _) = read_ports_and_unranked(path)?;
    Ok(ports)
}

/// [`read_ports`], plus the names of ports declared with no shape at all. ONNX Runtime reports
/// those as rank 0 (an empty shape), like a true scalar; a server configuration must not take
/// them for scalars.
pub(crate) fn read_ports_and_unranked(path: &Path) -> Result<(GraphPorts, Vec<String>)> {
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
    let mut got = Collected::default();
    model(&mut Reader::new(file), len, &mut got).map_err(|why| invalid(&why))?;
    if got.graphs == 0 {
        return Err(invalid("it holds no graph"));
    }
    let mut unranked = Vec::new();
    let mut convert = |list: Vec<Declared>, what: &str| -> Result<Vec<Port>> {
        let mut ports = Vec::with_capacity(list.len());
        for d in list {
            if d.kind != Kind::Tensor {
                return Err(Error::package(format!(
                    "{}: the graph's {what} {:?} is {}, not a tensor; Promptreel and Triton \
                     only pass tensors between graphs: re-export the model with tensor {what}s",
                    path.display(),
                    d.name,
                    d.kind.label()
                )));
            }
            let elem = element_type(d.elem).ok_or_else(|| {
                Error::package(format!(
                    "{}: the graph's {what} {:?} has element type {}, which this version of \
                     Promptreel does not know; re-export the model with float32, float16 or \
                     int64 ports",
                    path.display(),
                    d.name,
                    d.elem
                ))
            })?;
            if d.dims.is_none() {
                unranked.push(d.name.clone());
            }
            ports.push(Port {
                name: d.name,
                elem,
                shape: d.dims.unwrap_or_default(),
            });
        }
        Ok(ports)
    };
    // NOTE: ONNX Runtime lists a graph input that is also an initializer as an overridable
    // initializer, not as an input; IR < 4 exports declare every weight that way.
    let inputs: Vec<Declared> = got
        .inputs
        .into_iter()
        .filter(|d| !got.initializers.contains(&d.name))
        .collect();
    let ports = GraphPorts {
        inputs: convert(inputs, "input")?,
        outputs: convert(got.outputs, "output")?,
    };
    Ok((ports, unranked))
}

/// ONNX's TensorProto.DataType number as ONNX Runtime's element type.
fn element_type(code: u64) -> Option<TensorElementType> {
    use TensorElementType as T;
    Some(match code {
        1 => T::Float32,
        2 => T::Uint8,
        3 => T::Int8,
        4 => T::Uint16,
        5 => T::Int16,
        6 => T::Int32,
        7 => T::Int64,
        8 => T::String,
        9 => T::Bool,
        10 => T::Float16,
        11 => T::Float64,
        12 => T::Uint32,
        13 => T::Uint64,
        14 => T::Complex64,
        15 => T::Complex128,
        16 => T::Bfloat16,
        17 => T::Float8E4M3FN,
        18 => T::Float8E4M3FNUZ,
        19 => T::Float8E5M2,
        20 => T::Float8E5M2FNUZ,
        21 => T::Uint4,
        22 => T::Int4,
        23 => T::Float4E2M1,
        24 => T::Float8E8M0,
        25 => T::Uint2,
        26 => T::Int2,
        _ => return None,
    })
}

fn model<R: Read + Seek>(r: &mut Reader<R>, len: u64, got: &mut Collected) -> WalkResult<()> {
    r.message(len, |r, f| {
        if let Field::Bytes { num: 7, size } = f {
            got.graphs += 1;
            graph(r, size, got)?;
        }
        Ok(())
    })
}

/// The top-level graph; nested graphs (If, Loop bodies) live in nodes, which are skipped.
fn graph<R: Read + Seek>(r: &mut Reader<R>, len: u64, got: &mut Collected) -> WalkResult<()> {
    r.message(len, |r, f| {
        match f {
            Field::Bytes { num: 5, size } => {
                if let Some(name) = tensor_name(r, size)? {
                    got.initializers.insert(name);
                }
            }
            Field::Bytes { num: 15, size } => {
                // A sparse initializer is named by its `values` tensor.
                r.message(size, |r, f| {
                    if let Field::Bytes { num: 1, size } = f
                        && let Some(name) = tensor_name(r, size)?
                    {
                        got.initializers.insert(name);
                    }
                    Ok(())
                })?;
            }
            Field::Bytes { num: 11, size } => got.inputs.push(value_info(r, size)?),
            Field::Bytes { num: 12, size } => got.outputs.push(value_info(r, size)?),
            _ => {}
        }
        Ok(())
    })
}

/// A TensorProto's name, skipping its data.
fn tensor_name<R: Read + Seek>(r: &mut Reader<R>, len: u64) -> WalkResult<Option<String>> {
    let mut name = None;
    r.message(len, |r, f| {
        if let Field::Bytes { num: 8, size } = f {
            name = Some(r.string(size, "an initializer's name", NAME_LIMIT)?);
        }
        Ok(())
    })?;
    Ok(name)
}

fn value_info<R: Read + Seek>(r: &mut Reader<R>, len: u64) -> WalkResult<Declared> {
    let mut d = Declared::default();
    r.message(len, |r, f| {
        match f {
            Field::Bytes { num: 1, size } => {
                d.name = r.string(size, "a port's name", NAME_LIMIT)?;
            }
            Field::Bytes { num: 2, size } => type_proto(r, size, &mut d)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(d)
}

fn type_proto<R: Read + Seek>(r: &mut Reader<R>, len: u64, d: &mut Declared) -> WalkResult<()> {
    r.message(len, |r, f| {
        let Field::Bytes { num, size } = f else {
            return Ok(());
        };
        let Some(kind) = Kind::of_field(num) else {
            return Ok(());
        };
        d.kind = kind;
        if kind == Kind::Tensor {
            r.message(size, |r, f| {
                match f {
                    Field::Varint { num: 1, value } => d.elem = value,
                    Field::Bytes { num: 2, size } => {
                        let dims = d.dims.get_or_insert_with(Vec::new);
                        shape(r, size, dims)?;
                    }
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(())
    })
}

fn shape<R: Read + Seek>(r: &mut Reader<R>, len: u64, dims: &mut Vec<i64>) -> WalkResult<()> {
    r.message(len, |r, f| {
        if let Field::Bytes { num: 1, size } = f {
            // A symbolic (`dim_param`) or absent value is dynamic: -1, as ONNX Runtime says.
            let mut dim = -1i64;
            r.message(size, |_, f| {
                match f {
                    // NOTE: int64 varints carry negative numbers as two's complement.
                    Field::Varint { num: 1, value } => dim = value as i64,
                    Field::Bytes { num: 2, .. } => dim = -1,
                    _ => {}
                }
                Ok(())
            })?;
            dims.push(dim);
        }
        Ok(())
    })
}
