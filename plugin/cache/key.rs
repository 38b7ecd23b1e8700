//! Content keys: a SHA-256 over everything that changes a clip's pixels.
//!
//! The same key names the same file on every machine, so a render farm sharing one cache folder
//! never generates a clip twice.

use std::fmt::{self, Write as _};

use sha2::{Digest, Sha256};

use crate::cache::disk::FORMAT_VERSION;

/// Domain separator hashed first, so these keys never collide with another SHA-256 use.
const KEY_DOMAIN: &[u8] = b"promptreel.clip-cache.key";

/// 32-byte content key of everything that changes a clip's pixels.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ClipKey([u8; 32]);

impl ClipKey {
    /// Hashes (name, value) pairs unambiguously (length-prefixed, in the given order) with
    /// SHA-256, plus a format-version salt so a change of cache format changes every key.
    #[must_use]
    pub fn from_parts(parts: &[(&str, &str)]) -> Self {
        let mut hasher = Sha256::new();
        hash_field(&mut hasher, KEY_DOMAIN);
        hasher.update(FORMAT_VERSION.to_le_bytes());
        // NOTE: the count is hashed too, so a trailing ("", "") pair still changes the key.
        hasher.update(u64_len(parts.len()).to_le_bytes());
        for (name, value) in parts {
            hash_field(&mut hasher, name.as_bytes());
            hash_field(&mut hasher, value.as_bytes());
        }
        Self(hasher.finalize().into())
    }

    /// Wraps raw key bytes (as read back from a file header).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 64 lowercase hex characters (the file stem on disk).
    #[must_use]
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            // NOTE: writing into a String cannot fail.
            let _ = write!(out, "{byte:02x}");
        }
        out
    }
}

impl fmt::Display for ClipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Hashes one field as its 64-bit little-endian length followed by its bytes.
fn hash_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update(u64_len(bytes.len()).to_le_bytes());
    hasher.update(bytes);
}

/// A length as `u64` (lossless on every supported target).
fn u64_len(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_parts_same_key() {
        let a = ClipKey::from_parts(&[("prompt", "a cat"), ("seed", "7")]);
        let b = ClipKey::from_parts(&[("prompt", "a cat"), ("seed", "7")]);
        assert_eq!(a, b);
        assert_eq!(a.hex(), b.hex());
    }

    #[test]
    fn changed_value_changes_key() {
        let a = ClipKey::from_parts(&[("prompt", "a cat"), ("seed", "7")]);
        let b = ClipKey::from_parts(&[("prompt", "a cat"), ("seed", "8")]);
        let c = ClipKey::from_parts(&[("prompt", "a cat"), ("sead", "7")]);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn order_matters() {
        let a = ClipKey::from_parts(&[("prompt", "a cat"), ("seed", "7")]);
        let b = ClipKey::from_parts(&[("seed", "7"), ("prompt", "a cat")]);
        assert_ne!(a, b);
    }

    #[test]
    fn boundaries_matter() {
        // Moved between name and value, between pairs, and into an extra empty pair.
        let a = ClipKey::from_parts(&[("ab", "c")]);
        let b = ClipKey::from_parts(&[("a", "bc")]);
        assert_ne!(a, b);
        let c = ClipKey::from_parts(&[("x", "ab"), ("c", "d")]);
        let d = ClipKey::from_parts(&[("x", "a"), ("bc", "d")]);
        assert_ne!(c, d);
        let e = ClipKey::from_parts(&[("x", "y")]);
        let f = ClipKey::from_parts(&[("x", "y"), ("", "")]);
        assert_ne!(e, f);
        assert_ne!(ClipKey::from_parts(&[]), ClipKey::from_parts(&[("", "")]));
    }

    #[test]
    fn hex_is_64_lowercase_chars() {
        let key = ClipKey::from_parts(&[("prompt", "a cat")]);
        let hex = key.hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!(key.to_string(), hex);
        assert_eq!(ClipKey::from_bytes([0xab; 32]).hex(), "ab".repeat(32));
    }

    #[test]
    fn key_is_salted() {
        // The bare SHA-256 of the same encoding without the salt must differ.
        let mut plain = Sha256::new();
        plain.update(1u64.to_le_bytes());
        for field in ["a", "b"] {
            plain.update(u64_len(field.len()).to_le_bytes());
            plain.update(field.as_bytes());
        }
        let plain: [u8; 32] = plain.finalize().into();
        assert_ne!(ClipKey::from_parts(&[("a", "b")]).as_bytes(), &plain);
    }
}
