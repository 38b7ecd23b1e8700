//! Canonical paths that read well in messages on every system.
//!
//! On Windows `std::fs::canonicalize` answers with a verbatim path (`\\?\C:\models\shapes`,
//! `\\?\UNC\server\share\...`): correct, but it then shows in every sentence that names a file,
//! and some tools refuse it. [`canonicalize`] gives the ordinary form where that names the same
//! file, and keeps the verbatim one where it is needed (a path too long for the ordinary form).

use std::io;
use std::path::{Path, PathBuf};

/// `path` made absolute with every link resolved, as [`std::fs::canonicalize`], but on Windows
/// without the `\\?\` prefix where the path does not need it.
pub fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    path.canonicalize().map(|p| ordinary(&p).unwrap_or(p))
}

/// The ordinary form of a verbatim Windows path, or `None` when it has none (or is not one).
#[cfg_attr(not(windows), allow(dead_code))]
fn ordinary_form(verbatim: &str) -> Option<String> {
    /// Longer paths need the verbatim form (MAX_PATH, without its terminating NUL).
    const MAX_PATH: usize = 259;
    let plain = if let Some(rest) = verbatim.strip_prefix(r"\\?\UNC\") {
        format!(r"\\{rest}")
    } else {
        let rest = verbatim.strip_prefix(r"\\?\")?;
        let drive = rest.as_bytes();
        // A drive path, `X:\...`; other verbatim forms (volume GUIDs) have no ordinary one.
        if !(drive.len() >= 3 && drive[0].is_ascii_alphabetic() && &drive[1..3] == b":\\") {
            return None;
        }
        rest.to_owned()
    };
    // NOTE: the ordinary form strips trailing dots and spaces from names and treats `CON`,
    // `NUL` and the like as devices, so a path with such a component keeps the verbatim form.
    let reserved = |name: &str| {
        let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
        matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
            || ((stem.starts_with("COM") || stem.starts_with("LPT"))
                && stem.len() == 4
                && stem.as_bytes()[3].is_ascii_digit())
    };
    let awkward = plain
        .split('\\')
        .any(|c| c.ends_with('.') || c.ends_with(' ') || reserved(c));
    (plain.len() <= MAX_PATH && !awkward).then_some(plain)
}

#[cfg(windows)]
fn ordinary(path: &Path) -> Option<PathBuf> {
    path.to_str().and_then(ordinary_form).map(PathBuf::from)
}

#[cfg(not(windows))]
fn ordinary(_: &Path) -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::ordinary_form;

    #[test]
    fn verbatim_drive_and_share_paths_get_their_ordinary_form() {
        assert_eq!(
            ordinary_form(r"\\?\C:\models\shapes").as_deref(),
            Some(r"C:\models\shapes")
        );
        assert_eq!(
            ordinary_form(r"\\?\UNC\farm\share\clips").as_deref(),
            Some(r"\\farm\share\clips")
        );
    }

    #[test]
    fn paths_that_need_the_verbatim_form_keep_it() {
        for p in [
            r"\\?\Volume{0b1c2d3e-0000-0000-0000-100000000000}\models",
            r"\\?\C:\models\con\x",
            r"\\?\C:\models\trailing.",
            r"\\?\C:\models\com1.txt",
            r"C:\already\ordinary",
        ] {
            assert_eq!(ordinary_form(p), None, "{p}");
        }
        let long = format!(r"\\?\C:\{}", "a".repeat(300));
        assert_eq!(ordinary_form(&long), None);
        assert!(ordinary_form(r"\\?\C:\models\common").is_some());
    }
}
