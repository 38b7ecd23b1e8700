//! The plug-in binary exports exactly the three OpenFX entry points and nothing else.
//!
//! A host resolves symbols from every plug-in it loads into one process; any other exported
//! symbol (ours or a dependency's) could clash with the host's or another plug-in's. The root
//! `build.rs` hides everything else with a version script; this test reads the dynamic symbol
//! table of the cdylib cargo built for this test run with `nm -D --defined-only`.
//!
//! Needs: `nm` (binutils). `$PROMPTREEL_OFX_BINARY` checks another build instead.

#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// The only symbols the binary may define in its dynamic symbol table.
const ENTRY_POINTS: [&str; 3] = ["OfxGetNumberOfPlugins", "OfxGetPlugin", "OfxSetHost"];

/// `$PROMPTREEL_OFX_BINARY`, else the cdylib built with this test: the test executable is
/// `target/<profile>/deps/exports-<hash>` and the cdylib `deps/libpromptreel_ofx.so` beside it.
// NOTE: `cargo test` relinks only the copy in `deps/`; `target/<profile>/libpromptreel_ofx.so`
// is refreshed by `cargo build` and may be stale here, so it is only the fallback.
fn plugin_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMPTREEL_OFX_BINARY") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    let name = "libpromptreel_ofx.so";
    [deps.join(name), deps.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no {name} next to {}: cargo builds it with the package's tests; \
                 run `cargo test -p promptreel-ofx --test exports`",
                deps.display()
            )
        })
}

/// One defined dynamic symbol: its `nm` type letter and its name without a version tag.
#[derive(Debug)]
struct Symbol {
    kind: String,
    name: String,
}

/// Runs `nm -D --defined-only` on `path`.
fn defined_dynamic_symbols(path: &std::path::Path) -> Vec<Symbol> {
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `nm` ({e}); install binutils: `apt-get install binutils`")
        });
    assert!(
        output.status.success(),
        "nm -D --defined-only {} failed ({}): {}",
        path.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("nm prints UTF-8");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            // "<address> <type> <name>[@version | @@version]"
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "unexpected nm line {line:?}");
            let name = fields[2].split('@').next().unwrap_or_default();
            Symbol {
                kind: fields[1].to_owned(),
                name: name.to_owned(),
            }
        })
        .collect()
}

#[test]
fn only_the_three_entry_points_are_exported() {
    let path = plugin_binary();
    eprintln!("plug-in binary: {}", path.display());
    let symbols = defined_dynamic_symbols(&path);
    let names: BTreeSet<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    let expected: BTreeSet<&str> = ENTRY_POINTS.into_iter().collect();
    let extra: Vec<&Symbol> = symbols
        .iter()
        .filter(|s| !expected.contains(s.name.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "{} exports {} symbol(s) besides the OpenFX entry points (the version script in \
         build.rs should hide them): {:#?}",
        path.display(),
        extra.len(),
        extra
    );
    let missing: Vec<&&str> = expected.difference(&names).collect();
    assert!(
        missing.is_empty(),
        "{} does not export {missing:?}",
        path.display()
    );
    for symbol in &symbols {
        assert_eq!(
            symbol.kind, "T",
            "{} must be an exported function (type T), nm says {}",
            symbol.name, symbol.kind
        );
    }
    assert_eq!(symbols.len(), ENTRY_POINTS.len(), "{symbols:#?}");
}
