//! Just enough of the protobuf wire format to walk an ONNX file without loading it.
//!
//! ONNX files are protobuf messages whose weights can be gigabytes of length-delimited bytes.
//! The readers here stream the file: a visitor sees each field of a message, reads the few it
//! wants, and everything it leaves unread is skipped with a seek, so weight bytes never reach
//! memory. Every read is checked against the enclosing message's length, which is how a
//! truncated or corrupt file is caught. The `put_*` functions write the same format, for the
//! weightless copies in [`super::weightless`].

use std::io::{BufReader, Read, Seek};

/// Why a walk stopped; the caller wraps it in a message that names the file.
pub(super) type WalkResult<T> = std::result::Result<T, String>;

/// One field of a message, as the visitor sees it.
pub(super) enum Field {
    /// A varint (wire type 0): ints, enums, bools.
    Varint { num: u64, value: u64 },
    /// A length-delimited field (wire type 2): strings, bytes, sub-messages, packed arrays.
    /// `size` bytes follow; whatever the visitor does not read is skipped.
    Bytes { num: u64, size: u64 },
}

/// A protobuf stream over a buffered file, counting the bytes it has consumed.
pub(super) struct Reader<R> {
    r: BufReader<R>,
    pos: u64,
}

impl<R: Read + Seek> Reader<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            r: BufReader::with_capacity(64 * 1024, inner),
            pos: 0,
        }
    }

    fn byte(&mut self) -> WalkResult<u8> {
        let mut b = [0u8; 1];
        self.r
            .read_exact(&mut b)
            .map_err(|_| "the file ends in the middle of a field".to_string())?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> WalkResult<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint is longer than 10 bytes".into())
    }

    /// Moves `n` bytes forward without reading them.
    pub(super) fn skip(&mut self, n: u64) -> WalkResult<()> {
        let step = i64::try_from(n).map_err(|_| "a field length is absurd".to_string())?;
        // NOTE: `seek_relative` keeps the buffer when the target is inside it; a plain `seek`
        // would throw it away and cost a read for every small field skipped.
        self.r.seek_relative(step).map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(())
    }

    /// Reads `size` bytes as UTF-8; `what` names the field in errors, `limit` guards against
    /// a corrupt length asking for gigabytes.
    pub(super) fn string(&mut self, size: u64, what: &str, limit: u64) -> WalkResult<String> {
        if size > limit {
            return Err(format!("{what} is longer than {} KiB", limit / 1024));
        }
        let mut buf = vec![0u8; size as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|_| "the file ends inside a string".to_string())?;
        self.pos += size;
        String::from_utf8(buf).map_err(|_| format!("{what} is not UTF-8"))
    }

    /// Reads `size` bytes; the caller has checked them against the enclosing message, so at
    /// most the file's size.
    pub(super) fn bytes(&mut self, size: u64) -> WalkResult<Vec<u8>> {
        let n = usize::try_from(size).map_err(|_| "a field length is absurd".to_string())?;
        let mut buf = vec![0u8; n];
        self.r
            .read_exact(&mut buf)
            .map_err(|_| "the file ends inside a field".to_string())?;
        self.pos += size;
        Ok(buf)
    }

    /// Reads a packed repeated varint field of `size` bytes (how proto3 writers store
    /// `repeated int64`).
    pub(super) fn packed_varints(&mut self, size: u64) -> WalkResult<Vec<u64>> {
        let end = self.pos + size;
        let mut values = Vec::new();
        while self.pos < end {
            values.push(self.varint()?);
        }
        if self.pos != end {
            return Err("a packed field overruns its length".into());
        }
        Ok(values)
    }

    /// Walks the `len` bytes of one message, calling `visit` for each varint and
    /// length-delimited field; fixed-width fields are skipped. The visitor may read a
    /// length-delimited field (a string, or a sub-message with a nested `message` call) or
    /// leave it, and then it is skipped.
    pub(super) fn message(
        &mut self,
        len: u64,
        mut visit: impl FnMut(&mut Self, Field) -> WalkResult<()>,
    ) -> WalkResult<()> {
        let end = self.pos + len;
        while self.pos < end {
            let tag = self.varint()?;
            let num = tag >> 3;
            match tag & 7 {
                0 => {
                    let value = self.varint()?;
                    visit(self, Field::Varint { num, value })?;
                }
                1 => self.skip(8)?,
                5 => self.skip(4)?,
                2 => {
                    let size = self.varint()?;
                    let field_end = self.pos.checked_add(size).filter(|&e| e <= end);
                    let Some(field_end) = field_end else {
                        return Err("a field runs past the end of its message".into());
                    };
                    visit(self, Field::Bytes { num, size })?;
                    if self.pos > field_end {
                        return Err("a message's fields overrun its length".into());
                    }
                    self.skip(field_end - self.pos)?;
                }
                w => return Err(format!("unsupported protobuf wire type {w}")),
            }
        }
        if self.pos != end {
            return Err("a message's fields overrun its length".into());
        }
        Ok(())
    }
}

/// Appends `v` as a varint.
pub(super) fn put_varint(mut v: u64, out: &mut Vec<u8>) {
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

/// Appends field `num` as a varint field.
pub(super) fn put_varint_field(num: u64, v: u64, out: &mut Vec<u8>) {
    put_varint(num << 3, out);
    put_varint(v, out);
}

/// Appends field `num` as a length-delimited field holding `payload`.
pub(super) fn put_bytes_field(num: u64, payload: &[u8], out: &mut Vec<u8>) {
    put_varint(num << 3 | 2, out);
    put_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}
