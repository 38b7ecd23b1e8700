//! Fused attention: every graph we ship computes attention with ONNX Runtime's MultiHeadAttention,
//! and the exporter's translation keeps what masks, causality and scales mean.
//!
//! `onnx/tests/data/attention/<case>/` holds one tiny graph per way a model can call
//! `scaled_dot_product_attention` (tools/make_attention_cases.py), torch's output for it and the
//! inputs, taken at a shape other than the traced one.

mod common;

use std::path::{Path, PathBuf};

use promptreel_engine::npy;
use promptreel_engine::runtime::{self, Graph, Input};

const TOL: f32 = 1e-5;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Operator names appear in the file as plain strings: a graph with no `Softmax` node has no
/// such string (node names are derived from operators and modules).
fn ops_of(path: &Path) -> (bool, bool) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (
        contains(&bytes, "MultiHeadAttention") && contains(&bytes, "com.microsoft"),
        contains(&bytes, "Softmax"),
    )
}

#[test]
fn every_shipped_denoiser_and_vae_computes_attention_fused() {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/default");
    let data = common::data();
    let graphs: Vec<PathBuf> = vec![
        default.join("unet/model.onnx"),
        default.join("vae_decoder/model.onnx"),
        default.join("vae_encoder/model.onnx"),
        default.join("text_encoder/model.onnx"),
        data.join("tiny-unet3d/unet/model.onnx"),
        data.join("tiny-unet3d/vae_decoder/model.onnx"),
        data.join("tiny-sd/unet/model.onnx"),
        data.join("tiny-sd/vae_decoder/model.onnx"),
    ];
    for g in graphs {
        let (fused, softmax) = ops_of(&g);
        assert!(fused, "{}: no MultiHeadAttention", g.display());
        assert!(
            !softmax,
            "{}: attention left unfused (Softmax)",
            g.display()
        );
    }
}

#[test]
fn every_attention_case_matches_torch() {
    let rt = runtime::load(None).expect("ONNX Runtime (set PROMPTREEL_ORT_LIB)");
    let cases = common::dirs_holding(&common::data().join("attention"), "model.onnx");
    // self, cross, scale, value width, float masks (2-D, 4-D, a row all -inf), key mask, bool
    // masks (3-D, 4-D, a row all masked), causal (square, wide, tall)
    assert!(cases.len() >= 14, "cases: {cases:?}");
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let path = dir.join("model.onnx");
        let (fused, softmax) = ops_of(&path);
        assert!(fused && !softmax, "{name}: not one fused attention");
        let graph = Graph::load(&rt, "attention", &path, common::cpu(1)).expect("loads");
        let tensors: Vec<(String, _)> = graph
            .inputs()
            .iter()
            .map(|p| {
                let t = npy::read_f32(&dir.join(format!("{}.npy", p.name))).expect("input .npy");
                (p.name.clone(), t)
            })
            .collect();
        let inputs: Vec<(&str, Input<'_>)> = tensors
            .iter()
            .map(|(n, t)| {
                (
                    n.as_str(),
                    Input::F32 {
                        shape: &t.shape,
                        data: &t.data,
                    },
                )
            })
            .collect();
        let (got, _) = graph
            .run(&inputs, "out", &mut promptreel_engine::Silent)
            .expect("runs");
        let want = npy::read_f32(&dir.join("out.npy")).expect("out.npy");
        assert_eq!(got.shape, want.shape, "{name}");
        let diff = common::max_abs_diff(&got.data, &want.data);
        // f32::max skips NaN, so a NaN output is looked for on its own
        if diff >= TOL || got.data.iter().any(|v| !v.is_finite()) {
            failures.push(format!(
                "{name}: max |onnx - torch| = {diff} (or not finite)"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
