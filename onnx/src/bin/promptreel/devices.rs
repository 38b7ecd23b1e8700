//! `promptreel devices`: which execution providers can run here, and why not.
//!
//! For people setting up a machine (and studios' IT): the ONNX Runtime it loads, the GPU runtime
//! its folder carries, and for each provider the GPU it would use or the sentence saying what is
//! missing, the same sentence a generation on that device would stop with.

use promptreel_engine::runtime::cuda::GpuRuntime;
use promptreel_engine::runtime::device::probe;
use promptreel_engine::{Provider, Result, runtime};

use crate::args::DevicesArgs;

pub fn run(a: DevicesArgs) -> Result<()> {
    let rt = runtime::load(a.ort_lib.as_deref())?;
    println!(
        "ONNX Runtime {} at {}",
        rt.version(),
        rt.library().display()
    );
    match GpuRuntime::read(&rt.library_dir())? {
        Some(g) => println!(
            "GPU runtime: Promptreel's {} bundle, CUDA {} libraries (NVIDIA driver {} or newer)",
            g.flavour, g.cuda, g.driver
        ),
        None => println!("GPU runtime: none next to it"),
    }
    for provider in [
        Provider::Cpu,
        Provider::Cuda,
        Provider::TensorRt,
        Provider::DirectMl,
        Provider::CoreMl,
    ] {
        let line = match probe(&rt, provider) {
            Ok(what) => format!("yes: {what}"),
            Err(e) => format!("no: {e}"),
        };
        println!("  {:<9} {line}", provider.label());
    }
    Ok(())
}
