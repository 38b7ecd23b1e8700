//! The names our graphs have on an inference server.
//!
//! One server holds the graphs of several packages, and keeps serving whatever its repository
//! held when it started. A name therefore carries the package (a readable slug of its manifest
//! name) and a hash of its identity (name, version and file sizes), so a re-exported package
//! gets new names and a client never calls a stale graph that happens to share a name.
//! Names use only `a-z`, `0-9` and `-`: they are folder names in a Triton model repository and
//! path segments in KServe v2 URLs (`/v2/models/<name>/infer`), and need no escaping in either.

use sha2::{Digest, Sha256};

use crate::package::GraphRole;

/// Longest slug kept from the manifest name; with the hash and role a name stays under 60
/// characters.
const SLUG_MAX: usize = 32;

/// Hex digits of the identity's SHA-256 kept: 40 bits, so two exports of one package collide
/// with odds of one in a trillion.
const HASH_DIGITS: usize = 10;

/// The server-side model name of `role`'s graph in the package whose manifest name is
/// `package_name` and whose identity string is `identity` (ModelPackage::identity():
/// "name@version#sizes").
/// Several packages share one server, and a re-exported package (new sizes) gets new names, so
/// a server holding stale graphs is never called by mistake.
pub fn model_name(package_name: &str, identity: &str, role: GraphRole) -> String {
    format!(
        "{}-{}-{}",
        slug(package_name),
        identity_hash(identity),
        role_name(role)
    )
}

/// The role's part of a model name.
pub fn role_name(role: GraphRole) -> &'static str {
    match role {
        GraphRole::TextEncoder => "text-encoder",
        GraphRole::Denoiser => "denoiser",
        GraphRole::Denoiser2 => "denoiser-2",
        GraphRole::VaeDecoder => "vae-decoder",
        GraphRole::VaeEncoder => "vae-encoder",
    }
}

/// `name` lowercased, each run of characters outside `[a-z0-9]` made one `-`, trimmed of `-`,
/// cut to [`SLUG_MAX`] characters (and trimmed again); `model` if nothing is left.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    // NOTE: only ASCII is left, so cutting at a byte count cuts at a character.
    let cut: &str = out.trim_matches('-');
    let cut = cut[..cut.len().min(SLUG_MAX)].trim_matches('-');
    if cut.is_empty() {
        "model".to_string()
    } else {
        cut.to_string()
    }
}

/// The first [`HASH_DIGITS`] hex digits of the SHA-256 of `identity`.
fn identity_hash(identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    let mut hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(HASH_DIGITS);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [GraphRole; 5] = [
        GraphRole::TextEncoder,
        GraphRole::Denoiser,
        GraphRole::Denoiser2,
        GraphRole::VaeDecoder,
        GraphRole::VaeEncoder,
    ];

    #[test]
    fn slugs() {
        assert_eq!(slug("Promptreel Shapes"), "promptreel-shapes");
        assert_eq!(slug("Wan2.2 T2V A14B (fp16)"), "wan2-2-t2v-a14b-fp16");
        assert_eq!(slug("  --LTX_Video--  "), "ltx-video");
        assert_eq!(slug(""), "model");
        assert_eq!(slug("***"), "model");
        assert_eq!(slug("Ünïcode Café"), "n-code-caf");
        // cut to 32, and no '-' left dangling by the cut
        let long = "abcdefghijklmnopqrstuvwxyz01234 6789";
        assert_eq!(slug(long), "abcdefghijklmnopqrstuvwxyz01234");
        assert_eq!(slug(&"x".repeat(40)), "x".repeat(32));
    }

    #[test]
    fn names_are_stable_and_distinct() {
        let id = "Promptreel Shapes@1#100-200-300-400";
        let name = model_name("Promptreel Shapes", id, GraphRole::Denoiser);
        // SHA-256("Promptreel Shapes@1#100-200-300-400") starts 4b4b6f18b5
        assert_eq!(name, "promptreel-shapes-4b4b6f18b5-denoiser");
        assert_eq!(
            name,
            model_name("Promptreel Shapes", id, GraphRole::Denoiser)
        );
        // a re-export (new sizes) gets a new name
        let other = model_name(
            "Promptreel Shapes",
            "Promptreel Shapes@1#100-200-300-401",
            GraphRole::Denoiser,
        );
        assert_ne!(name, other);
        // every role has its own name, and every name is a plain folder name
        let names: Vec<String> = ROLES
            .iter()
            .map(|&r| model_name("Promptreel Shapes", id, r))
            .collect();
        for (i, n) in names.iter().enumerate() {
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert!(
                !n.starts_with('-') && !n.ends_with('-') && !n.contains("--"),
                "{n}"
            );
            assert!(n.len() <= 32 + 1 + 10 + 1 + 12, "{n}");
            assert!(!names[..i].contains(n), "{n} twice");
        }
    }

    #[test]
    fn known_hash() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(identity_hash("abc"), "ba7816bf8f");
        assert_eq!(
            model_name("", "abc", GraphRole::VaeEncoder),
            "model-ba7816bf8f-vae-encoder"
        );
    }
}
