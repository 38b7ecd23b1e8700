//! `promptreel triton-repo`: a Triton model repository for a model package, for the remote
//! backend (one Triton model per graph, named so that a re-exported package never meets a stale
//! graph on the server).

use std::path::{Path, PathBuf};

use promptreel_engine::ModelPackage;
use promptreel_engine::remote::triton_repo::{self, Accelerator, Placement, RepoOptions};
use promptreel_engine::{Error, Result, runtime};

#[derive(clap::Args)]
pub struct TritonRepoArgs {
    /// The model package folder.
    #[arg(value_name = "PACKAGE")]
    pub package: PathBuf,
    /// Where to write the repository (created if missing; the package's models in it are
    /// replaced, other models are left alone).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// How the graph files get there: copy (the repository stands alone), symlink (links to
    /// the package; the server must see it at the same path) or hardlink (same filesystem).
    #[arg(long, value_name = "copy|symlink|hardlink", default_value = "copy")]
    pub placement: String,
    /// Run the graphs through TensorRT (ONNX Runtime's TensorRT provider inside Triton), in
    /// FP16 unless --fp32.
    #[arg(long)]
    pub tensorrt: bool,
    /// With --tensorrt: keep TensorRT's engines in FP32.
    #[arg(long, requires = "tensorrt")]
    pub fp32: bool,
    /// Instances of each model per GPU.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub instances: u32,
    /// CPU instances (KIND_CPU), for a Triton without GPUs.
    #[arg(long, conflicts_with = "tensorrt")]
    pub cpu: bool,
    /// The ONNX Runtime library that reads the graphs' output shapes (default:
    /// $PROMPTREEL_ORT_LIB, or next to this program); no weights are loaded.
    #[arg(long, value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
}

pub fn run(args: &TritonRepoArgs) -> Result<(), Error> {
    let placement = match args.placement.trim().to_ascii_lowercase().as_str() {
        "copy" => Placement::Copy,
        "symlink" => Placement::Symlink,
        "hardlink" => Placement::Hardlink,
        other => {
            return Err(Error::setting(format!(
                "--placement {other:?} is not one of copy, symlink, hardlink"
            )));
        }
    };
    let options = RepoOptions {
        placement,
        accelerator: if args.tensorrt {
            Accelerator::TensorRt { fp16: !args.fp32 }
        } else {
            Accelerator::None
        },
        instances: args.instances,
        kind_gpu: !args.cpu,
    };
    if let Some(lib) = &args.ort_lib {
        // NOTE: the process holds one runtime; `write` finds this one when it needs it.
        runtime::load(Some(lib))?;
    }
    let package = ModelPackage::open(&args.package)?;
    let models = triton_repo::write(&package, &args.out, &options)?;
    for m in &models {
        println!("{:<48} {:<19} {}", m.name, m.role.label(), m.dir.display());
    }
    let root = models
        .first()
        .and_then(|m| m.dir.parent())
        .unwrap_or(&args.out);
    println!(
        "start it: tritonserver --model-repository={}",
        shell_word(root)
    );
    Ok(())
}

/// `path` as one shell word: quoted when it holds anything a shell would split or expand.
fn shell_word(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c));
    if plain {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
