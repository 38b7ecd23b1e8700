//! Generates the Rust declarations of the OpenFX API from our own headers in
//! `include/promptreel_ofx/` with bindgen.
//!
//! String `#define`s become `&CStr` constants, integer `#define`s become
//! `i32` (so status codes compare with `OfxStatus` without casts), and only
//! OpenFX items (`Ofx*`, `kOfx*`) and our `PROMPTREEL_OFX_*` helpers are
//! emitted. The three entry points a plug-in binary exports are declared in
//! the headers for C users but deliberately not emitted here: the plug-in
//! crate defines them.

use std::env;
use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use bindgen::callbacks::{IntKind, ParseCallbacks};

/// Header bindgen starts from.
const UMBRELLA: &str = "include/promptreel_ofx/ofx.h";
/// Folder holding every header the umbrella includes.
const HEADER_DIR: &str = "include/promptreel_ofx";

/// Environment variables that bindgen or clang-sys read while finding and
/// running libclang. A change in any of them must rerun this script.
const CLANG_ENV_VARS: &[&str] = &[
    "LIBCLANG_PATH",
    "LIBCLANG_STATIC_PATH",
    "LLVM_CONFIG_PATH",
    "CLANG_PATH",
    "BINDGEN_EXTRA_CLANG_ARGS",
];

/// Gives integer macros the C `int` type, which is what `OfxStatus` is.
#[derive(Debug)]
struct IntMacrosAreI32;

impl ParseCallbacks for IntMacrosAreI32 {
    fn int_macro(&self, _name: &str, value: i64) -> Option<IntKind> {
        // NOTE: every integer the OpenFX API defines fits an `int`; anything
        // larger keeps bindgen's default choice rather than being truncated.
        i32::try_from(value).ok().map(|_| IntKind::I32)
    }
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");

    println!("cargo:rerun-if-changed=build.rs");
    emit_rerun_for_headers(&manifest_dir.join(HEADER_DIR));
    for var in CLANG_ENV_VARS {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // bindgen also reads a per-target variant, spelled with the target triple
    // as given and with its dashes turned into underscores.
    println!("cargo:rerun-if-env-changed=BINDGEN_EXTRA_CLANG_ARGS_{target}");
    println!(
        "cargo:rerun-if-env-changed=BINDGEN_EXTRA_CLANG_ARGS_{}",
        target.replace('-', "_")
    );

    let builder = bindgen::Builder::default()
        .header(manifest_dir.join(UMBRELLA).to_string_lossy())
        .clang_arg("-std=c99")
        .clang_arg(format!("-I{}", manifest_dir.join("include").display()))
        .rust_edition(bindgen::RustEdition::Edition2024)
        .allowlist_type("Ofx.*")
        .allowlist_var("kOfx.*")
        .allowlist_var("PROMPTREEL_OFX_.*")
        .generate_cstr(true)
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .parse_callbacks(Box::new(IntMacrosAreI32))
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .layout_tests(true);

    let bindings = generate_or_explain(builder);
    let out_file = out_dir.join("ofx_bindings.rs");
    bindings
        .write_to_file(&out_file)
        .unwrap_or_else(|err| panic!("writing {}: {err}", out_file.display()));
}

/// Asks cargo to rerun for the header folder (new files) and every header in
/// it (edits).
fn emit_rerun_for_headers(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries =
        fs::read_dir(dir).unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()));
    let mut headers: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "h"))
        .collect();
    headers.sort();
    for header in headers {
        println!("cargo:rerun-if-changed={}", header.display());
    }
}

/// Runs bindgen, turning a missing libclang (which bindgen reports by
/// panicking) and parse errors into messages that say what to do.
fn generate_or_explain(builder: bindgen::Builder) -> bindgen::Bindings {
    // NOTE: silence the default hook while bindgen runs so a missing libclang
    // yields one clear message instead of a bare "Unable to find libclang".
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(panic::AssertUnwindSafe(|| builder.generate()));
    panic::set_hook(default_hook);

    match outcome {
        Ok(Ok(bindings)) => bindings,
        Ok(Err(err)) => panic!(
            "bindgen could not process {UMBRELLA}: {err}\n\
             If libclang itself is missing, install it (Debian/Ubuntu: \
             `apt-get install -y libclang-dev`) or point LIBCLANG_PATH at the \
             folder holding libclang.so."
        ),
        Err(payload) => {
            let detail = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("bindgen panicked");
            panic!(
                "ofx-sys needs libclang to generate its bindings, and bindgen failed: {detail}\n\
                 Install it with `apt-get install -y libclang-dev` (Debian/Ubuntu), \
                 or set LIBCLANG_PATH to the folder that holds libclang.so / libclang.dll."
            )
        }
    }
}
