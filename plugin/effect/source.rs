//! Video to Video's Source clip: which Source frames a clip is made from, checking them
//! against the model and the host, reading them (in a render or from the Generate button),
//! and turning them into what the engine takes and what the clip's key holds.
//!
//! The clip starts at the Source's first frame (its frame range start) and is as long as the
//! model's clip (Frames, or the model's default). Restyle reads the Source frame of every model
//! frame: model frame `i` at model rate `m` on a host at rate `h` comes from host time
//! `first + round(i * h / m)`. Animate reads the first frame, or, on a host without temporal
//! clip access, the frame being rendered.
//!
//! Each frame read is turned into 8-bit sRGB (linear light encoded when Output colour says the
//! host works in linear), hashed, and fitted to the model's size with the Fit setting (see
//! [`super::source_pixels`]). The
//! hash of every frame's size and pixels, before fitting, goes into the clip's key: a changed
//! Source makes another clip, an unchanged one finds the clip made before. Converting and
//! hashing are skipped for frames whose `kOfxImagePropUniqueIdentifier` this instance hashed
//! before (the host changes the identifier whenever the image changes); the frames are still
//! fetched on every render, since only the host knows whether they changed.

use std::collections::HashMap;
use std::ffi::CStr;

use promptreel_engine::image::{ImageFit, RgbImage};
use promptreel_engine::package::FamilyName;

use super::SOURCE_CLIP;
use super::generate::Plan;
use super::instance::{self, Instance};
use super::params::{Mode, VideoValues};
use super::source_pixels::{fit_to_model, frame_hash, source_hash, to_rgb};
use super::{EffectKind, generate, render};
use crate::ofx::{EffectHandle, OfxError, OfxResult, PropertySet, Status, sys};
use crate::resample::{Colour, Fit};

/// GetFramesNeeded's out-argument for the Source clip ("OfxImageClipPropFrameRange_" + name).
const SOURCE_FRAME_RANGE: &CStr = c"OfxImageClipPropFrameRange_Source";
/// GetRegionsOfInterest's out-argument for the Source clip ("OfxImageClipPropRoI_" + name).
const SOURCE_ROI: &CStr = c"OfxImageClipPropRoI_Source";
/// Model families that animate a first frame (image to video).
pub const ANIMATE_FAMILIES: &[FamilyName] = &[FamilyName::Ltx];
/// Frame hashes an instance remembers by unique identifier before it starts over.
const MEMO_LIMIT: usize = 4096;

/// Frame hashes an instance computed, by the image's unique identifier and the colour setting
/// (which changes the 8-bit pixels hashed).
pub type HashMemo = HashMap<(String, Colour), [u8; 32]>;

/// The Source clip, as the host describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceFacts {
    /// The frame range, in host frames.
    pub first: f64,
    pub last: f64,
    pub pixel_aspect: f64,
}

impl SourceFacts {
    /// Frames in the range.
    pub fn frames(&self) -> u64 {
        ((self.last - self.first).round().max(-1.0) + 1.0) as u64
    }
}

/// The error for a missing Source.
fn no_source() -> OfxError {
    OfxError::failed("Video to Video needs a Source clip: connect one to its Source input")
}

/// The Source clip's frame range and pixel aspect ratio; an error when nothing is connected.
pub fn facts(effect: &EffectHandle) -> OfxResult<SourceFacts> {
    let clip = effect.clip(SOURCE_CLIP).map_err(|_| no_source())?;
    let props = clip.properties();
    if props
        .get_int(sys::kOfxImageClipPropConnected, 0)
        .is_ok_and(|c| c == 0)
    {
        return Err(no_source());
    }
    let [first, last] = props
        .get_doubles::<2>(sys::kOfxImageEffectPropFrameRange)
        .map_err(|_| no_source())?;
    if !(first.is_finite() && last.is_finite()) || last < first {
        return Err(no_source());
    }
    let pixel_aspect = props
        .get_double(sys::kOfxImagePropPixelAspectRatio, 0)
        .ok()
        .filter(|p| p.is_finite() && *p > 0.0)
        .unwrap_or(1.0);
    Ok(SourceFacts {
        first,
        last,
        pixel_aspect,
    })
}

/// The output clip's pixel aspect ratio (1 when the host does not say).
fn output_pixel_aspect(effect: &EffectHandle) -> f64 {
    effect
        .clip(sys::kOfxImageEffectOutputClipName)
        .ok()
        .and_then(|c| {
            c.properties()
                .get_double(sys::kOfxImagePropPixelAspectRatio, 0)
                .ok()
        })
        .filter(|p| p.is_finite() && *p > 0.0)
        .unwrap_or(1.0)
}

/// The host times Restyle reads: model frame `i` from `first + round(i * host / model)`.
pub fn restyle_times(first: f64, frames: u32, model_fps: f64, host_fps: f64) -> Vec<f64> {
    let ratio = if model_fps > 0.0 && host_fps > 0.0 {
        host_fps / model_fps
    } else {
        1.0
    };
    (0..frames)
        .map(|i| first + (f64::from(i) * ratio).round())
        .collect()
}

/// What the host lets the effect do, for [`check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostFacts {
    /// Whether it grants temporal clip access.
    pub temporal: bool,
    /// Its frame rate.
    pub fps: f64,
    /// The output's pixel aspect ratio.
    pub output_pixel_aspect: f64,
}

/// Checks a Video to Video clip before anything is read, and returns the Source times to
/// read: every refusal is a sentence saying what to change.
pub fn check(
    plan: &Plan,
    video: &VideoValues,
    source: &SourceFacts,
    host: &HostFacts,
    time: f64,
) -> OfxResult<Vec<f64>> {
    match video.mode {
        Mode::Restyle => {
            if !(video.strength.is_finite() && (0.0..=1.0).contains(&video.strength)) {
                return Err(OfxError::failed(format!(
                    "Strength {} is out of range: choose 0 (keep the Source) to 1 (ignore it)",
                    video.strength
                )));
            }
            if !plan.has_vae_encoder {
                return Err(OfxError::failed(format!(
                    "Restyle needs a model with a VAE encoder, and the model {} has none: \
                     choose a model package exported with its VAE encoder (the bundled model \
                     has one)",
                    plan.model_name
                )));
            }
            if !host.temporal {
                return Err(OfxError::failed(
                    "Restyle needs a host with temporal clip access (reading Source frames \
                     other than the one rendering), and this host does not grant it: use \
                     Animate first frame here, or a host that grants it (Natron, Resolve)",
                ));
            }
        }
        Mode::Animate => {
            if !ANIMATE_FAMILIES.contains(&plan.family) {
                let can: Vec<&str> = ANIMATE_FAMILIES.iter().map(|f| f.as_str()).collect();
                return Err(OfxError::failed(format!(
                    "Animate first frame needs an image-to-video model, and the model {} is a \
                     {} model; the families that can: {}",
                    plan.model_name,
                    plan.family.as_str(),
                    can.join(", ")
                )));
            }
        }
    }
    if (source.pixel_aspect - host.output_pixel_aspect).abs() > 1e-6 {
        return Err(OfxError::failed(format!(
            "The Source's pixel aspect ratio is {} and the output's is {}: Video to Video needs \
             them equal; give the Source clip or the project the same pixel aspect ratio",
            source.pixel_aspect, host.output_pixel_aspect
        )));
    }
    match video.mode {
        Mode::Restyle => {
            let times = restyle_times(source.first, plan.frames, plan.fps, host.fps);
            let last = times.last().copied().unwrap_or(source.first);
            if last > source.last + 1e-6 {
                let needed = (last - source.first).round() as u64 + 1;
                return Err(OfxError::failed(format!(
                    "The Source clip is too short: this clip needs {needed} Source frames \
                     ({} model frames at {} fps on a {} fps timeline, frames {} to {last}), \
                     and the Source has {}; use a longer Source or lower Frames",
                    plan.frames,
                    plan.fps,
                    host.fps,
                    source.first,
                    source.frames()
                )));
            }
            Ok(times)
        }
        // Without temporal access only the frame rendering can be read.
        Mode::Animate if host.temporal => Ok(vec![source.first]),
        Mode::Animate => Ok(vec![time]),
    }
}

/// What the host says, for [`check`].
fn host_facts(effect: &EffectHandle, plan: &Plan) -> HostFacts {
    HostFacts {
        temporal: effect.host().temporal_clip_access(),
        fps: plan.values.host_fps.unwrap_or(plan.fps),
        output_pixel_aspect: output_pixel_aspect(effect),
    }
}

/// Reads the Source for `plan` at host `time` and binds its hash into the plan's key; with
/// `frames`, also puts the frames, fitted to the model's size, into the request (Restyle's
/// source video or Animate's first frame), as it does without when every frame was converted
/// anyway (see [`has_frames`]). `in_render`: the host's abort is honoured between frames.
/// Returns the Source's first frame time, where the clip starts.
pub fn bind(
    effect: &EffectHandle,
    plan: &mut Plan,
    time: f64,
    in_render: bool,
    frames: bool,
) -> OfxResult<f64> {
    let video = plan.values.video.ok_or_else(|| {
        OfxError::failed("Promptreel hit an internal error (no Video to Video settings)")
    })?;
    let source = facts(effect)?;
    let times = check(plan, &video, &source, &host_facts(effect, plan), time)?;
    let size = (
        plan.values.request.width.unwrap_or(1),
        plan.values.request.height.unwrap_or(1),
    );
    let state = instance::state(effect);
    let reading = Reading {
        colour: plan.values.colour,
        fit: plan.values.fit,
        size,
        pixel_aspect: source.pixel_aspect,
        frames,
        in_render,
    };
    let read = read(effect, state.as_deref(), &times, &reading)?;
    plan.bind_source(read.hash);
    let request = &mut plan.values.request;
    (request.video, request.image, request.strength) = (None, None, None);
    if let Some(fitted) = read.frames {
        let request = &mut plan.values.request;
        // Already the model's size: the engine's fit leaves them as they are.
        request.image_fit = ImageFit::Stretch;
        match video.mode {
            Mode::Restyle => {
                request.video = Some(fitted);
                request.strength = Some(video.strength as f32);
            }
            Mode::Animate => request.image = fitted.into_iter().next(),
        }
    }
    Ok(source.first)
}

/// Whether `plan` holds the Source frames a generation needs (after [`bind`]).
pub fn has_frames(plan: &Plan) -> bool {
    let r = &plan.values.request;
    r.video.is_some() || r.image.is_some()
}

/// The Source's first frame time, where a Video to Video clip starts (no pixels read).
pub fn first_time(effect: &EffectHandle) -> OfxResult<f64> {
    Ok(facts(effect)?.first)
}

/// How to read the Source.
#[derive(Debug, Clone, Copy)]
struct Reading {
    colour: Colour,
    fit: Fit,
    /// The model's frame size.
    size: (u32, u32),
    pixel_aspect: f64,
    /// Keep the fitted frames (to generate), not only the hash.
    frames: bool,
    in_render: bool,
}

/// The Source as read: its hash, and the fitted frames when asked for or when every frame had
/// to be converted anyway (none remembered).
struct Read {
    hash: String,
    frames: Option<Vec<RgbImage>>,
}

/// Fetches the Source at `times`, one image at a time (each released before the next), and
/// hashes them; see the module documentation.
fn read(
    effect: &EffectHandle,
    state: Option<&Instance>,
    times: &[f64],
    how: &Reading,
) -> OfxResult<Read> {
    let clip = effect.clip(SOURCE_CLIP).map_err(|_| no_source())?;
    let mut hashes = Vec::with_capacity(times.len());
    let mut frames = Vec::with_capacity(times.len());
    let mut every_frame = true;
    for &t in times {
        if how.in_render && effect.abort_requested() {
            return Err(OfxError::cancelled(generate::CANCELLED));
        }
        let image = clip.image(t).map_err(|e| {
            let hint = if how.in_render {
                ""
            } else {
                "; if this host gives Source frames only while rendering, set Generate on \
                 render to On and render a frame"
            };
            OfxError::failed(format!(
                "Promptreel could not read the Source at frame {t}: {}{hint}",
                e.message
            ))
        })?;
        let id = image.unique_identifier();
        let remembered = match (&id, state, how.frames) {
            (Some(id), Some(s), false) => s
                .source_hashes
                .lock()
                .get(&(id.clone(), how.colour))
                .copied(),
            _ => None,
        };
        if let Some(hash) = remembered {
            hashes.push(hash);
            every_frame = false;
            continue;
        }
        let rgb = to_rgb(&image, how.colour).map_err(|e| {
            OfxError::failed(format!(
                "Promptreel could not read the Source at frame {t}: {e}"
            ))
        })?;
        drop(image);
        let hash = frame_hash(&rgb);
        if let (Some(id), Some(s)) = (id, state) {
            let mut memo = s.source_hashes.lock();
            if memo.len() >= MEMO_LIMIT {
                memo.clear();
            }
            memo.insert((id, how.colour), hash);
        }
        hashes.push(hash);
        // Fitted frames are the model's size: cheap to keep for a generation that may follow.
        let (w, h) = how.size;
        frames.push(fit_to_model(&rgb, w, h, how.fit, how.pixel_aspect));
    }
    Ok(Read {
        hash: source_hash(&hashes),
        frames: every_frame.then_some(frames),
    })
}

/// GetFramesNeeded: the Source frames the clip is made from (Restyle: from its first frame to
/// the last one read; Animate: the first). Without a usable plan the host's default (the
/// frame rendering) stands.
pub fn frames_needed(
    effect: &EffectHandle,
    in_args: Option<&PropertySet>,
    out_args: Option<&PropertySet>,
) -> OfxResult<Status> {
    let out = out_args.ok_or_else(|| OfxError::failed("GetFramesNeeded without outArgs"))?;
    let time = in_args
        .and_then(|a| a.get_double(sys::kOfxPropTime, 0).ok())
        .unwrap_or(0.0);
    let range = (|| -> OfxResult<Option<[f64; 2]>> {
        let values = render::values_at(effect, time, EffectKind::VideoToVideo)?;
        let plan = generate::plan(&values)?;
        let video = values.video.ok_or_else(no_source)?;
        let source = facts(effect)?;
        let host = host_facts(effect, &plan);
        if !host.temporal {
            return Ok(None);
        }
        Ok(Some(match video.mode {
            Mode::Restyle => {
                let times = restyle_times(source.first, plan.frames, plan.fps, host.fps);
                let last = times.last().copied().unwrap_or(source.first);
                // A short Source is refused at render time; ask only for what exists.
                [source.first, last.min(source.last)]
            }
            Mode::Animate => [source.first, source.first],
        }))
    })();
    match range {
        Ok(Some(range)) => {
            out.set_doubles(SOURCE_FRAME_RANGE, &range)?;
            Ok(Status::Ok)
        }
        _ => Ok(Status::ReplyDefault),
    }
}

/// GetRegionsOfInterest: the whole Source frame (its pixels are hashed and fitted whole,
/// whatever part of the output renders).
pub fn regions_of_interest(
    effect: &EffectHandle,
    in_args: Option<&PropertySet>,
    out_args: Option<&PropertySet>,
) -> OfxResult<Status> {
    let out = out_args.ok_or_else(|| OfxError::failed("GetRegionsOfInterest without outArgs"))?;
    let time = in_args
        .and_then(|a| a.get_double(sys::kOfxPropTime, 0).ok())
        .unwrap_or(0.0);
    if facts(effect).is_err() {
        return Ok(Status::ReplyDefault);
    }
    match effect
        .clip(SOURCE_CLIP)
        .and_then(|c| c.region_of_definition(time))
    {
        Ok(rod) if rod[2] > rod[0] && rod[3] > rod[1] => {
            out.set_doubles(SOURCE_ROI, &rod)?;
            Ok(Status::Ok)
        }
        _ => Ok(Status::ReplyDefault),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::params::{OnRender, Retiming, Values};
    use promptreel_engine::GenerateRequest;

    #[test]
    fn the_per_clip_argument_names_follow_the_clip_name() {
        let name = SOURCE_CLIP.to_str().unwrap();
        let prefix = |c: &CStr| c.to_str().unwrap().to_string();
        assert_eq!(
            prefix(SOURCE_FRAME_RANGE),
            prefix(sys::PROMPTREEL_OFX_CLIP_FRAME_RANGE_PREFIX) + name
        );
        assert_eq!(
            prefix(SOURCE_ROI),
            prefix(sys::PROMPTREEL_OFX_CLIP_ROI_PREFIX) + name
        );
    }

    #[test]
    fn restyle_reads_one_source_frame_per_model_frame() {
        // 8 fps model on a 24 fps timeline: every third host frame.
        assert_eq!(
            restyle_times(10.0, 4, 8.0, 24.0),
            vec![10.0, 13.0, 16.0, 19.0]
        );
        // Equal rates: consecutive frames; 25 on 30: rounded.
        assert_eq!(restyle_times(0.0, 3, 25.0, 25.0), vec![0.0, 1.0, 2.0]);
        assert_eq!(
            restyle_times(0.0, 6, 25.0, 30.0),
            vec![0.0, 1.0, 2.0, 4.0, 5.0, 6.0]
        );
        assert!(restyle_times(0.0, 0, 8.0, 24.0).is_empty());
        assert_eq!(restyle_times(5.0, 2, 0.0, 24.0), vec![5.0, 6.0]);
    }

    fn plan_for(model: &str, video: VideoValues, frames: u32) -> Plan {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(model);
        let values = Values {
            request: GenerateRequest {
                frames: Some(frames),
                ..GenerateRequest::default()
            },
            model_folder: dir.to_string_lossy().into_owned(),
            device: "cpu",
            server: String::new(),
            fit: Fit::Fit,
            colour: Colour::Srgb,
            retiming: Retiming::Blend,
            on_render: OnRender::On,
            host_fps: Some(24.0),
            video: Some(video),
        };
        generate::plan(&values).expect("plan")
    }

    const NATRON: HostFacts = HostFacts {
        temporal: true,
        fps: 24.0,
        output_pixel_aspect: 1.0,
    };

    #[test]
    fn each_bad_input_is_refused_in_words() {
        let restyle = VideoValues {
            mode: Mode::Restyle,
            strength: 0.6,
        };
        let animate = VideoValues {
            mode: Mode::Animate,
            strength: 0.6,
        };
        let bundled = plan_for("bundle/models/default", restyle, 4);
        let source = SourceFacts {
            first: 0.0,
            last: 29.0,
            pixel_aspect: 1.0,
        };
        let err = |r: OfxResult<Vec<f64>>| r.expect_err("refused").message;
        // Fine: four model frames at 8 fps on 24 read every third frame.
        assert_eq!(
            check(&bundled, &restyle, &source, &NATRON, 5.0).expect("ok"),
            vec![0.0, 3.0, 6.0, 9.0]
        );
        // A Source too short: how many are needed and how many there are.
        let short = SourceFacts {
            last: 7.0,
            ..source
        };
        let text = err(check(&bundled, &restyle, &short, &NATRON, 0.0));
        assert!(
            text.contains("too short")
                && text.contains("needs 10 Source frames")
                && text.contains("has 8"),
            "{text}"
        );
        for s in [-0.1, 1.5, f64::NAN] {
            let bad = VideoValues {
                strength: s,
                ..restyle
            };
            assert!(err(check(&bundled, &bad, &source, &NATRON, 0.0)).contains("Strength"));
        }
        let square = SourceFacts {
            pixel_aspect: 2.0,
            ..source
        };
        let text = err(check(&bundled, &restyle, &square, &NATRON, 0.0));
        assert!(text.contains("pixel aspect ratio is 2"), "{text}");
        let no_temporal = HostFacts {
            temporal: false,
            ..NATRON
        };
        let text = err(check(&bundled, &restyle, &source, &no_temporal, 0.0));
        assert!(text.contains("temporal clip access"), "{text}");
        // The tiny UNet3D test model has no VAE encoder in some versions; the bundled one is
        // unet3d, which cannot animate.
        let text = err(check(&bundled, &animate, &source, &NATRON, 0.0));
        assert!(
            text.contains("Animate first frame")
                && text.contains("unet3d")
                && text.ends_with("ltx"),
            "{text}"
        );
        let mut no_encoder = bundled.clone();
        no_encoder.has_vae_encoder = false;
        let text = err(check(&no_encoder, &restyle, &source, &NATRON, 0.0));
        assert!(text.contains("VAE encoder"), "{text}");
        // LTX animates: the first frame, or the frame rendering without temporal access.
        let ltx = plan_for("onnx/tests/data/tiny-ltx", animate, 9);
        assert_eq!(
            check(&ltx, &animate, &source, &NATRON, 5.0).expect("ok"),
            vec![0.0]
        );
        assert_eq!(
            check(&ltx, &animate, &source, &no_temporal, 5.0).expect("ok"),
            vec![5.0]
        );
    }
}
