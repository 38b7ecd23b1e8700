//! `tools/setup.sh` must install libclang (the C API bindgen loads) exactly when it is missing.
//!
//! Debian machines often carry `libclang-cpp.so.N` (the C++ API, pulled in by other LLVM
//! packages) without `libclang`; a check that matched `libclang*` took one for the other and the
//! README's first command then failed in bindgen. These tests point the script at fake system
//! folders (`PROMPTREEL_SETUP_ROOT`) and at a fake `apt-get` that only records its arguments.
//! The script is bash for Linux and macOS; a Windows build of the tests has nothing to run.

#![cfg(unix)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/setup.sh")
}

/// A fake root holding the given library files (paths relative to the root).
fn fake_root(name: &str, libs: &[&str]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("promptreel-setup-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    for lib in libs {
        let p = root.join(lib);
        fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
        fs::write(&p, b"").expect("touch");
    }
    fs::create_dir_all(&root).expect("mkdir root");
    root
}

/// Fake `apt-get` and `sudo` that append their arguments to `log` and succeed.
fn fake_tools(root: &Path) -> (PathBuf, PathBuf) {
    let bin = root.join("fake-bin");
    fs::create_dir_all(&bin).expect("mkdir bin");
    let log = root.join("apt.log");
    for tool in ["apt-get", "sudo"] {
        let body = if tool == "sudo" {
            "#!/bin/sh\nexec \"$@\"\n".to_string()
        } else {
            format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display())
        };
        let p = bin.join(tool);
        fs::write(&p, body).expect("write fake tool");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    (bin, log)
}

fn run(root: &Path, arg: &str, path_prefix: Option<&Path>) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .arg(arg)
        .env("PROMPTREEL_SETUP_ROOT", root)
        .env_remove("LIBCLANG_PATH");
    if let Some(bin) = path_prefix {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", bin.display()));
    }
    cmd.output().expect("bash runs")
}

const CPP_ONLY: &[&str] = &[
    "usr/lib/llvm-14/lib/libclang-cpp.so.14",
    "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
    "usr/lib/llvm-14/lib/libLLVM-14.so",
];

#[test]
fn libclang_cpp_alone_is_not_libclang() {
    let root = fake_root("cpp-only", CPP_ONLY);
    let out = run(&root, "--check", None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("libclang: missing"),
        "a root with only libclang-cpp must count as missing libclang: {text}"
    );
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn each_name_of_the_c_library_is_found() {
    for lib in [
        "usr/lib/llvm-14/lib/libclang.so",
        "usr/lib/llvm-14/lib/libclang.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.14",
        "usr/lib/llvm-16/lib/libclang-16.so",
        "usr/lib64/libclang.so.17.0.6",
    ] {
        let mut libs = CPP_ONLY.to_vec();
        libs.push(lib);
        let root = fake_root("found", &libs);
        let out = run(&root, "--check", None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(lib.rsplit('/').next().unwrap_or(lib)),
            "{lib} must be found: {text}"
        );
        let _ = fs::remove_dir_all(&root);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn setup_installs_libclang_dev_only_when_missing() {
    // Missing: apt-get installs libclang-dev.
    let root = fake_root("install", CPP_ONLY);
    let (bin, log) = fake_tools(&root);
    let out = run(&root, "--libclang-only", Some(&bin));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        calls
            .lines()
            .any(|l| l.contains("install") && l.contains("libclang-dev")),
        "apt-get was not asked for libclang-dev: {calls:?}"
    );
    let _ = fs::remove_dir_all(&root);

    // Present: nothing is installed.
    let mut libs = CPP_ONLY.to_vec();
    libs.push("usr/lib/llvm-14/lib/libclang-14.so.1");
    let root = fake_root("present", &libs);
    let (bin, log) = fake_tools(&root);
    let out = run(&root, "--libclang-only", Some(&bin));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !log.exists(),
        "apt-get ran although libclang is there: {:?}",
        fs::read_to_string(&log)
    );
    let _ = fs::remove_dir_all(&root);
}
