//! Build script of the plugin cdylib: limit the exported symbols to the three OFX entry points.
//!
//! A host resolves symbols from every plugin it loads; exporting nothing else keeps our Rust
//! symbols (and those of our dependencies) from clashing with the host's or other plugins'.
//! `tests/exports.rs` checks the result with `nm -D`.

use std::env;
use std::fs;
use std::path::PathBuf;

const EXPORTS: [&str; 3] = ["OfxSetHost", "OfxGetNumberOfPlugins", "OfxGetPlugin"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    match os.as_str() {
        "linux" | "freebsd" | "android" => {
            // A version script: the listed symbols are global, everything else local.
            let map = out.join("promptreel_exports.map");
            let body = format!("{{\n  global: {};\n  local: *;\n}};\n", EXPORTS.join("; "));
            fs::write(&map, body).expect("write the version script");
            println!(
                "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
                map.display()
            );
        }
        "macos" => {
            let list = out.join("promptreel_exports.txt");
            let body: String = EXPORTS.iter().map(|s| format!("_{s}\n")).collect();
            fs::write(&list, body).expect("write the export list");
            println!(
                "cargo:rustc-cdylib-link-arg=-Wl,-exported_symbols_list,{}",
                list.display()
            );
        }
        // Windows DLLs export only what is marked for export; Rust marks just our no_mangle fns.
        _ => {}
    }
}
