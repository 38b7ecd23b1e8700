//! The Windows plug-in (`Contents/Win64/Promptreel.ofx` of the Windows bundle, a PE DLL) exports
//! exactly the three OpenFX entry points, and imports only DLLs every Windows has.
//!
//! The tables are read from the file itself (PE/COFF: the export directory's names and
//! function count, the import directory's DLL names), so nothing Windows-specific is needed to
//! check them here. The system DLLs are the ones a Wine prefix's `system32` holds: a DLL that is
//! not there (mingw's `libgcc_s_seh-1.dll` or `libwinpthread-1.dll`, or `onnxruntime.dll`
//! linked by name) would not be on an editor's machine either, or would be found on `PATH`.
//!
//! Run by the Windows lane of `tools/test.sh`, which builds the bundle and the prefix and sets
//! `PROMPTREEL_WINE_PREFIX`; without it these tests say so and pass (a Linux-only run has no
//! Windows build). `$PROMPTREEL_WIN64_BUNDLE` names another bundle.

#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The only names the DLL may export.
const ENTRY_POINTS: [&str; 3] = ["OfxGetNumberOfPlugins", "OfxGetPlugin", "OfxSetHost"];

/// The Wine prefix of the Windows lane, or `None` (with a note) outside it.
fn lane_prefix() -> Option<PathBuf> {
    match std::env::var_os("PROMPTREEL_WINE_PREFIX") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!(
                "skipped: not in the Windows lane (bash tools/test_windows.sh sets \
                 PROMPTREEL_WINE_PREFIX)"
            );
            None
        }
    }
}

fn plugin_dll() -> PathBuf {
    let bundle = std::env::var_os("PROMPTREEL_WIN64_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/bundle-win64/Promptreel.ofx.bundle")
        });
    let dll = bundle.join("Contents/Win64/Promptreel.ofx");
    assert!(
        dll.is_file(),
        "no Windows plug-in at {}: run `cargo run -p promptreel-bundle -- build --target windows`",
        dll.display()
    );
    dll
}

/// A PE image's section table, enough to turn RVAs into file offsets.
struct Pe<'a> {
    bytes: &'a [u8],
    /// (virtual address, virtual size, raw offset, raw size) of each section.
    sections: Vec<(u32, u32, u32, u32)>,
    /// The data directories: (RVA, size) of exports [0], imports [1], ...
    directories: Vec<(u32, u32)>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl<'a> Pe<'a> {
    fn parse(bytes: &'a [u8]) -> Self {
        assert_eq!(&bytes[..2], b"MZ", "not a DOS/PE executable");
        let pe = u32_at(bytes, 0x3c) as usize;
        assert_eq!(&bytes[pe..pe + 4], b"PE\0\0", "no PE signature");
        let coff = pe + 4;
        assert_eq!(u16_at(bytes, coff), 0x8664, "not an x86-64 image");
        let section_count = usize::from(u16_at(bytes, coff + 2));
        let optional_size = usize::from(u16_at(bytes, coff + 16));
        let characteristics = u16_at(bytes, coff + 18);
        assert_ne!(
            characteristics & 0x2000,
            0,
            "not a DLL (IMAGE_FILE_DLL unset)"
        );
        let optional = coff + 20;
        assert_eq!(u16_at(bytes, optional), 0x20b, "not PE32+");
        // PE32+: NumberOfRvaAndSizes at 108, the directories from 112, 8 bytes each.
        let count = u32_at(bytes, optional + 108) as usize;
        let directories = (0..count)
            .map(|i| {
                let at = optional + 112 + 8 * i;
                (u32_at(bytes, at), u32_at(bytes, at + 4))
            })
            .collect();
        let table = optional + optional_size;
        let sections = (0..section_count)
            .map(|i| {
                let at = table + 40 * i;
                (
                    u32_at(bytes, at + 12),
                    u32_at(bytes, at + 8),
                    u32_at(bytes, at + 20),
                    u32_at(bytes, at + 16),
                )
            })
            .collect();
        Self {
            bytes,
            sections,
            directories,
        }
    }

    /// The file offset of `rva`.
    fn offset(&self, rva: u32) -> usize {
        let (va, _, raw, _) = self
            .sections
            .iter()
            .copied()
            .find(|&(va, vsize, _, rsize)| rva >= va && rva < va + vsize.max(rsize))
            .unwrap_or_else(|| panic!("RVA {rva:#x} is in no section"));
        (rva - va + raw) as usize
    }

    /// The NUL-terminated ASCII string at `rva`.
    fn string(&self, rva: u32) -> String {
        let at = self.offset(rva);
        let end = self.bytes[at..]
            .iter()
            .position(|&b| b == 0)
            .expect("terminated");
        String::from_utf8_lossy(&self.bytes[at..at + end]).into_owned()
    }

    /// The export directory's (function count, names).
    fn exports(&self) -> (u32, Vec<String>) {
        let (rva, size) = self.directories[0];
        if size == 0 {
            return (0, Vec::new());
        }
        let dir = self.offset(rva);
        let functions = u32_at(self.bytes, dir + 20);
        let name_count = u32_at(self.bytes, dir + 24) as usize;
        let names = self.offset(u32_at(self.bytes, dir + 32));
        let names = (0..name_count)
            .map(|i| self.string(u32_at(self.bytes, names + 4 * i)))
            .collect();
        (functions, names)
    }

    /// The DLL names of the import directory.
    fn imports(&self) -> Vec<String> {
        let (rva, size) = self.directories[1];
        if size == 0 {
            return Vec::new();
        }
        let mut at = self.offset(rva);
        let mut out = Vec::new();
        // Descriptors of 20 bytes, ending with an all-zero one.
        while self.bytes[at..at + 20].iter().any(|&b| b != 0) {
            out.push(self.string(u32_at(self.bytes, at + 12)));
            at += 20;
        }
        out
    }
}

#[test]
fn the_windows_plugin_exports_exactly_the_three_entry_points() {
    if lane_prefix().is_none() {
        return;
    }
    let dll = plugin_dll();
    let bytes = std::fs::read(&dll).expect("read the plug-in");
    let (functions, names) = Pe::parse(&bytes).exports();
    let names: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(ENTRY_POINTS),
        "{} exports other names",
        dll.display()
    );
    // An export by ordinal only has no name: the function count catches it.
    assert_eq!(
        functions,
        3,
        "{} exports {functions} functions",
        dll.display()
    );
}

#[test]
fn the_windows_plugin_imports_only_system_dlls() {
    let Some(prefix) = lane_prefix() else {
        return;
    };
    let system32 = prefix.join("drive_c/windows/system32");
    let present: BTreeSet<String> = std::fs::read_dir(&system32)
        .unwrap_or_else(|e| panic!("list {}: {e}", system32.display()))
        .map(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .to_lowercase()
        })
        .collect();
    let dll = plugin_dll();
    let bytes = std::fs::read(&dll).expect("read the plug-in");
    let imports = Pe::parse(&bytes).imports();
    assert!(
        imports
            .iter()
            .any(|d| d.eq_ignore_ascii_case("kernel32.dll")),
        "the import table was not read: {imports:?}"
    );
    let foreign: Vec<&String> = imports
        .iter()
        .filter(|d| {
            let d = d.to_lowercase();
            // API sets (api-ms-win-*) are names the loader maps onto system DLLs.
            !(present.contains(&d) || d.starts_with("api-ms-win-"))
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "{} imports DLLs that are not part of Windows: {foreign:?} (all: {imports:?})",
        dll.display()
    );
    assert!(
        !imports
            .iter()
            .any(|d| d.to_lowercase().contains("onnxruntime")),
        "ONNX Runtime must be loaded by absolute path, never imported: {imports:?}"
    );
}
