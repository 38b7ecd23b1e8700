use super::*;
use crate::package::manifest::Manifest;
use std::path::Path;

/// The shipped default model's manifest, compiled into the test (no build-tree path at run time).
const DEFAULT_MANIFEST: &str = include_str!("../../../bundle/models/default/promptreel.json");

fn default_manifest() -> Manifest {
    Manifest::parse(DEFAULT_MANIFEST, Path::new("promptreel.json")).expect("parses")
}

fn size(m: &Manifest, frames: u32, side: u32, guidance: f32) -> Size {
    let settings = Settings {
        frames,
        width: side,
        height: side,
        steps: 20,
        guidance,
        scheduler: None,
        latent_shape: vec![],
    };
    Size::of(m, &settings)
}

#[test]
fn unfused_attention_grows_with_the_square_of_tokens() {
    let m = default_manifest();
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
    let mut m = default_manifest();
    let profile = m
        .memory
        .as_mut()
        .expect("the default model declares its memory");
    for site in &mut profile.denoiser.attention {
        site.fused = true;
    }
    let a = estimate(&m, 0, &size(&m, 128, 32, 7.5));
    let b = estimate(&m, 0, &size(&m, 256, 32, 7.5));
    assert!(b.denoiser < a.denoiser * 21 / 10, "{a:?} -> {b:?}");
    assert!(b.denoiser > a.denoiser * 19 / 10, "{a:?} -> {b:?}");
}

#[test]
fn a_thousand_frames_of_the_default_model_need_tens_of_gigabytes() {
    let m = default_manifest();
    let e = estimate(&m, 17 << 20, &size(&m, 1024, 32, 7.5));
    assert!(e.total() > 20 << 30, "{}", human(e.total()));
    let small = estimate(&m, 17 << 20, &size(&m, 8, 32, 7.5));
    assert!(small.total() < 256 << 20, "{}", human(small.total()));
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
