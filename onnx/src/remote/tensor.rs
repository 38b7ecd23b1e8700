//! Tensors on the wire: KServe v2 raw binary contents (little-endian, row-major) and datatype
//! names, converted exactly as the local backend converts for ONNX Runtime, so both backends
//! hand a graph the same bits.

use half::{bf16, f16};
use ort::value::TensorElementType;
use prost::bytes::Bytes;

use super::proto::InferTensorContents;
use crate::error::{Error, Result};
use crate::runtime::{Input, Port, TensorF32};

/// One tensor as the server sends or receives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTensor {
    pub elem: TensorElementType,
    pub shape: Vec<i64>,
    pub data: Bytes,
}

impl RawTensor {
    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        self.data.len()
    }
}

/// The protocol's name for an element type; `None` for types our graphs never use.
pub(crate) fn datatype(elem: TensorElementType) -> Option<&'static str> {
    Some(match elem {
        TensorElementType::Float32 => "FP32",
        TensorElementType::Float16 => "FP16",
        TensorElementType::Bfloat16 => "BF16",
        TensorElementType::Float64 => "FP64",
        TensorElementType::Int64 => "INT64",
        TensorElementType::Int32 => "INT32",
        TensorElementType::Int16 => "INT16",
        TensorElementType::Int8 => "INT8",
        TensorElementType::Uint8 => "UINT8",
        TensorElementType::Bool => "BOOL",
        _ => return None,
    })
}

/// The element type for a protocol datatype name.
pub(crate) fn element(datatype: &str) -> Option<TensorElementType> {
    Some(match datatype {
        "FP32" => TensorElementType::Float32,
        "FP16" => TensorElementType::Float16,
        "BF16" => TensorElementType::Bfloat16,
        "FP64" => TensorElementType::Float64,
        "INT64" => TensorElementType::Int64,
        "INT32" => TensorElementType::Int32,
        "INT16" => TensorElementType::Int16,
        "INT8" => TensorElementType::Int8,
        "UINT8" => TensorElementType::Uint8,
        "BOOL" => TensorElementType::Bool,
        _ => return None,
    })
}

fn le_bytes<T: Copy, const N: usize>(values: &[T], to: impl Fn(T) -> [u8; N]) -> Bytes {
    let mut out = Vec::with_capacity(values.len() * N);
    for &v in values {
        out.extend_from_slice(&to(v));
    }
    Bytes::from(out)
}

/// Converts pipeline data for the input `port` (the element type the server declares), as
/// `Graph::run` converts it for a local session.
pub(crate) fn encode(port: &Port, input: &Input<'_>, what: &str) -> Result<RawTensor> {
    let (shape, data) = match (input, port.elem) {
        (Input::F32 { shape, data }, TensorElementType::Float32) => {
            (*shape, le_bytes(data, f32::to_le_bytes))
        }
        (Input::F32 { shape, data }, TensorElementType::Float16) => {
            (*shape, le_bytes(data, |x| f16::from_f32(x).to_le_bytes()))
        }
        (Input::F32 { shape, data }, TensorElementType::Bfloat16) => {
            (*shape, le_bytes(data, |x| bf16::from_f32(x).to_le_bytes()))
        }
        // NOTE: integer timesteps (DDPM-family exports), rounded as the local backend does.
        (Input::F32 { shape, data }, TensorElementType::Int64) => {
            (*shape, le_bytes(data, |x| (x.round() as i64).to_le_bytes()))
        }
        (Input::I64 { shape, data }, TensorElementType::Int64) => {
            (*shape, le_bytes(data, i64::to_le_bytes))
        }
        (Input::I64 { shape, data }, TensorElementType::Int32) => {
            (*shape, le_bytes(data, |x| (x as i32).to_le_bytes()))
        }
        (input, elem) => {
            let got = match input {
                Input::F32 { .. } => "floating point data",
                Input::I64 { .. } => "integer ids",
            };
            return Err(Error::package(format!(
                "{what} declares input {:?} as {elem:?}, which cannot take {got}",
                port.name
            )));
        }
    };
    Ok(RawTensor {
        elem: port.elem,
        shape: shape.iter().map(|&d| d as i64).collect(),
        data,
    })
}

fn from_le<const N: usize, T>(bytes: &[u8], from: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        })
        .collect()
}

/// A floating-point output as f32, as `Graph::run` returns a local one.
pub(crate) fn decode(t: &RawTensor, what: &str) -> Result<TensorF32> {
    let n: usize = t.shape.iter().map(|&d| d.max(0) as usize).product();
    let width = match t.elem {
        TensorElementType::Float32 => 4,
        TensorElementType::Float16 | TensorElementType::Bfloat16 => 2,
        other => {
            return Err(Error::package(format!(
                "{what} produced {other:?} output; float32, float16 or bfloat16 expected"
            )));
        }
    };
    if t.data.len() != n * width || t.shape.iter().any(|&d| d < 0) {
        return Err(Error::package(format!(
            "{what} sent {} bytes for an output of shape {:?} ({} expected): the server's \
             answer is damaged",
            t.data.len(),
            t.shape,
            n * width
        )));
    }
    let data = match t.elem {
        TensorElementType::Float32 => from_le(&t.data, f32::from_le_bytes),
        TensorElementType::Float16 => from_le(&t.data, |b| f16::from_le_bytes(b).to_f32()),
        _ => from_le(&t.data, |b| bf16::from_le_bytes(b).to_f32()),
    };
    Ok(TensorF32 {
        shape: t.shape.iter().map(|&d| d as usize).collect(),
        data,
    })
}

/// An output a server sent in typed fields instead of raw bytes, as raw bytes.
pub(crate) fn from_contents(
    elem: TensorElementType,
    shape: Vec<i64>,
    c: &InferTensorContents,
) -> Option<RawTensor> {
    let data = match elem {
        TensorElementType::Float32 => le_bytes(&c.fp32_contents, f32::to_le_bytes),
        TensorElementType::Float64 => le_bytes(&c.fp64_contents, f64::to_le_bytes),
        TensorElementType::Int64 => le_bytes(&c.int64_contents, i64::to_le_bytes),
        TensorElementType::Int32 => le_bytes(&c.int_contents, i32::to_le_bytes),
        _ => return None,
    };
    Some(RawTensor { elem, shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(elem: TensorElementType) -> Port {
        Port {
            name: "x".into(),
            elem,
            shape: vec![-1],
        }
    }

    #[test]
    fn floats_round_trip_through_each_wire_type() {
        let data = [0.1f32, -2.5, 1e-3, 65504.0, 3.0e-8];
        let input = Input::F32 {
            shape: &[5],
            data: &data,
        };
        for elem in [
            TensorElementType::Float32,
            TensorElementType::Float16,
            TensorElementType::Bfloat16,
        ] {
            let raw = encode(&port(elem), &input, "test").unwrap();
            assert_eq!(raw.shape, [5]);
            let back = decode(&raw, "test").unwrap();
            let expect: Vec<f32> = match elem {
                TensorElementType::Float32 => data.to_vec(),
                TensorElementType::Float16 => {
                    data.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
                }
                _ => data.iter().map(|&x| bf16::from_f32(x).to_f32()).collect(),
            };
            assert_eq!(back.data, expect, "{elem:?}");
        }
    }

    #[test]
    fn integers_and_mismatches() {
        let raw = encode(
            &port(TensorElementType::Int64),
            &Input::F32 {
                shape: &[2],
                data: &[999.6, 1.2],
            },
            "test",
        )
        .unwrap();
        assert_eq!(&raw.data[..8], &1000i64.to_le_bytes());
        let raw = encode(
            &port(TensorElementType::Int32),
            &Input::I64 {
                shape: &[1, 2],
                data: &[49406, 7],
            },
            "test",
        )
        .unwrap();
        assert_eq!(raw.data.len(), 8);
        let e = encode(
            &port(TensorElementType::Float32),
            &Input::I64 {
                shape: &[1],
                data: &[1],
            },
            "the model m",
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot take integer ids"), "{e}");
        let short = RawTensor {
            elem: TensorElementType::Float32,
            shape: vec![2, 2],
            data: Bytes::from(vec![0u8; 12]),
        };
        assert!(
            decode(&short, "m")
                .unwrap_err()
                .to_string()
                .contains("damaged")
        );
    }
}
