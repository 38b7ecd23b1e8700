//! `promptreel inspect`.

use promptreel_engine::package::GraphRole;
use promptreel_engine::{ModelPackage, Result, registry};

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
    println!(
        "tokenizer  {} tokens per prompt",
        pkg.tokenizer().max_length()
    );
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
            ps.iter()
                .map(|p| format!("{} {:?} {:?}", p.name, p.elem, p.shape))
                .collect::<Vec<_>>()
                .join("; ")
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

fn short(role: GraphRole) -> &'static str {
    match role {
        GraphRole::TextEncoder => "text",
        GraphRole::Denoiser => "denoiser",
        GraphRole::VaeDecoder => "vae-dec",
        GraphRole::VaeEncoder => "vae-enc",
    }
}
