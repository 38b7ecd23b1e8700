//! `promptreel inspect`.

use promptreel_engine::package::{FamilyName, GraphRole, Manifest};
use promptreel_engine::{MemoryMode, ModelPackage, Result, Settings, budget, registry};

use crate::args::InspectArgs;
use crate::generate::session_options;

pub fn run(a: InspectArgs) -> Result<()> {
    let pkg = ModelPackage::open(&a.model)?;
    let m = pkg.manifest();
    println!("package    {}", pkg.root().display());
    println!(
        "model      {} version {} ({} family)",
        m.name,
        m.version,
        m.family.as_str()
    );
    println!(
        "native     {}x{}, {} frame(s) at {} fps; latents {} channels, /{} spatial",
        m.native.width,
        m.native.height,
        m.native.frames,
        m.native.fps,
        m.latent_channels,
        m.spatial_compression
    );
    println!("frames     {}", frame_rule(m));
    println!(
        "size       width and height multiples of {}",
        promptreel_engine::pipeline::size_multiple(m)
    );
    println!(
        "tokenizer  {} tokens per prompt{}",
        pkg.tokenizer().max_length(),
        if matches!(m.family, FamilyName::Wan | FamilyName::Ltx) {
            " (generate --max-sequence-length N reads another length)"
        } else {
            ""
        }
    );
    if let Some(d) = &m.defaults {
        println!(
            "defaults   {} steps, guidance {} (the model's recommendation; --steps, --guidance)",
            d.steps.map_or("25".into(), |s| s.to_string()),
            d.guidance.map_or("7.5".into(), |g| g.to_string())
        );
    }
    if m.vae.latents_mean.is_some() {
        println!("latents    per-channel mean and std (x * std + mean before the VAE)");
    }
    println!(
        "vae        {}",
        match (m.vae_decoder.stateful, m.family, &m.vae_decoder.timestep) {
            (true, ..) =>
                "stateful decoder: one latent frame per call, causal caches carried between calls"
                    .to_string(),
            (false, FamilyName::Ltx, Some(_)) => format!(
                "whole-clip decoder conditioned on a decode timestep (default {}, noise scale {})",
                m.vae.decode_timestep.unwrap_or(0.0),
                m.vae
                    .decode_noise_scale
                    .or(m.vae.decode_timestep)
                    .unwrap_or(0.0)
            ),
            (false, FamilyName::Ltx, None) => "whole-clip decoder".to_string(),
            _ => "per-frame decoder".to_string(),
        }
    );
    if m.family == FamilyName::Ltx {
        println!(
            "image      {}",
            if m.vae_encoder.is_some() {
                "image to video: generate --image FILE.png starts the clip from the image"
            } else {
                "text to video only (the package has no VAE encoder)"
            }
        );
        if m.denoiser.rope_interpolation_scale.is_some() {
            println!(
                "frame rate positions scaled by the frame rate (generate --frame-rate; native {})",
                m.native.fps
            );
        }
    }
    println!(
        "scheduler  {}",
        pkg.scheduler_config()
            .class_name
            .as_deref()
            .unwrap_or("(no class name)")
    );
    for g in pkg.graphs() {
        println!(
            "{:<10} {} ({:.1} MB)",
            short(g.role),
            g.path.display(),
            g.bytes as f64 / 1e6
        );
        for s in &g.external_data {
            println!("           + external data {}", s.display());
        }
    }
    println!(
        "weights    {:.1} MB in all",
        pkg.weight_bytes() as f64 / 1e6
    );
    memory_plan(&pkg, &a)?;
    if a.no_runtime {
        println!(
            "valid      files, manifest, tokenizer and scheduler check out (graphs not loaded)"
        );
        return Ok(());
    }
    let model = registry::get(
        &a.model,
        session_options(&a.runtime)?,
        a.runtime.ort_lib.as_deref(),
    )?;
    model.load_all()?;
    for (role, provider) in model.providers() {
        let g = model.graph(role)?;
        let ports = |ps: &[promptreel_engine::runtime::Port]| {
            // a stateful graph's caches are summed up, not listed
            let caches = ps.iter().filter(|p| p.name.starts_with("cache_")).count();
            let mut list: Vec<String> = ps
                .iter()
                .filter(|p| !p.name.starts_with("cache_"))
                .map(|p| format!("{} {:?} {:?}", p.name, p.elem, p.shape))
                .collect();
            if caches > 0 {
                list.push(format!("{caches} causal caches"));
            }
            list.join("; ")
        };
        println!(
            "{:<10} on {provider}: in [{}] out [{}]",
            short(role),
            ports(g.inputs()),
            ports(g.outputs())
        );
    }
    println!("valid      every graph loads and matches the manifest");
    Ok(())
}

/// The frame counts the model makes.
fn frame_rule(m: &Manifest) -> String {
    match m.family {
        FamilyName::Sd => "1 (stills)".into(),
        FamilyName::Wan | FamilyName::Ltx => {
            let t = m.temporal_compression.max(1);
            format!(
                "{t}k+1 (1, {}, {}, ...); native {}",
                1 + t,
                1 + 2 * t,
                m.native.frames
            )
        }
        FamilyName::Unet3d => format!("1 to 1024; native {}", m.native.frames),
    }
}

/// The memory plan at the native size: the mode auto picks now, and the estimate per mode.
fn memory_plan(pkg: &ModelPackage, a: &InspectArgs) -> Result<()> {
    let m = pkg.manifest();
    let settings = Settings::at_size(m, m.native.frames, m.native.width, m.native.height, 5.0);
    let resident = budget::estimate_package(pkg, &settings, MemoryMode::Resident);
    let sequential = budget::estimate_package(pkg, &settings, MemoryMode::Sequential);
    let asked = MemoryMode::parse(&a.runtime.memory_mode)?;
    let why = match (asked, budget::resolve_mode(asked, pkg.weight_bytes())) {
        (MemoryMode::Auto, MemoryMode::Sequential) => {
            "sequential (weights exceed half the free memory)"
        }
        (MemoryMode::Auto, _) => "resident (weights fit in half the free memory, or it is unknown)",
        (_, MemoryMode::Sequential) => "sequential (asked)",
        _ => "resident (asked)",
    };
    println!(
        "memory     {why}; at the native size with guidance: resident {}, sequential {} \
         (largest phase: the {})",
        budget::human(resident.total()),
        budget::human(sequential.total()),
        ["text encoder", "denoiser", "VAE decoder"][largest_phase(&sequential)]
    );
    Ok(())
}

fn largest_phase(e: &budget::Estimate) -> usize {
    let [t, d, v] = e.phase_weights.unwrap_or_default();
    let phases = [t, d + e.denoiser, v + e.vae_decoder];
    (0..3).max_by_key(|&i| phases[i]).unwrap_or(1)
}

fn short(role: GraphRole) -> &'static str {
    match role {
        GraphRole::TextEncoder => "text",
        GraphRole::Denoiser => "denoiser",
        GraphRole::Denoiser2 => "denoiser2",
        GraphRole::VaeDecoder => "vae-dec",
        GraphRole::VaeEncoder => "vae-enc",
    }
}
