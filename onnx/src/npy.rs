//! Reading and writing `.npy` files (NumPy's array format, version 1.0/2.0/3.0), little-endian
//! float32 only: initial latents for `--latents` and the parity fixtures.

use std::path::Path;

use crate::error::{Error, Result};
use crate::runtime::TensorF32;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a C-ordered little-endian float32 array.
pub fn read_f32(path: &Path) -> Result<TensorF32> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    parse_f32(&bytes).map_err(|why| {
        Error::setting(format!(
            "{} is not a float32 .npy array ({why}); save it with numpy.save(path, \
             array.astype(numpy.float32))",
            path.display()
        ))
    })
}

fn parse_f32(bytes: &[u8]) -> std::result::Result<TensorF32, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("no .npy header".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated header")?;
    let descr = dict_value(header, "descr").ok_or("no descr")?;
    let descr = descr.trim_start_matches(['\'', '"']);
    let descr = &descr[..descr.find(['\'', '"']).unwrap_or(descr.len())];
    if !matches!(descr, "<f4" | "float32") {
        return Err(format!("element type {descr}, float32 ('<f4') needed"));
    }
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran order; save a C-contiguous array".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("no shape")?;
    let inner = shape_text.trim_start_matches('(');
    let inner = &inner[..inner.find(')').ok_or("bad shape")?];
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad dimension {s:?}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let data = &bytes[start + header_len..];
    if data.len() != n * 4 {
        return Err(format!(
            "{} data bytes for shape {shape:?}, expected {}",
            data.len(),
            n * 4
        ));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(TensorF32 {
        shape,
        data: values,
    })
}

/// The text after `'key':` in a header dict.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let i = header.find(&pat)? + pat.len();
    Some(header[i..].trim_start())
}

/// Encodes a float32 array as `.npy` bytes (version 1.0).
pub fn encode_f32(t: &TensorF32) -> Vec<u8> {
    let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so the data starts on a 64-byte boundary, ending the header with a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + t.data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in &t.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = TensorF32 {
            shape: vec![1, 2, 3],
            data: vec![0.5, -1.0, 2.0, 3.25, 4.0, 1e-3],
        };
        let back = parse_f32(&encode_f32(&t)).expect("parse");
        assert_eq!(back, t);
    }

    #[test]
    fn refuses_other_dtypes_and_truncation() {
        let t = TensorF32 {
            shape: vec![2],
            data: vec![1.0, 2.0],
        };
        let mut bytes = encode_f32(&t);
        let mut f8 = bytes.clone();
        let at = f8.windows(3).position(|w| w == b"<f4").expect("descr");
        f8[at + 2] = b'8';
        assert!(parse_f32(&f8).err().unwrap_or_default().contains("<f8"));
        bytes.pop();
        assert!(
            parse_f32(&bytes)
                .err()
                .unwrap_or_default()
                .contains("data bytes")
        );
        assert!(parse_f32(b"hello").is_err());
    }
}
