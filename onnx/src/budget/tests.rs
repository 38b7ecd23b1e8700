use super::*;
use crate::package::manifest::Manifest;
use std::path::Path;

/// The shipped default model's manifest, compiled into the test (no build-tree path at run time).
const DEFAULT_MANIFEST: &str = include_str!("../../../bundle/models/default/promptreel.json");

fn default_manifest() -> Manifest {
    Manifest::parse(DEFAULT_MANIFEST, Path::new("promptreel.json")).expect("parses")
}

fn size(m: &Manifest, frames: u32, side: u32, guidance: f32) -> Size {
    let mut settings = Settings::at_size(m, frames, side, side, guidance);
    settings.steps = 20;
    Size::of(m, &settings)
}

/// The default model's manifest as an unfused (MatMul-Softmax-MatMul) export would declare it.
fn unfused_manifest() -> Manifest {
    let mut m = default_manifest();
    let profile = m
        .memory
        .as_mut()
        .expect("the default model declares its memory");
    for site in &mut profile.denoiser.attention {
        site.fused = false;
    }
    m
}

#[test]
fn the_default_model_declares_fused_attention_with_its_head_width() {
    let m = default_manifest();
    let profile = m
        .memory
        .as_ref()
        .expect("the default model declares its memory");
    for site in profile.denoiser.attention.iter().chain(
        profile
            .vae_decoder
            .as_ref()
            .map_or(&[][..], |v| &v.attention[..]),
    ) {
        assert!(site.fused, "{site:?}");
        assert!(site.head_dim.is_some(), "{site:?}");
    }
}

#[test]
fn unfused_attention_grows_with_the_square_of_tokens() {
    let m = unfused_manifest();
    let a = estimate(&m, 0, &size(&m, 128, 32, 7.5));
    let b = estimate(&m, 0, &size(&m, 256, 32, 7.5));
    // Joint attention over frames x patches: twice the frames, four times the scores.
    assert_eq!(b.denoiser_attention, 4 * a.denoiser_attention);
    // 256 frames of 4x4 patches = 4096 tokens, 2 samples, 4 heads, f32, 3 copies.
    assert_eq!(b.denoiser_attention, 2 * 4 * 4096 * 4096 * 4 * 3);
    // Guidance off halves the batch.
    let c = estimate(&m, 0, &size(&m, 256, 32, 1.0));
    assert_eq!(2 * c.denoiser_attention, b.denoiser_attention);
}

#[test]
fn fused_attention_grows_linearly() {
    let m = default_manifest();
    let a = estimate(&m, 0, &size(&m, 128, 32, 7.5));
    let b = estimate(&m, 0, &size(&m, 256, 32, 7.5));
    assert!(b.denoiser < a.denoiser * 21 / 10, "{a:?} -> {b:?}");
    assert!(b.denoiser > a.denoiser * 19 / 10, "{a:?} -> {b:?}");
    // 256 frames of 4x4 patches = 4096 tokens, 2 samples; 4 heads of 40: queries, their copy and
    // the output, keys and values and their copies; the cross attention adds the scores over
    // the 24 text tokens (4 heads plus the bias).
    let self_attention = 2 * (3 * 4096 + 4 * 4096) * 160 * 4;
    let cross_attention = 2 * (3 * 4096 + 4 * 24) * 160 * 4 + 2 * 5 * 4096 * 24 * 4;
    assert_eq!(b.denoiser_attention, self_attention.max(cross_attention));
}

#[test]
fn fused_attention_fits_sizes_unfused_graphs_could_not() {
    // 1024 frames of the default model: 16,384 tokens of joint attention.
    let fused = default_manifest();
    let e = estimate(&fused, 17 << 20, &size(&fused, 1024, 32, 7.5));
    assert!(e.total() < 1 << 30, "{}", human(e.total()));
    let unfused = unfused_manifest();
    let u = estimate(&unfused, 17 << 20, &size(&unfused, 1024, 32, 7.5));
    assert!(u.total() > 20 << 30, "{}", human(u.total()));
    let small = estimate(&unfused, 17 << 20, &size(&unfused, 8, 32, 7.5));
    assert!(small.total() < 256 << 20, "{}", human(small.total()));
}

#[test]
fn a_head_width_missing_from_older_manifests_counts_as_the_widest() {
    let mut m = default_manifest();
    let with = estimate(&m, 0, &size(&m, 64, 32, 7.5));
    for site in &mut m.memory.as_mut().expect("memory").denoiser.attention {
        site.head_dim = None;
    }
    let without = estimate(&m, 0, &size(&m, 64, 32, 7.5));
    // 4 heads of 128 instead of 4 of 40
    assert!(
        without.denoiser_attention > 3 * with.denoiser_attention,
        "{with:?} {without:?}"
    );
}

#[test]
fn packages_without_a_profile_get_the_family_default() {
    let mut m = default_manifest();
    m.memory = None;
    let p = profile(&m);
    assert!(
        p.denoiser
            .attention
            .iter()
            .any(|a| a.span == AttentionSpan::Time),
        "video UNets have temporal attention"
    );
    let e = estimate(&m, 0, &size(&m, 16, 256, 7.5));
    assert!(e.denoiser > 0 && e.vae_decoder > 0);
}

#[test]
fn a_profile_round_trips_and_unknown_fields_are_refused() {
    let m = default_manifest();
    let text = serde_json::to_string(&m).expect("serialise");
    assert_eq!(Manifest::parse(&text, Path::new("x")).expect("parse"), m);
    let bad = text.replace("\"bytes_per_position\"", "\"bytes_per_pos\"");
    assert!(Manifest::parse(&bad, Path::new("x")).is_err());
}

#[test]
fn sizes_read_as_people_write_them() {
    assert_eq!(human(1536 << 20), "1.5 GiB");
    assert_eq!(human(320 << 20), "320 MiB");
}

#[test]
fn float16_weights_are_counted_with_the_cpu_providers_float32_copies() {
    let m = default_manifest();
    let mut half = m.clone();
    half.memory
        .as_mut()
        .expect("the default model declares its memory")
        .float16_weights = true;
    let s = size(&m, 8, 256, 7.5);
    let weights = 1 << 30;
    let full = estimate(&m, weights, &s);
    let f16 = estimate(&half, weights, &s);
    // the same working memory, the weights 2.5 times their size on disk
    assert_eq!(f16.working(), full.working());
    assert_eq!(f16.weights, weights * 5 / 2);
    assert_eq!(f16.total() - full.total(), weights * 3 / 2);
    // on a GPU they stay as stored, and the working memory is the same estimate
    let gpu = estimate_in(&half, weights, &s, Placement::Gpu);
    assert_eq!(gpu.weights, weights);
    assert_eq!(gpu.working(), full.working());
}
