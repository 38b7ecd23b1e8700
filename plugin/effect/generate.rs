//! From parameter values to a cached clip: resolving the model, the generation key, and running
//! the engine once per key (single-flight, memory + disk cache).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use promptreel_engine::remote::ServerConfig;
use promptreel_engine::{self as engine, Device, ErrorKind, Observer, SessionOptions};

use super::on_render::{self, OnRender};
use super::params::{Mode, Values};
use crate::cache::{CachedClip, ClipCache, ClipKey, Origin};
use crate::ofx::{OfxError, OfxResult, Status, plugin_binary_dir};
use crate::resample::Fit;

/// Bytes of clips kept in memory across all instances.
const MEMORY_LIMIT: usize = 2 << 30;

/// The process-wide clip cache shared by every instance and render thread.
pub fn clip_cache() -> &'static ClipCache {
    static CACHE: OnceLock<ClipCache> = OnceLock::new();
    CACHE.get_or_init(|| ClipCache::new(MEMORY_LIMIT, ClipCache::default_disk_dir()))
}

/// Drops memory caches and model sessions (PurgeCaches, Unload). Disk caches stay.
pub fn purge_all() {
    clip_cache().purge_memory();
    super::render::purge_canvases();
    engine::registry::purge();
}

/// The model folder to use: the parameter, else `$PROMPTREEL_MODEL`, else the bundle's.
pub fn model_dir(values: &Values) -> OfxResult<PathBuf> {
    if !values.model_folder.is_empty() {
        return Ok(PathBuf::from(&values.model_folder));
    }
    if let Some(p) = std::env::var_os("PROMPTREEL_MODEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    match bundled_dir() {
        Some(d) => Ok(d),
        None => Err(OfxError::failed(
            "Promptreel's bundled model is missing; reinstall the plugin or set Model folder to a \
             model package folder",
        )),
    }
}

/// The model package inside the bundle this binary lies in, if there is one.
fn bundled_dir() -> Option<PathBuf> {
    plugin_binary_dir()
        .map(|d| d.join("../Resources/models/default"))
        .filter(|d| d.join("promptreel.json").is_file())
}

/// The ONNX Runtime library to load: `$PROMPTREEL_ORT_LIB` when the user set it, else the one
/// shipped next to the plugin binary in the bundle. Nothing else: not the host's folder, not a
/// build tree, not the system's search path, so a studio knows exactly which library runs.
fn ort_library() -> OfxResult<PathBuf> {
    if let Some(p) =
        std::env::var_os(engine::runtime::library::ORT_LIB_ENV).filter(|v| !v.is_empty())
    {
        return Ok(PathBuf::from(p));
    }
    let name = engine::runtime::library::library_file_name();
    let dir = plugin_binary_dir().ok_or_else(|| {
        OfxError::failed(format!(
            "Promptreel cannot find its own bundle folder, so it cannot find {name}; reinstall \
             the plugin, or set {} to the path of an ONNX Runtime library",
            engine::runtime::library::ORT_LIB_ENV
        ))
    })?;
    let path = dir.join(name);
    if !path.is_file() {
        return Err(OfxError::failed(format!(
            "Promptreel's ONNX Runtime library is missing from its bundle: expected {}. \
             Reinstall the plugin (or set {} to the path of an ONNX Runtime library)",
            path.display(),
            engine::runtime::library::ORT_LIB_ENV
        )));
    }
    Ok(path)
}

/// A generation, fully resolved: what to run and its cache key.
#[derive(Debug, Clone)]
pub struct Plan {
    pub values: Values,
    pub model_dir: PathBuf,
    pub key: ClipKey,
    /// Frames the clip will have, and the model's frame rate.
    pub frames: u32,
    pub fps: f64,
    /// Values moved to what the model can make ("Frames 8 -> 9: ..."), for the Status line.
    pub notes: Vec<String>,
    /// The model package's identity (what the generation-time record is keyed by).
    pub identity: String,
    /// Whether the package is the one the bundle ships.
    pub bundled: bool,
    /// The package's name and family, and whether it has a VAE encoder (Video to Video's
    /// checks).
    pub model_name: String,
    pub family: engine::package::FamilyName,
    pub has_vae_encoder: bool,
    /// What the key hashes, without the Source (Video to Video binds that later).
    key_parts: Vec<(String, String)>,
    /// Video to Video: the hash of the Source pixels in the key (`None` until bound).
    pub source_hash: Option<String>,
}

impl Plan {
    /// Video to Video: puts the hash of the Source pixels the clip is made from into the key.
    pub fn bind_source(&mut self, hash: String) {
        let mut parts: Vec<(&str, &str)> = self
            .key_parts
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        parts.push(("source", hash.as_str()));
        self.key = ClipKey::from_parts(&parts);
        self.source_hash = Some(hash);
    }
}

/// Resolves the model and builds the key. Reads only the manifest: no ONNX Runtime.
pub fn plan(values: &Values) -> OfxResult<Plan> {
    let model_dir = model_dir(values)?;
    let (manifest, identity) = engine::package::identity(&model_dir).map_err(engine_error)?;
    // A host parameter cannot refuse a value: a frame count or size the model cannot make is
    // moved to the nearest one it can (Wan: 4k+1 frames, sides multiples of 16), and the notes
    // say so in the Status line.
    let mut values = values.clone();
    let snapped = engine::pipeline::snap(
        &manifest,
        values.request.frames.unwrap_or(manifest.native.frames),
        values.request.width.unwrap_or(manifest.native.width),
        values.request.height.unwrap_or(manifest.native.height),
    );
    let (frames, width, height) = (snapped.frames, snapped.width, snapped.height);
    // Guidance 2 belongs to two-transformer models; elsewhere it is not part of the clip.
    if manifest.denoiser_2.is_none() {
        values.request.guidance_2 = None;
    }
    // A model conditioned on the frame rate (LTX) is run at the host's, so the clip plays
    // one model frame per host frame at the speed it was made for; others run at their own.
    let conditioned_on_rate = manifest.denoiser.rope_interpolation_scale.is_some();
    values.request.frame_rate = match (conditioned_on_rate, values.host_fps) {
        (true, Some(f)) if f > 0.0 && f <= f64::from(engine::pipeline::MAX_FRAME_RATE) => {
            Some(f as f32)
        }
        _ => None,
    };
    if values.request.initial_latents.is_none() {
        values.request.frames = Some(frames);
        values.request.width = Some(width);
        values.request.height = Some(height);
    }
    let r = &values.request;
    let scheduler = r
        .scheduler
        .clone()
        .unwrap_or_else(|| "model default".into());
    let (seed, steps, guidance) = (
        r.seed.to_string(),
        r.steps.to_string(),
        // Bits, not a decimal rendering: 7.5 and 7.50000001 are different clips.
        r.guidance.to_bits().to_string(),
    );
    let (frames_s, width_s, height_s) = (frames.to_string(), width.to_string(), height.to_string());
    let guidance_2 = r.guidance_2.map(|g| g.to_bits().to_string());
    let frame_rate = r.frame_rate.map(|f| f.to_bits().to_string());
    // NOTE: neither the device nor the server is in the key: a clip is its settings' clip
    // whichever device made it (remote frames are the same bits as local ones), and a farm node
    // may render a clip that another machine made on another device.
    let mut parts = vec![
        ("model", identity.as_str()),
        ("prompt", r.prompt.as_str()),
        ("negative", r.negative_prompt.as_str()),
        ("seed", seed.as_str()),
        ("steps", steps.as_str()),
        ("guidance", guidance.as_str()),
        ("scheduler", scheduler.as_str()),
        ("frames", frames_s.as_str()),
        ("width", width_s.as_str()),
        ("height", height_s.as_str()),
    ];
    // Only when set (two-transformer models): every other clip keeps the key it had before
    // this setting existed, so caches made by earlier versions stay valid.
    if let Some(g2) = &guidance_2 {
        parts.push(("guidance2", g2.as_str()));
    }
    // Likewise only for models conditioned on it: the same prompt at 24 and 30 fps moves
    // differently.
    if let Some(f) = &frame_rate {
        parts.push(("frame_rate", f.as_str()));
    }
    // Video to Video: what it makes of the Source (whose pixels are bound later, see
    // `Plan::bind_source`). The fit belongs here: the Source is fitted to the model's size.
    let strength = values
        .video
        .map(|v| (v.strength as f32).to_bits().to_string());
    if let Some(v) = &values.video {
        parts.push(("effect", "video-to-video"));
        parts.push(("mode", v.mode.key_name()));
        if let (Mode::Restyle, Some(s)) = (v.mode, &strength) {
            parts.push(("strength", s.as_str()));
        }
        parts.push(("fit", fit_name(values.fit)));
    }
    let key = ClipKey::from_parts(&parts);
    let bundled = is_bundled(&manifest) || is_bundled_dir(&model_dir);
    let key_parts = parts
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let fps = r.frame_rate.map_or(manifest.native.fps, f64::from);
    Ok(Plan {
        values,
        model_dir,
        key,
        frames,
        fps,
        notes: snapped.notes,
        bundled,
        identity,
        model_name: manifest.name.clone(),
        family: manifest.family,
        has_vae_encoder: manifest.vae_encoder.is_some(),
        key_parts,
        source_hash: None,
    })
}

/// A fit's name in the key.
fn fit_name(fit: Fit) -> &'static str {
    match fit {
        Fit::Fit => "fit",
        Fit::Fill => "fill",
        Fit::Stretch => "stretch",
    }
}

/// The bundled model's manifest, as the bundle ships it (`bundle/models/default`).
const BUNDLED_MANIFEST: &str = include_str!("../../bundle/models/default/promptreel.json");

/// Whether `manifest` is the model the bundle ships (this repository's): the same name and
/// version.
pub fn is_bundled(manifest: &engine::package::Manifest) -> bool {
    static BUNDLED: OnceLock<Option<(String, String)>> = OnceLock::new();
    let bundled = BUNDLED.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(BUNDLED_MANIFEST).ok()?;
        let text = |k: &str| v.get(k)?.as_str().map(str::to_owned);
        Some((text("name")?, text("version")?))
    });
    bundled
        .as_ref()
        .is_some_and(|(name, version)| *name == manifest.name && *version == manifest.version)
}

/// Whether `dir` is the model package of the bundle this binary lies in (whatever model that
/// bundle ships).
fn is_bundled_dir(dir: &std::path::Path) -> bool {
    let canonical = |d: &std::path::Path| engine::paths::canonicalize(d).ok();
    bundled_dir()
        .and_then(|b| canonical(&b))
        .is_some_and(|b| canonical(dir).is_some_and(|d| d == b))
}

/// The clip for `plan` if it is in memory or on disk (never generates, never waits).
pub fn cached(plan: &Plan) -> Option<Arc<CachedClip>> {
    clip_cache().get(&plan.key)
}

/// Whether a render may generate the clip for `plan`, and why; `batch` for a final
/// (non-interactive) render.
pub fn on_render_decision(plan: &Plan, batch: bool) -> on_render::Decision {
    let last = match plan.values.on_render {
        OnRender::Auto => on_render::record().last(&plan.identity, plan.values.device),
        _ => None,
    };
    on_render::decide(plan.values.on_render, last, plan.bundled, batch)
}

/// The Status line after a generation the user cancelled.
pub const CANCELLED: &str = "Cancelled";

/// Maps an engine error to a status and a sentence for the user.
pub fn engine_error(e: engine::Error) -> OfxError {
    if e.is_cancelled() {
        return OfxError::cancelled(CANCELLED);
    }
    let prefix = match e.kind() {
        ErrorKind::InvalidSetting => "Promptreel cannot use these settings",
        ErrorKind::Package => "Promptreel cannot use this model",
        ErrorKind::Runtime => "Promptreel cannot start ONNX Runtime",
        ErrorKind::Device => "Promptreel cannot use this device",
        // kOfxStatFailed, not kOfxStatErrMemory: hosts answer that with a purge and a retry,
        // which cannot help a setting that does not fit.
        ErrorKind::Memory => "Not enough memory",
        ErrorKind::Server => "The remote server could not run this generation",
        _ => "Generation failed",
    };
    OfxError::new(Status::Failed, format!("{prefix}: {e}"))
}

/// The engine's session options for `values`: the device, and with the remote device the
/// server at the Server address. A bad or empty address is the engine's sentence (naming the
/// Server parameter); checked before anything loads. The token, if any, is the engine's to read
/// from its environment variable when it connects: nothing here holds it.
pub fn session_options(values: &Values) -> OfxResult<SessionOptions> {
    let device = Device::parse(values.device).map_err(engine_error)?;
    let server = match device {
        Device::Remote => Some(ServerConfig::parse(&values.server).map_err(engine_error)?),
        _ => None,
    };
    Ok(SessionOptions {
        device,
        server,
        intra_threads: 0,
        ..Default::default()
    })
}

/// The cached clip for `plan`, generating it (once, whoever asks first) if needed.
/// `observer` reports progress and answers cancel checks for this caller's generation.
pub fn obtain(plan: &Plan, observer: &mut dyn Observer) -> OfxResult<(Arc<CachedClip>, Origin)> {
    clip_cache().get_or_generate(&plan.key, || run(plan, observer))
}

/// Runs the engine for `plan`.
fn run(plan: &Plan, observer: &mut dyn Observer) -> OfxResult<CachedClip> {
    let options = session_options(&plan.values)?;
    // NOTE: Video to Video's key names Source pixels; generating without them would cache a
    // clip under a key that does not describe it.
    let request = &plan.values.request;
    if plan.values.video.is_some()
        && (plan.source_hash.is_none() || (request.video.is_none() && request.image.is_none()))
    {
        return Err(OfxError::failed(
            "Promptreel hit an internal error (the Source was not read before generating); \
             please report it",
        ));
    }
    let ort_lib = ort_library()?;
    // Wall time as the user waits it, model loading included: what Generate on render's Auto
    // decides by.
    let started = std::time::Instant::now();
    let model =
        engine::registry::get(&plan.model_dir, options, Some(&ort_lib)).map_err(engine_error)?;
    let video = engine::generate(&model, &plan.values.request, observer).map_err(engine_error)?;
    on_render::record().set(&plan.identity, plan.values.device, started.elapsed());
    let mut summary = format!(
        "{} frames, {}x{}, {}, {:.1} s",
        video.frame_count,
        video.width,
        video.height,
        video.device_label(),
        video.timings.total.as_secs_f64()
    );
    for w in &video.warnings {
        summary.push_str("; ");
        summary.push_str(w);
    }
    Ok(CachedClip {
        frames: video.frames,
        frame_count: video.frame_count,
        width: video.width,
        height: video.height,
        fps: video.fps,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::params::Retiming;
    use crate::resample::Colour;
    use std::path::Path;

    /// Text to Video's values for the bundled model on `device`, with `server` in Server.
    fn values(device: &'static str, server: &str) -> Values {
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/models/default");
        Values {
            request: engine::GenerateRequest {
                prompt: "a red ball moving right".into(),
                seed: 3,
                steps: 2,
                ..engine::GenerateRequest::default()
            },
            model_folder: model.to_string_lossy().into_owned(),
            device,
            server: server.into(),
            fit: Fit::Fit,
            colour: Colour::Srgb,
            retiming: Retiming::Blend,
            on_render: OnRender::On,
            host_fps: Some(24.0),
            video: None,
        }
    }

    #[test]
    fn the_remote_device_takes_the_server_address_and_only_it_does() {
        let remote = session_options(&values("remote", " gpu-server:8001/ ")).unwrap();
        assert_eq!(remote.device, Device::Remote);
        assert_eq!(
            remote.server.as_ref().map(ServerConfig::url),
            Some("http://gpu-server:8001")
        );
        // Other devices ignore the parameter, whatever it holds.
        let cpu = session_options(&values("cpu", "not an address at all")).unwrap();
        assert_eq!((cpu.device, cpu.server), (Device::Cpu, None));
        // A missing or bad address is a settings sentence, naming the parameter when empty.
        let empty = session_options(&values("remote", "  "))
            .unwrap_err()
            .message;
        assert!(
            empty.starts_with("Promptreel cannot use these settings: ")
                && empty.contains("needs a server address")
                && empty.contains("Server parameter"),
            "{empty}"
        );
        let bad = session_options(&values("remote", "ftp://gpu:1"))
            .unwrap_err()
            .message;
        assert!(bad.contains("\"ftp://gpu:1\""), "{bad}");
    }

    #[test]
    fn the_clip_key_holds_neither_the_device_nor_the_server() {
        let key = |device, server| plan(&values(device, server)).unwrap().key;
        let local = key("cpu", "");
        for (device, server) in [
            ("auto", ""),
            ("cuda", ""),
            ("remote", "http://gpu-a:8001"),
            ("remote", "http://gpu-b:9001"),
            ("remote", ""),
        ] {
            assert_eq!(key(device, server), local, "{device} {server:?}");
        }
    }

    fn manifest(dir: &str) -> engine::package::Manifest {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        engine::package::Manifest::read(&dir).expect("manifest")
    }

    #[test]
    fn the_bundled_model_is_recognised_by_name_and_version() {
        assert!(is_bundled(&manifest("bundle/models/default")));
        assert!(!is_bundled(&manifest("onnx/tests/data/tiny-unet3d")));
        let mut renamed = manifest("bundle/models/default");
        renamed.version.push_str("-custom");
        assert!(!is_bundled(&renamed));
    }
}
