//! The remote backend against a real KServe v2 server: MLServer on 127.0.0.1 serving a package's
//! graphs with ONNX Runtime (tools/remote/), from a repository `triton_repo` wrote.
//!
//! Parity: the same package and request give bit-identical frames locally and remotely.
//! Faults: an unreachable port, a model the server lacks, a server holding another package's
//! graphs under our names, a message over the server's limit, a server killed mid-generation,
//! a frozen server (timeout, and cancelling while waiting): each a sentence, never a panic.

mod common;
#[path = "support/mlserver.rs"]
mod mlserver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlserver::MlServer;
use promptreel_engine::remote::{ServerConfig, names};
use promptreel_engine::{
    Device, ErrorKind, GenerateRequest, Model, Observer, Phase, Progress, SessionOptions, Silent,
    Video, generate, registry,
};

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/default")
}

fn remote(dir: &Path, server: ServerConfig) -> Arc<Model> {
    let options = SessionOptions {
        device: Device::Remote,
        server: Some(server),
        ..Default::default()
    };
    registry::get(dir, options, None).expect("the package opens")
}

fn request(seed: u64, steps: u32) -> GenerateRequest {
    GenerateRequest {
        prompt: "a red ball moving right".into(),
        seed,
        steps,
        ..Default::default()
    }
}

fn failure(
    model: &Model,
    req: &GenerateRequest,
    observer: &mut dyn Observer,
) -> (ErrorKind, String) {
    match generate(model, req, observer) {
        Ok(_) => panic!("the generation should have failed"),
        Err(e) => (e.kind(), e.to_string()),
    }
}

/// Local frames of `dir` (CPU, one thread as the server's runtime) and the same remotely.
fn local_and_remote(dir: &Path, server: &MlServer, req: &GenerateRequest) -> (Video, Video) {
    let local = registry::get(dir, common::cpu(1), None).expect("loads");
    let here = generate(&local, req, &mut Silent).expect("local generation");
    let there =
        generate(&remote(dir, server.config()), req, &mut Silent).expect("remote generation");
    (here, there)
}

#[test]
fn remote_frames_are_bit_identical_to_local_ones() {
    for dir in [default_dir(), common::data().join("tiny-unet3d")] {
        let server = MlServer::for_package(&dir);
        let req = request(7, 6);
        let (here, there) = local_and_remote(&dir, &server, &req);
        assert_eq!(here.frames.len(), there.frames.len());
        let differing = here
            .frames
            .iter()
            .zip(&there.frames)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(differing, 0, "{}: {differing} values differ", dir.display());
        assert!(
            there.providers.iter().all(|(_, p)| p.contains("remote")),
            "{:?}",
            there.providers
        );
        // and the frames are a real clip, not a constant
        let (lo, hi) = there
            .frames
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(hi - lo > 0.2, "{}: flat frames {lo}..{hi}", dir.display());
    }
}

#[test]
fn an_unreachable_server_is_a_sentence() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let server = ServerConfig::parse(&format!("127.0.0.1:{port}")).expect("address");
    let started = Instant::now();
    let (kind, msg) = failure(&remote(&default_dir(), server), &request(1, 2), &mut Silent);
    assert_eq!(kind, ErrorKind::Server, "{msg}");
    assert!(
        msg.contains("cannot reach the server at http://127.0.0.1:"),
        "{msg}"
    );
    assert!(msg.contains("Check that it is running"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn wrong_models_and_mismatched_graphs_are_refused_before_running() {
    // A server that holds only tiny-unet3d's graphs: the default model's names are not there.
    let server = MlServer::for_package(&common::data().join("tiny-unet3d"));
    let (kind, msg) = failure(
        &remote(&default_dir(), server.config()),
        &request(1, 2),
        &mut Silent,
    );
    assert_eq!(kind, ErrorKind::Server, "{msg}");
    assert!(
        msg.contains("has no ready model named \"promptreel-shapes-"),
        "{msg}"
    );
    assert!(msg.contains("promptreel triton-repo"), "{msg}");
    drop(server);

    // tiny-sd's graphs (image latents, rank 4) under the default model's names.
    let sd = mlserver::repository_for(&common::data().join("tiny-sd"));
    let default = promptreel_engine::ModelPackage::open(&default_dir()).expect("opens");
    let m = default.manifest();
    for entry in std::fs::read_dir(&sd).expect("repo") {
        let dir = entry.expect("entry").path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        for (suffix, r) in [
            (
                "-text-encoder",
                promptreel_engine::package::GraphRole::TextEncoder,
            ),
            ("-denoiser", promptreel_engine::package::GraphRole::Denoiser),
            (
                "-vae-decoder",
                promptreel_engine::package::GraphRole::VaeDecoder,
            ),
            (
                "-vae-encoder",
                promptreel_engine::package::GraphRole::VaeEncoder,
            ),
        ] {
            if name.ends_with(suffix) {
                let ours = names::model_name(&m.name, default.identity(), r);
                std::fs::rename(&dir, sd.join(ours)).expect("rename");
            }
        }
    }
    let server = MlServer::start(&sd, None);
    let (kind, msg) = failure(
        &remote(&default_dir(), server.config()),
        &request(1, 2),
        &mut Silent,
    );
    assert_eq!(kind, ErrorKind::Server, "{msg}");
    assert!(msg.contains("does not match this package's graph"), "{msg}");
    assert!(msg.contains("write the repository again"), "{msg}");
}

#[test]
fn a_message_over_the_servers_limit_is_a_sentence() {
    let repo = mlserver::repository_for(&default_dir());
    // 16 KiB: the prompt goes through, the denoiser's latents and text do not.
    let server = MlServer::start(&repo, Some(16 * 1024));
    let (kind, msg) = failure(
        &remote(&default_dir(), server.config()),
        &request(1, 2),
        &mut Silent,
    );
    assert_eq!(kind, ErrorKind::Server, "{msg}");
    assert!(msg.contains("as too large"), "{msg}");
    assert!(msg.contains("message limit"), "{msg}");
    assert!(msg.contains("MiB"), "{msg}");
}

/// Runs `act` once, at the second denoising step's report.
struct AtStep<F: FnMut()> {
    act: Option<F>,
    cancel_after: Option<Duration>,
    acted_at: Option<Instant>,
}

impl<F: FnMut()> Observer for AtStep<F> {
    fn progress(&mut self, p: &Progress) {
        if p.phase == Phase::Denoising
            && p.done == 2
            && let Some(mut act) = self.act.take()
        {
            act();
            self.acted_at = Some(Instant::now());
        }
    }

    fn should_cancel(&mut self) -> bool {
        match (self.cancel_after, self.acted_at) {
            (Some(after), Some(at)) => at.elapsed() >= after,
            _ => false,
        }
    }
}

#[test]
fn a_server_killed_mid_generation_is_a_sentence() {
    let mut server = MlServer::for_package(&default_dir());
    let model = remote(&default_dir(), server.config());
    let pid = server.pid();
    let mut obs = AtStep {
        act: Some(move || {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }),
        cancel_after: None,
        acted_at: None,
    };
    let (kind, msg) = failure(&model, &request(3, 8), &mut obs);
    assert_eq!(kind, ErrorKind::Server, "{msg}");
    assert!(
        msg.contains("lost the connection") || msg.contains("cannot reach"),
        "{msg}"
    );
    assert!(msg.contains(&server.url()), "{msg}");
    server.kill();
}

#[test]
fn a_frozen_server_times_out_and_a_waiting_call_can_be_cancelled() {
    let server = MlServer::for_package(&default_dir());
    let short = server
        .config()
        .with_call_timeout(Duration::from_secs(2))
        .expect("timeout");
    // Frozen (SIGSTOP) at the second step: the next call waits out its 2 s.
    let model = remote(&default_dir(), short);
    let mut obs = AtStep {
        act: Some(|| server.signal("STOP")),
        cancel_after: None,
        acted_at: None,
    };
    let started = Instant::now();
    let (kind, msg) = failure(&model, &request(4, 8), &mut obs);
    server.signal("CONT");
    assert_eq!(kind, ErrorKind::Server, "{msg}");
    assert!(
        msg.contains("did not answer") && msg.contains("within 2 s"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));

    // Frozen again, with the default 600 s allowed: cancelling 1 s into the wait ends it.
    let model = remote(&default_dir(), server.config());
    let mut obs = AtStep {
        act: Some(|| server.signal("STOP")),
        cancel_after: Some(Duration::from_secs(1)),
        acted_at: None,
    };
    let (kind, msg) = failure(&model, &request(5, 8), &mut obs);
    let waited = obs.acted_at.map(|t| t.elapsed()).unwrap_or_default();
    server.signal("CONT");
    assert_eq!(kind, ErrorKind::Cancelled, "{msg}");
    assert!(waited < Duration::from_secs(5), "cancel took {waited:?}");
}

fn read_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("output folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("frame");
            (p.file_name().unwrap().to_string_lossy().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_cli_writes_a_triton_repository_and_generates_through_the_server() {
    let scratch =
        std::env::temp_dir().join(format!("promptreel-remote-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_promptreel"))
            .args(args)
            .output()
            .expect("run promptreel")
    };
    let path = |p: &Path| p.to_string_lossy().to_string();
    let repo = scratch.join("repo");
    let out = cli(&[
        "triton-repo",
        &path(&default_dir()),
        &path(&repo),
        "--placement",
        "symlink",
        "--cpu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = MlServer::start(&repo, None);

    let model = path(&default_dir());
    let generate = |extra: &[&str], to: &Path| {
        let mut args = vec![
            "generate",
            "--model",
            model.as_str(),
            "--prompt",
            "a blue square moving left",
            "--steps",
            "4",
            "--seed",
            "9",
            "--threads",
            "1",
        ];
        let to = path(to);
        args.extend(["--out", to.as_str()]);
        args.extend(extra);
        cli(&args)
    };
    let url = server.url();
    let remote_out = scratch.join("remote");
    let out = generate(&["--server", &url], &remote_out);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("remote server"), "{stdout}");
    let local_out = scratch.join("local");
    let out = generate(&["--device", "cpu"], &local_out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (remote_frames, local_frames) = (read_bytes(&remote_out), read_bytes(&local_out));
    assert_eq!(remote_frames.len(), 8);
    assert!(
        remote_frames == local_frames,
        "remote PNGs differ from local ones"
    );

    // the CLI's refusals: a device that contradicts --server, remote without an address, and a
    // server that is gone (exit status 8, a sentence, no panic)
    let out = generate(&["--server", &url, "--device", "cpu"], &scratch.join("x"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drop one of them"));
    let out = generate(&["--device", "remote"], &scratch.join("x"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server http://host:8001"));

    // The graphs' memory is the server's: a 64 MiB cap here refuses 256x256 on the CPU (about
    // 310 MiB) but not through the server, which only needs the latents and frames here.
    let big = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--model",
            model.as_str(),
            "--prompt",
            "a ball",
            "--steps",
            "2",
            "--width",
            "256",
            "--height",
            "256",
        ];
        let to = path(&scratch.join("big"));
        args.extend(["--out", to.as_str()]);
        args.extend(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_promptreel"))
            .args(&args)
            .env("PROMPTREEL_MEMORY_LIMIT_MB", "64")
            .output()
            .expect("run promptreel")
    };
    let out = big(&["--device", "cpu"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = big(&["--server", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    drop(server);
    let out = generate(&["--server", &url], &scratch.join("gone"));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("cannot reach the server at"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&scratch);
}
