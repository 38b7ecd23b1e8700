//! A real KServe v2 server for tests and benchmarks: MLServer with our runtime
//! (tools/remote/serve_mlserver.py), serving a package's graphs from a Triton model repository
//! that `promptreel_engine::remote::triton_repo` writes, on 127.0.0.1 and a free port.
//!
//! The server dies with the test process: it is started with `--exit-with-stdin` and this side
//! holds its standard input, so even a test that panics or is killed takes it down.
//! The interpreter comes from $PROMPTREEL_MLSERVER_PYTHON (tools/test.sh sets it) or
//! tools/fetch_mlserver.sh, which installs MLServer into target/mlserver/venv once.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use promptreel_engine::ModelPackage;
use promptreel_engine::remote::triton_repo::{self, Accelerator, Placement, RepoOptions};
use promptreel_engine::remote::{ServerConfig, check_server};

/// The repository root (this file is compiled into the engine's and the plug-in's tests).
pub fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tools/remote/serve_mlserver.py").is_file() {
        assert!(
            dir.pop(),
            "tools/remote/serve_mlserver.py not found above the crate"
        );
    }
    dir
}

/// The Python that has MLServer.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) =
                std::env::var_os("PROMPTREEL_MLSERVER_PYTHON").filter(|p| !p.is_empty())
            {
                return PathBuf::from(p);
            }
            let out = Command::new("bash")
                .arg(repo_root().join("tools/fetch_mlserver.sh"))
                .stderr(Stdio::inherit())
                .output()
                .expect("run tools/fetch_mlserver.sh");
            assert!(
                out.status.success(),
                "tools/fetch_mlserver.sh failed; run it by hand to see why"
            );
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        })
        .clone()
}

fn scratch_dir(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "promptreel-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Writes a Triton repository for `package` (graphs symlinked) into a new scratch folder.
pub fn repository_for(package: &Path) -> PathBuf {
    let repo = scratch_dir("repo");
    let pkg = ModelPackage::open(package).expect("package opens");
    triton_repo::write(
        &pkg,
        &repo,
        &RepoOptions {
            placement: Placement::Symlink,
            accelerator: Accelerator::None,
            instances: 1,
            kind_gpu: false,
        },
    )
    .expect("triton repository");
    repo
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running MLServer; stopped when dropped.
pub struct MlServer {
    child: Option<Child>,
    pub port: u16,
    work: PathBuf,
}

impl MlServer {
    /// Serves `package`'s graphs.
    pub fn for_package(package: &Path) -> Self {
        Self::start(&repository_for(package), None)
    }

    /// Serves the models of the Triton repository `repo`, with a gRPC message limit of
    /// `max_message` bytes (default 2 GiB). Panics if it does not become ready.
    pub fn start(repo: &Path, max_message: Option<usize>) -> Self {
        let mut last = String::new();
        // NOTE: a port found free can be taken before the server binds it (another test binary
        // starting its own); the server then exits at once and another port is tried.
        for _ in 0..4 {
            let port = free_port();
            let work = scratch_dir("mlserver");
            let mut cmd = Command::new(python());
            cmd.arg(repo_root().join("tools/remote/serve_mlserver.py"))
                .arg(repo)
                .args(["--grpc-port", &port.to_string()])
                .arg("--workdir")
                .arg(&work)
                .arg("--exit-with-stdin")
                .env("PROMPTREEL_SERVER_THREADS", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            if let Some(n) = max_message {
                cmd.args(["--max-message-bytes", &n.to_string()]);
            }
            let child = cmd.spawn().expect("start MLServer");
            let mut server = Self {
                child: Some(child),
                port,
                work,
            };
            match server.wait_ready(Duration::from_secs(90)) {
                Ok(()) => return server,
                Err(why) => last = why,
            }
        }
        panic!("MLServer did not start: {last}");
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let started = Instant::now();
        let config = self.config();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("the server exited ({status}) before it was ready"));
            }
            match check_server(&config) {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() > within => {
                    return Err(format!("not ready after {within:?}: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn config(&self) -> ServerConfig {
        ServerConfig::parse(&self.url()).expect("server address")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the server at once (SIGKILL), as a crash or a pulled cable would end it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to the server's process (SIGSTOP freezes it, SIGCONT resumes it).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }
}

impl Drop for MlServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}
