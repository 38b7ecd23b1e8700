//! Writing frames, the animated preview and the JSON report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use promptreel_engine::{Error, GenerateRequest, Model, Phase, Result, TensorF32, Video, npy};

/// Quantises [0, 1] floats to 8 bits (round to nearest).
fn to_u8(frame: &[f32]) -> Vec<u8> {
    frame
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Writes `path` through a temporary file and a rename, so a reader never sees half a file.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = path.with_extension("part");
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("write", path, e)
    })
}

/// Writes `frame_0000.png`, ...; returns how many.
pub fn write_frames(v: &Video, dir: &Path) -> Result<usize> {
    for i in 0..v.frame_count {
        let frame = v
            .frame(i)
            .ok_or_else(|| Error::setting("frame index out of range"))?;
        let path = dir.join(format!("frame_{i:04}.png"));
        let pixels = to_u8(frame);
        write_atomic(&path, |w| {
            let mut enc = png::Encoder::new(w, v.width as u32, v.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
            let mut writer = enc.write_header().map_err(std::io::Error::other)?;
            writer
                .write_image_data(&pixels)
                .map_err(std::io::Error::other)?;
            writer.finish().map_err(std::io::Error::other)
        })?;
    }
    // Frames of an earlier, longer clip in the same folder would mix two clips in one sequence.
    for i in v.frame_count.. {
        let stale = dir.join(format!("frame_{i:04}.png"));
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io("remove the stale frame", &stale, e)),
        }
    }
    Ok(v.frame_count)
}

/// Writes an endlessly looping animated GIF at the clip's frame rate.
pub fn write_gif(v: &Video, path: &Path) -> Result<()> {
    let (w, h) = (v.width as u16, v.height as u16);
    let delay = (100.0 / v.fps.max(1.0)).round().clamp(2.0, 65535.0) as u16;
    write_atomic(path, |out| {
        let mut enc = gif::Encoder::new(out, w, h, &[]).map_err(std::io::Error::other)?;
        enc.set_repeat(gif::Repeat::Infinite)
            .map_err(std::io::Error::other)?;
        for i in 0..v.frame_count {
            let rgb = to_u8(v.frame(i).unwrap_or_default());
            let mut frame = gif::Frame::from_rgb_speed(w, h, &rgb, 10);
            frame.delay = delay;
            enc.write_frame(&frame).map_err(std::io::Error::other)?;
        }
        Ok(())
    })
}

/// Writes the frames as one float32 .npy array [F, H, W, 3].
pub fn write_npy(v: &Video, path: &Path) -> Result<()> {
    let t = TensorF32 {
        shape: vec![v.frame_count, v.height, v.width, 3],
        data: v.frames.clone(),
    };
    let bytes = npy::encode_f32(&t);
    write_atomic(path, |w| w.write_all(&bytes))
}

/// Writes the JSON report.
pub fn write_report(
    v: &Video,
    req: &GenerateRequest,
    model: &Model,
    phase_peaks: &[(Phase, u64)],
    path: &Path,
) -> Result<()> {
    let t = &v.timings;
    // The process's peak is the largest phase's (the CLI restarts the peak at each report).
    let peak = phase_peaks
        .iter()
        .map(|(_, b)| *b)
        .chain(promptreel_engine::memory::peak_resident_bytes())
        .max();
    let report = serde_json::json!({
        "model": {
            "path": model.package().root(),
            "name": model.package().manifest().name,
            "version": model.package().manifest().version,
            "family": model.package().manifest().family.as_str(),
            "weight_bytes": model.package().weight_bytes(),
        },
        "settings": {
            "prompt": req.prompt,
            "negative_prompt": req.negative_prompt,
            "seed": req.seed,
            "steps": v.settings.steps,
            "guidance": v.settings.guidance,
            "frames": v.settings.frames,
            "width": v.settings.width,
            "height": v.settings.height,
            "scheduler": v.scheduler,
            "initial_latents": req.initial_latents.is_some(),
            "frame_rate": v.settings.frame_rate,
            "image": v.settings.image,
            "video_strength": v.settings.video.map(|s| s.strength),
            "video_first_step": v.settings.video.map(|s| s.first_step),
            "decode_timestep": v.settings.decode.map(|(t, _)| t),
            "decode_noise_scale": v.settings.decode.map(|(_, s)| s),
            "vae_tiled": v.settings.vae_tiled,
            "device": model.options().device.name(),
            // the address only: the token never goes into a report
            "server": model.options().server.as_ref().map(|s| s.url()),
            "threads": model.options().intra_threads,
        },
        "providers": v.providers.iter().map(|(g, p)| (g.clone(), serde_json::Value::from(p.clone()))).collect::<serde_json::Map<_, _>>(),
        "seconds": {
            "text_encoder": t.text_encoder.as_secs_f64(),
            "denoiser": t.denoiser.as_secs_f64(),
            "vae_decoder": t.vae_decoder.as_secs_f64(),
            "vae_encoder": t.vae_encoder.as_secs_f64(),
            "session_load": t.session_load.as_secs_f64(),
            "onnx_runtime_total": t.runtime_total().as_secs_f64(),
            "total": t.total.as_secs_f64(),
            "per_step": t.steps.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>(),
            "mean_per_step": t.seconds_per_step(),
        },
        "overhead_ratio": t.overhead_ratio(),
        "peak_resident_bytes": peak,
        "memory_mode": model.memory_mode().label(),
        "peak_resident_bytes_by_phase": phase_peaks
            .iter()
            .map(|(p, b)| (p.label().to_string(), serde_json::Value::from(*b)))
            .collect::<serde_json::Map<_, _>>(),
        "estimated_peak_bytes": v.memory_estimate.total(),
        "warnings": v.warnings,
    });
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::setting(format!("report: {e}")))?;
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}
