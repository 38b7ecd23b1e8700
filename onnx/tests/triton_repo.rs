//! `remote::triton_repo::write`: the Triton model repository of the default model (copied and
//! linked), of a package with external data, of a Wan package whose output shapes ONNX Runtime
//! pins, and written twice over itself. Every configuration lists the ports an ONNX Runtime
//! session of the graph reports, as Triton's ONNX Runtime backend checks.

mod common;

use std::path::{Path, PathBuf};

use promptreel_engine::ModelPackage;
use promptreel_engine::package::GraphRole;
use promptreel_engine::remote::names::model_name;
use promptreel_engine::remote::triton_repo::{
    Accelerator, Placement, RepoModel, RepoOptions, write,
};
use promptreel_engine::runtime::{self, Graph};

fn default_package() -> ModelPackage {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/default");
    ModelPackage::open(&dir).expect("the default model opens")
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("promptreel-triton-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn options(placement: Placement) -> RepoOptions {
    RepoOptions {
        placement,
        ..Default::default()
    }
}

fn config(m: &RepoModel) -> String {
    std::fs::read_to_string(m.dir.join("config.pbtxt")).expect("config.pbtxt")
}

/// The `{ name: "..." ... }` entry of port `name` in `config`.
fn entry<'a>(config: &'a str, name: &str) -> &'a str {
    let start = config
        .find(&format!("name: \"{name}\"\n"))
        .unwrap_or_else(|| panic!("no port {name:?} in\n{config}"));
    let end = config[start..]
        .find('}')
        .map_or(config.len(), |e| start + e);
    &config[start..end]
}

/// Checks every model of `package` in `models`: name, files, and ports in the config.
fn check_repo(package: &ModelPackage, out: &Path, models: &[RepoModel]) {
    assert_eq!(models.len(), package.graphs().len());
    for (m, g) in models.iter().zip(package.graphs()) {
        assert_eq!(m.role, g.role);
        assert_eq!(
            m.name,
            model_name(&package.manifest().name, package.identity(), g.role)
        );
        assert_eq!(m.dir, out.canonicalize().expect("out").join(&m.name));
        let placed = m.dir.join("1/model.onnx");
        assert_eq!(
            std::fs::read(&placed).expect("model.onnx"),
            std::fs::read(&g.path).expect("graph"),
            "{}",
            placed.display()
        );
        let text = config(m);
        assert!(text.contains(&format!("name: \"{}\"\n", m.name)), "{text}");
        assert!(text.contains("platform: \"onnxruntime_onnx\"\n"), "{text}");
        assert!(text.contains("max_batch_size: 0\n"), "{text}");
        assert!(text.contains("count: 1\n    kind: KIND_GPU\n"), "{text}");
        assert!(text.contains(&package.manifest().name), "{text}");
        assert!(text.contains("promptreel triton-repo"), "{text}");
        // what Triton's ONNX Runtime backend checks the configuration against
        let rt = runtime::load(None).expect("ONNX Runtime (set PROMPTREEL_ORT_LIB)");
        let session = Graph::load(&rt, "test", &g.path, common::cpu(1)).expect("session");
        let (inputs, outputs) = text.split_once("\noutput [").expect("output block");
        for (block, list) in [(inputs, session.inputs()), (outputs, session.outputs())] {
            assert_eq!(block.matches("    name: ").count(), list.len(), "{block}");
            for p in list {
                let e = entry(block, &p.name);
                let dims = if p.shape.is_empty() {
                    "1".to_string()
                } else {
                    p.shape
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                assert!(e.contains(&format!("dims: [ {dims} ]")), "{e}");
                assert!(!e.contains("reshape"), "{e}");
            }
        }
    }
}

#[test]
fn default_model_copied() {
    let package = default_package();
    let out = scratch("copy");
    let models = write(&package, &out, &options(Placement::Copy)).expect("write");
    check_repo(&package, &out, &models);
    for m in &models {
        let meta = std::fs::symlink_metadata(m.dir.join("1/model.onnx")).expect("meta");
        assert!(meta.file_type().is_file());
    }
    // the denoiser's scalar timestep: [1] on the wire (Triton has no rank 0), no reshape
    // (Triton refuses an empty reshape in a model that does not batch)
    let unet = models
        .iter()
        .find(|m| m.role == GraphRole::Denoiser)
        .expect("denoiser");
    let text = config(unet);
    let timestep = entry(&text, "timestep");
    assert!(timestep.contains("data_type: TYPE_FP32"), "{timestep}");
    assert!(timestep.contains("dims: [ 1 ]"), "{timestep}");
    assert!(
        entry(&text, "sample").contains("dims: [ -1, 4, -1, -1, -1 ]"),
        "{text}"
    );
    assert!(!text.contains("optimization"), "{text}");
    // only the model folders, and nothing left under temporary names
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    expected.sort();
    assert_eq!(names, expected);
    for m in &models {
        let mut files: Vec<String> = std::fs::read_dir(m.dir.join("1"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, vec!["model.onnx"]);
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn default_model_linked() {
    let package = default_package();
    let out = scratch("symlink");
    let models = write(&package, &out, &options(Placement::Symlink)).expect("write");
    check_repo(&package, &out, &models);
    for (m, g) in models.iter().zip(package.graphs()) {
        let link = std::fs::read_link(m.dir.join("1/model.onnx")).expect("a symlink");
        assert!(link.is_absolute(), "{}", link.display());
        assert_eq!(link, g.path.canonicalize().expect("canonical"));
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn sidecars_sit_beside_the_graph() {
    let package =
        ModelPackage::open(&common::data().join("tiny-sd-external")).expect("the package opens");
    for placement in [Placement::Copy, Placement::Hardlink] {
        let out = scratch("external");
        let models = match write(&package, &out, &options(placement)) {
            Ok(m) => m,
            // the temp folder may be on another filesystem than the sources
            Err(e) if placement == Placement::Hardlink && e.message().contains("hard-link") => {
                eprintln!("hard links not tried: {e}");
                let _ = std::fs::remove_dir_all(&out);
                continue;
            }
            Err(e) => panic!("{e:?}"),
        };
        check_repo(&package, &out, &models);
        let vae = models
            .iter()
            .find(|m| m.role == GraphRole::VaeDecoder)
            .expect("VAE decoder");
        let graph = package.graph(GraphRole::VaeDecoder).expect("VAE graph");
        assert_eq!(graph.external_data.len(), 1);
        let placed = vae.dir.join("1/model.onnx_data");
        assert_eq!(
            std::fs::read(&placed).expect("sidecar placed"),
            std::fs::read(&graph.external_data[0]).expect("sidecar")
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn outputs_as_onnx_runtime_pins_them() {
    // Wan's causal VAE declares its cache outputs [?, ?, ?, ?, ?]; ONNX Runtime reports the
    // channel count, and Triton compares output dims exactly
    let package = ModelPackage::open(&common::data().join("tiny-wan")).expect("the package opens");
    let out = scratch("wan");
    let models = write(&package, &out, &options(Placement::Symlink)).expect("write");
    check_repo(&package, &out, &models);
    let vae = models
        .iter()
        .find(|m| m.role == GraphRole::VaeDecoder)
        .expect("VAE decoder");
    let text = config(vae);
    assert!(
        entry(&text, "cache_out_11").contains("dims: [ -1, 16, -1, -1, -1 ]"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn writing_again_replaces_cleanly() {
    let package = default_package();
    let out = scratch("twice");
    // another package's model and a stale file in ours: the first stays, the second goes
    let other = out.join("someone-else-0123456789-denoiser/1");
    std::fs::create_dir_all(&other).expect("other model");
    std::fs::write(other.join("model.onnx"), b"not ours").expect("write");
    let first = write(&package, &out, &options(Placement::Symlink)).expect("first");
    let stale = first[0].dir.join("1/old.onnx_data");
    std::fs::write(&stale, b"stale").expect("write");
    std::fs::create_dir_all(first[0].dir.join("2")).expect("old version");
    let tensorrt = RepoOptions {
        accelerator: Accelerator::TensorRt { fp16: true },
        instances: 2,
        ..options(Placement::Copy)
    };
    let second = write(&package, &out, &tensorrt).expect("second");
    assert_eq!(first, second);
    check_repo_files(&package, &second);
    assert!(!stale.exists() && !first[0].dir.join("2").exists());
    assert_eq!(
        std::fs::read(other.join("model.onnx")).expect("other kept"),
        b"not ours"
    );
    for m in &second {
        let meta = std::fs::symlink_metadata(m.dir.join("1/model.onnx")).expect("meta");
        assert!(meta.file_type().is_file(), "copy replaced the link");
        let text = config(m);
        assert!(text.contains("count: 2\n"), "{text}");
        assert!(text.contains("name : \"tensorrt\""), "{text}");
        assert!(
            text.contains("parameters { key: \"precision_mode\" value: \"FP16\" }"),
            "{text}"
        );
        assert!(text.contains("key: \"max_workspace_size_bytes\""), "{text}");
    }
    let cpu = RepoOptions {
        kind_gpu: false,
        ..options(Placement::Copy)
    };
    let third = write(&package, &out, &cpu).expect("third");
    assert!(config(&third[0]).contains("kind: KIND_CPU"));
    let _ = std::fs::remove_dir_all(&out);
}

fn check_repo_files(package: &ModelPackage, models: &[RepoModel]) {
    for (m, g) in models.iter().zip(package.graphs()) {
        assert_eq!(
            std::fs::read(m.dir.join("1/model.onnx")).expect("model.onnx"),
            std::fs::read(&g.path).expect("graph")
        );
    }
}

#[test]
fn bad_options_are_refused_before_writing() {
    let package = default_package();
    let out = scratch("refused");
    for (opts, words) in [
        (
            RepoOptions {
                instances: 0,
                ..Default::default()
            },
            "at least 1",
        ),
        (
            RepoOptions {
                accelerator: Accelerator::TensorRt { fp16: false },
                kind_gpu: false,
                ..Default::default()
            },
            "GPU instances only",
        ),
    ] {
        let err = write(&package, &out, &opts)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(words), "{err}");
        assert!(!out.exists());
    }
}
