//! The whole pipeline against diffusers: given the same initial latents, our frames must match
//! TextToVideoSDPipeline / StableDiffusionPipeline within 1e-4 (references recorded by
//! tools/make_fixtures.py from tiny random models, committed under tests/data/parity).

mod common;

use std::path::Path;

use promptreel_engine::{GenerateRequest, Silent, generate, npy};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

/// Our scheduler name for a case's diffusers class and overrides.
fn scheduler_name(case: &Value) -> String {
    let class = case["scheduler"]["class_name"].as_str().unwrap_or_default();
    let karras = case["scheduler"]["config_overrides"]["use_karras_sigmas"]
        .as_bool()
        .unwrap_or(false);
    match (class, karras) {
        ("DDIMScheduler", _) => "ddim",
        ("EulerDiscreteScheduler", _) => "euler",
        ("EulerAncestralDiscreteScheduler", _) => "euler-a",
        ("DPMSolverMultistepScheduler", true) => "dpm++2m-karras",
        ("DPMSolverMultistepScheduler", false) => "dpm++2m",
        ("FlowMatchEulerDiscreteScheduler", _) => "flow-euler",
        (other, _) => panic!("case uses unknown scheduler {other}"),
    }
    .to_string()
}

fn run_case(dir: &Path) -> f32 {
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).expect("case.json"))
            .expect("case json");
    assert_eq!(case["latents_are_unscaled"], Value::Bool(true));
    let model = common::model(case["package"].as_str().expect("package"));

    // The tokenizer must give the pipeline's ids exactly.
    let tok = model.package().tokenizer();
    let prompt = case["prompt"].as_str().unwrap_or_default().to_string();
    let want: Vec<i64> = serde_json::from_value(case["input_ids"]["prompt"].clone()).expect("ids");
    assert_eq!(
        tok.encode(&prompt).expect("encode").ids,
        want,
        "prompt ids of {}",
        dir.display()
    );

    let latents = npy::read_f32(&dir.join("latents.npy")).expect("latents");
    let expected = npy::read_f32(&dir.join("frames.npy")).expect("frames");
    let req = GenerateRequest {
        prompt,
        negative_prompt: case["negative_prompt"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        seed: 0,
        steps: case["steps"].as_u64().expect("steps") as u32,
        guidance: case["guidance"].as_f64().expect("guidance") as f32,
        guidance_2: None,
        frames: Some(case["frames"].as_u64().expect("frames") as u32),
        width: Some(case["width"].as_u64().expect("width") as u32),
        height: Some(case["height"].as_u64().expect("height") as u32),
        scheduler: Some(scheduler_name(&case)),
        initial_latents: Some(latents),
        ..Default::default()
    };
    let video =
        generate(&model, &req, &mut Silent).unwrap_or_else(|e| panic!("{}: {e:?}", dir.display()));
    assert_eq!(
        vec![video.frame_count, video.height, video.width, 3],
        expected.shape,
        "frame shape of {}",
        dir.display()
    );
    common::max_abs_diff(&video.frames, &expected.data)
}

#[test]
fn every_recorded_case_matches_diffusers() {
    let dirs = common::case_dirs(&common::data().join("parity"));
    assert!(
        dirs.len() >= 8,
        "expected the recorded cases, found {}",
        dirs.len()
    );
    let mut worst = 0.0f32;
    for dir in &dirs {
        let diff = run_case(dir);
        println!(
            "parity {:<24} max |ours - diffusers| = {diff:.2e}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        assert!(
            diff <= TOLERANCE,
            "{}: max abs difference {diff} exceeds {TOLERANCE}",
            dir.display()
        );
        worst = worst.max(diff);
    }
    println!(
        "parity: {} cases, worst {worst:.2e} (tolerance {TOLERANCE:.0e})",
        dirs.len()
    );
}

#[test]
fn tokenizer_matches_the_python_tokenizer_on_tricky_text() {
    let text =
        std::fs::read_to_string(common::data().join("parity/tokenizer_cases.json")).expect("cases");
    let cases: Value = serde_json::from_str(&text).expect("json");
    let model = common::model("tiny-unet3d");
    let tok = model.package().tokenizer();
    let mut n = 0;
    for c in cases["cases"].as_array().expect("array") {
        let text = c["text"].as_str().expect("text");
        let want: Vec<i64> = serde_json::from_value(c["padded_ids"].clone()).expect("ids");
        let got = tok.encode(text).expect("encode");
        assert_eq!(got.ids, want, "ids of {text:?}");
        assert_eq!(
            got.truncated_tokens > 0,
            c["truncated"].as_bool().unwrap_or(false),
            "truncation of {text:?}"
        );
        n += 1;
    }
    println!("tokenizer: {n} strings match");
}
