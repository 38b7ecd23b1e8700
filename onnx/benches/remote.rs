//! Per-call overhead of the remote backend: what a graph call costs beyond the graph itself.
//!
//! Starts MLServer with our runtime on 127.0.0.1 (tests/support/mlserver.rs) serving an Identity
//! graph, sends float32 latents of 1 MiB and 8 MiB through `Graph::remote`, and prints, per
//! size, the client's wall time, the graph's own run time as the server reports it, and the
//! difference: serialisation both ways, the loopback network and the server's own handling. The
//! same call on a local ONNX Runtime session is printed for comparison.
//!
//!   cargo bench -p promptreel-engine --bench remote
//!
//! MLServer converts raw tensors through Python lists, so most of its overhead is its own, not
//! the protocol's; Triton (C++) does not (docs/remote.md).

#[path = "../tests/support/mlserver.rs"]
mod mlserver;

use std::path::{Path, PathBuf};
use std::time::Duration;

use promptreel_engine::runtime::{self, Graph, Input};
use promptreel_engine::{SessionOptions, Silent};

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A Triton-layout repository holding the Identity graph as the model `identity`.
fn repository(graph: &Path) -> PathBuf {
    let repo = std::env::temp_dir().join(format!("promptreel-bench-remote-{}", std::process::id()));
    let version = repo.join("identity").join("1");
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&version).expect("repository folder");
    std::fs::copy(graph, version.join("model.onnx")).expect("copy the graph");
    std::fs::write(
        repo.join("identity").join("config.pbtxt"),
        "name: \"identity\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 0\n",
    )
    .expect("config");
    repo
}

fn main() {
    let graph = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/data/identity.onnx");
    let repo = repository(&graph);
    let server = mlserver::MlServer::start(&repo, None);
    let remote = Graph::remote(&server.config(), "identity", "identity", &graph)
        .expect("the remote identity graph");
    let rt = runtime::load(None).expect("ONNX Runtime");
    let local = Graph::load(&rt, "identity", &graph, SessionOptions::default()).expect("local");

    println!(
        "remote graph call overhead (MLServer 1.7.1 on 127.0.0.1, {RUNS} calls each, medians)"
    );
    println!(
        "{:>8} {:>12} {:>14} {:>12} {:>12}",
        "latent", "wall ms", "server run ms", "overhead ms", "local ms"
    );
    for mib in [1usize, 8] {
        // [1, 4, F, 64, 64] float32: 64 KiB per frame
        let frames = mib * 16;
        let shape = [1, 4, frames, 64, 64];
        let data: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|i| (i % 977) as f32 * 1e-3)
            .collect();
        let input = [(
            "latent",
            Input::F32 {
                shape: &shape,
                data: &data,
            },
        )];
        let (mut walls, mut computes, mut locals) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..RUNS + 1 {
            let (out, wall) = remote.run(&input, "out", &mut Silent).expect("remote call");
            assert_eq!(out.data, data, "the identity graph changed the data");
            let compute = remote
                .server_compute_of_last_call()
                .expect("our runtime reports its run time");
            let started = std::time::Instant::now();
            local.run(&input, "out", &mut Silent).expect("local call");
            // the first call warms both sides up
            if i > 0 {
                walls.push(wall);
                computes.push(compute);
                locals.push(started.elapsed());
            }
        }
        let overheads: Vec<Duration> = walls
            .iter()
            .zip(&computes)
            .map(|(w, c)| w.saturating_sub(*c))
            .collect();
        println!(
            "{:>5} MiB {:>12.1} {:>14.2} {:>12.1} {:>12.2}",
            mib,
            ms(median(walls)),
            ms(median(computes)),
            ms(median(overheads)),
            ms(median(locals))
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&repo);
}
