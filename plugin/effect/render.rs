//! Render-side actions: clip preferences, time domain, region of definition, and Render.
//!
//! Render maps host time onto a model frame, gets the clip (generating it once if needed, with
//! the host's abort honoured between denoising steps), fits the frame onto a canvas of the
//! output's full size (cached, so scrubbing a cached clip is a copy), and writes the render
//! window in the host's pixel depth.

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::generate::{self, Plan};
use super::instance::HostProgress;
use super::params::{Retiming, Values};
use super::{EffectKind, source};
use crate::cache::{CachedClip, ClipKey};
use crate::ofx::{EffectHandle, Image, OfxError, OfxResult, PixelDepth, PropertySet, Status, sys};
use crate::resample::{Canvas, Colour, Fit, Target, render_canvas};
use crate::slate::{self, SlateText};

/// Canvases kept for scrubbing: the most recent ones, up to this many bytes.
const CANVAS_BYTES: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq)]
struct CanvasKey {
    clip: ClipKey,
    frame: FramePick,
    width: usize,
    height: usize,
    par_bits: u64,
    fit: Fit,
    colour: Colour,
}

/// Recently used canvases, oldest first.
type CanvasList = Mutex<Vec<(CanvasKey, Arc<Canvas>)>>;

fn canvases() -> &'static CanvasList {
    static C: OnceLock<CanvasList> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// Forgets cached canvases (PurgeCaches).
pub fn purge_canvases() {
    canvases().lock().clear();
}

fn canvas_for(
    key: CanvasKey,
    make: impl FnOnce() -> Result<Canvas, String>,
) -> OfxResult<Arc<Canvas>> {
    {
        let mut list = canvases().lock();
        if let Some(i) = list.iter().position(|(k, _)| *k == key) {
            let entry = list.remove(i);
            let canvas = entry.1.clone();
            list.push(entry);
            return Ok(canvas);
        }
    }
    let canvas = Arc::new(
        make().map_err(|e| OfxError::failed(format!("Promptreel could not fit the frame: {e}")))?,
    );
    let mut list = canvases().lock();
    list.push((key, canvas.clone()));
    let mut total: usize = list.iter().map(|(_, c)| c.rgba.len() * 4).sum();
    while total > CANVAS_BYTES && list.len() > 1 {
        total -= list[0].1.rgba.len() * 4;
        list.remove(0);
    }
    Ok(canvas)
}

/// The frame rate the host runs the output at (falls back to the model's).
fn host_fps(effect: &EffectHandle, model_fps: f64) -> f64 {
    host_frame_rate(effect).unwrap_or(model_fps)
}

/// The frame rate the host runs the output at, where it says.
pub fn host_frame_rate(effect: &EffectHandle) -> Option<f64> {
    let from = |p: OfxResult<PropertySet>| {
        p.and_then(|p| p.get_double(sys::kOfxImageEffectPropFrameRate, 0))
    };
    let out = effect
        .clip(sys::kOfxImageEffectOutputClipName)
        .map(|c| *c.properties());
    from(out)
        .or_else(|_| from(effect.properties()))
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0)
}

/// Every parameter of `kind` at `time`, with the host's frame rate.
pub fn values_at(effect: &EffectHandle, time: f64, kind: EffectKind) -> OfxResult<Values> {
    let mut v = Values::read(&effect.params()?, time, kind)?;
    v.host_fps = host_frame_rate(effect);
    Ok(v)
}

/// Host frames the clip spans: model frames scaled by the frame-rate ratio.
pub fn host_length(model_frames: u32, model_fps: f64, host_fps: f64) -> u32 {
    ((f64::from(model_frames) * host_fps / model_fps).round() as u32).max(1)
}

/// The model frame shown at host `time`; past the end the last frame holds.
pub fn model_frame(time: f64, model_frames: usize, model_fps: f64, host_fps: f64) -> usize {
    if model_frames == 0 || !time.is_finite() || time <= 0.0 {
        return 0;
    }
    let f = (time * model_fps / host_fps + 1e-6).floor();
    (f as usize).min(model_frames - 1)
}

/// What a host frame shows of the model's clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FramePick {
    /// One model frame as it is.
    Exact(usize),
    /// Model frames `first` and `first + 1` mixed: `(1 - weight) * first + weight * next`,
    /// with `weight` strictly between 0 and 1.
    Blend { first: usize, weight: f32 },
}

/// The model frame(s) shown at host `time` with `retiming`. Equal rates give exact frames with
/// either; before the clip its first frame shows, past its last frame that frame holds.
pub fn pick_frame(
    time: f64,
    model_frames: usize,
    model_fps: f64,
    host_fps: f64,
    retiming: Retiming,
) -> FramePick {
    let held = model_frame(time, model_frames, model_fps, host_fps);
    if retiming == Retiming::Hold || held + 1 >= model_frames || !time.is_finite() || time <= 0.0 {
        return FramePick::Exact(held);
    }
    let weight = (time * model_fps / host_fps - held as f64) as f32;
    // NOTE: `model_frame` rounds positions within 1e-6 below a frame up onto it; those, and
    // weights that would not change an 8-bit value, are that frame exactly.
    if !(1e-5..=1.0 - 1e-5).contains(&weight) {
        return FramePick::Exact(if weight > 0.5 { held + 1 } else { held });
    }
    FramePick::Blend {
        first: held,
        weight,
    }
}

/// The RGB pixels `pick` names in `clip` (a blend is computed; an exact frame is borrowed).
fn picked_pixels(
    clip: &CachedClip,
    pick: FramePick,
) -> Result<std::borrow::Cow<'_, [f32]>, String> {
    let frame = |i: usize| clip.frame(i).ok_or_else(|| format!("frame {i} is missing"));
    match pick {
        FramePick::Exact(i) => Ok(std::borrow::Cow::Borrowed(frame(i)?)),
        FramePick::Blend { first, weight } => Ok(std::borrow::Cow::Owned(blend(
            frame(first)?,
            frame(first + 1)?,
            weight,
        ))),
    }
}

/// `(1 - weight) * a + weight * b`, value by value.
pub fn blend(a: &[f32], b: &[f32], weight: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + (y - x) * weight).collect()
}

/// GetClipPreferences: the output changes every frame.
pub fn clip_preferences(
    _effect: &EffectHandle,
    out_args: Option<&PropertySet>,
) -> OfxResult<Status> {
    let out = out_args.ok_or_else(|| OfxError::failed("GetClipPreferences without outArgs"))?;
    out.set_int(sys::kOfxImageEffectFrameVarying, 0, 1)?;
    let _ = out.set_string(
        sys::kOfxImageEffectPropPreMultiplication,
        0,
        &sys::kOfxImageOpaque.to_string_lossy(),
    );
    Ok(Status::Ok)
}

/// GetTimeDomain (General context): the clip's length in host frames.
/// Video to Video starts at its Source's first frame; without a Source the host's default
/// stands.
pub fn time_domain(
    effect: &EffectHandle,
    out_args: Option<&PropertySet>,
    kind: EffectKind,
) -> OfxResult<Status> {
    let out = out_args.ok_or_else(|| OfxError::failed("GetTimeDomain without outArgs"))?;
    let first = if kind.reads_source() {
        match source::first_time(effect) {
            Ok(first) => first,
            Err(_) => return Ok(Status::ReplyDefault),
        }
    } else {
        0.0
    };
    let plan = generate::plan(&values_at(effect, first, kind)?)?;
    let n = host_length(plan.frames, plan.fps, host_fps(effect, plan.fps));
    out.set_doubles(
        sys::kOfxImageEffectPropFrameRange,
        &[first, first + f64::from(n - 1)],
    )?;
    Ok(Status::Ok)
}

/// The project rectangle in canonical coordinates: x1, y1, x2, y2.
fn project_rect(effect: &EffectHandle) -> Option<[f64; 4]> {
    let props = effect.properties().ok()?;
    let size = props
        .get_doubles::<2>(sys::kOfxImageEffectPropProjectSize)
        .ok()?;
    let offset = props
        .get_doubles::<2>(sys::kOfxImageEffectPropProjectOffset)
        .unwrap_or([0.0, 0.0]);
    (size[0] > 0.0 && size[1] > 0.0).then_some([
        offset[0],
        offset[1],
        offset[0] + size[0],
        offset[1] + size[1],
    ])
}

/// GetRegionOfDefinition: the project frame.
pub fn region_of_definition(
    effect: &EffectHandle,
    out_args: Option<&PropertySet>,
) -> OfxResult<Status> {
    let out = out_args.ok_or_else(|| OfxError::failed("GetRegionOfDefinition without outArgs"))?;
    match project_rect(effect) {
        Some(r) => {
            out.set_doubles(sys::kOfxImageEffectPropRegionOfDefinition, &r)?;
            Ok(Status::Ok)
        }
        None => Ok(Status::ReplyDefault),
    }
}

/// Render: write one frame's render window.
pub fn render(
    effect: &EffectHandle,
    in_args: Option<&PropertySet>,
    kind: EffectKind,
) -> OfxResult<Status> {
    let args = in_args.ok_or_else(|| OfxError::failed("Render without inArgs"))?;
    let time = args.get_double(sys::kOfxPropTime, 0)?;
    let window = args.get_ints::<4>(sys::kOfxImageEffectPropRenderWindow)?;
    let scale = args
        .get_doubles::<2>(sys::kOfxImageEffectPropRenderScale)
        .unwrap_or([1.0, 1.0]);

    let values = values_at(effect, time, kind)?;
    let mut plan: Plan = generate::plan(&values)?;
    // Video to Video: the Source's hash completes the key; the clip starts at its first frame.
    let reads_source = kind.reads_source();
    let read_source = |plan: &mut Plan, frames| source::bind(effect, plan, time, true, frames);
    let first = if reads_source {
        match read_source(&mut plan, false) {
            Err(e) if e.cancelled => return Ok(Status::Ok),
            other => other?,
        }
    } else {
        0.0
    };
    let cached = generate::cached(&plan);
    // A host that does not say whether the render is interactive is treated as interactive.
    let batch = args
        .get_int(sys::kOfxImageEffectPropInteractiveRenderStatus, 0)
        .is_ok_and(|v| v == 0);
    if cached.is_none() && !generate::on_render_decision(&plan, batch).generate {
        // Generate on render is off: a slate until the Generate button makes the clip. The
        // slate is never cached as a clip.
        return render_slate(effect, &values, time, window, scale);
    }
    let obtained = match cached {
        Some(clip) => Ok((clip, crate::cache::Origin::Memory)),
        None => {
            // NOTE: read again with the frames when the first read hashed some from memory
            // (the key is computed again from them too).
            let read = if reads_source && !source::has_frames(&plan) {
                read_source(&mut plan, true).map(|_| ())
            } else {
                Ok(())
            };
            read.and_then(|()| {
                let mut observer = HostProgress::new(effect, "Promptreel: generating", true);
                generate::obtain(&plan, &mut observer)
            })
        }
    };
    let clip = match obtained {
        Ok((clip, _)) => clip,
        // An abort is routine (scrubbing, a parameter changed mid-render): the host throws this
        // render away and asks again. The OpenFX guide's example effects return kOfxStatOK when
        // `abort()` interrupted them ("the failed fetch is fine"), and kOfxStatFailed would make
        // hosts mark the node as failed; so: no message, nothing printed, OK. The partial
        // generation is not cached (the clip cache only keeps finished clips).
        Err(e) if e.cancelled => return Ok(Status::Ok),
        Err(e) => return Err(e),
    };

    let mut image = effect
        .clip(sys::kOfxImageEffectOutputClipName)?
        .image(time)?;
    let par = image.pixel_aspect;
    let OutputFrame {
        origin: (x0, y0),
        width,
        height,
    } = output_frame(effect, &image, scale);

    let fps = host_fps(effect, clip.fps);
    let frame = pick_frame(
        time - first,
        clip.frame_count,
        clip.fps,
        fps,
        values.retiming,
    );
    let key = CanvasKey {
        clip: plan.key,
        frame,
        width,
        height,
        par_bits: par.to_bits(),
        fit: values.fit,
        colour: values.colour,
    };
    let canvas = canvas_for(key, || {
        let pixels = picked_pixels(&clip, frame)?;
        render_canvas(
            &pixels,
            clip.width,
            clip.height,
            &Target {
                width,
                height,
                pixel_aspect: par,
                fit: values.fit,
                colour: values.colour,
            },
        )
    })?;
    write_window(&mut image, &canvas, (x0, y0), window);
    effect.host().clear_persistent_message(effect);
    Ok(Status::Ok)
}

/// Where the project frame lies in an output image, in pixels at the render scale.
struct OutputFrame {
    /// The frame's bottom-left pixel.
    origin: (i32, i32),
    width: usize,
    height: usize,
}

/// The project frame at this render scale, in pixels (x divided by the PAR).
fn output_frame(effect: &EffectHandle, image: &Image, scale: [f64; 2]) -> OutputFrame {
    let par = image.pixel_aspect;
    let [cx1, cy1, cx2, cy2] = project_rect(effect).unwrap_or([
        f64::from(image.bounds[0]) * par / scale[0],
        f64::from(image.bounds[1]) / scale[1],
        f64::from(image.bounds[2]) * par / scale[0],
        f64::from(image.bounds[3]) / scale[1],
    ]);
    OutputFrame {
        origin: (
            (cx1 * scale[0] / par).round() as i32,
            (cy1 * scale[1]).round() as i32,
        ),
        width: ((cx2 - cx1) * scale[0] / par).round().max(1.0) as usize,
        height: ((cy2 - cy1) * scale[1]).round().max(1.0) as usize,
    }
}

/// The first words of the slate's note and of the Status line while a clip is not generated.
pub const NOT_GENERATED: &str = "Not generated yet: press Generate";

/// Renders the slate (dark, the prompt, [`NOT_GENERATED`]) into the render window.
fn render_slate(
    effect: &EffectHandle,
    values: &Values,
    time: f64,
    window: [i32; 4],
    scale: [f64; 2],
) -> OfxResult<Status> {
    let mut image = effect
        .clip(sys::kOfxImageEffectOutputClipName)?
        .image(time)?;
    let frame = output_frame(effect, &image, scale);
    let text = SlateText {
        prompt: &values.request.prompt,
        note: NOT_GENERATED,
    };
    let canvas = slate::render_slate(
        frame.width,
        frame.height,
        image.pixel_aspect,
        values.colour,
        &text,
    )
    .map_err(|e| OfxError::failed(format!("Promptreel could not draw its slate: {e}")))?;
    write_window(&mut image, &canvas, frame.origin, window);
    effect.host().clear_persistent_message(effect);
    Ok(Status::Ok)
}

/// Writes `canvas` (placed with its bottom-left pixel at `origin`) into the image's part of the
/// render window, converting to the image's depth and components; outside the canvas is black.
pub fn write_window(image: &mut Image, canvas: &Canvas, origin: (i32, i32), window: [i32; 4]) {
    let x1 = window[0].max(image.bounds[0]);
    let x2 = window[2].min(image.bounds[2]);
    if x2 <= x1 {
        return;
    }
    let (depth, comps, bx) = (image.depth, image.components, image.bounds[0]);
    let px = image.pixel_bytes();
    let rows = image.rows_mut(window[1], window[3]);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let per = rows.len().div_ceil(threads).max(1);
    let mut rows = rows;
    std::thread::scope(|s| {
        while !rows.is_empty() {
            let rest = rows.split_off(per.min(rows.len()));
            let chunk = std::mem::replace(&mut rows, rest);
            s.spawn(move || {
                for (y, row) in chunk {
                    let top_down = i64::from(canvas.height as i32 - 1) - i64::from(y - origin.1);
                    let src = usize::try_from(top_down)
                        .ok()
                        .filter(|&r| r < canvas.height)
                        .map(|r| canvas.row(r));
                    let bytes = &mut row[(x1 - bx) as usize * px..(x2 - bx) as usize * px];
                    write_row(bytes, src, x1 - origin.0, canvas.width, depth, comps);
                }
            });
        }
    });
}

/// Converts one row. `cx` is the canvas column of the first pixel.
fn write_row(
    out: &mut [u8],
    src: Option<&[f32]>,
    cx: i32,
    canvas_w: usize,
    depth: PixelDepth,
    comps: usize,
) {
    let px_bytes = comps * depth.bytes();
    // Fast path: a fully covered RGBA float row is a straight copy.
    if let (Some(src), PixelDepth::Float, 4, Ok(start)) = (src, depth, comps, usize::try_from(cx)) {
        let n = out.len() / px_bytes;
        if start + n <= canvas_w {
            out.copy_from_slice(bytemuck::cast_slice(&src[start * 4..(start + n) * 4]));
            return;
        }
    }
    for (i, px) in out.chunks_exact_mut(px_bytes).enumerate() {
        let col = i64::from(cx) + i as i64;
        let rgba: [f32; 4] = match (src, usize::try_from(col)) {
            (Some(s), Ok(c)) if c < canvas_w => {
                [s[c * 4], s[c * 4 + 1], s[c * 4 + 2], s[c * 4 + 3]]
            }
            _ => [0.0, 0.0, 0.0, 1.0],
        };
        let values: &[f32] = match comps {
            4 => &rgba,
            3 => &rgba[..3],
            _ => &rgba[3..],
        };
        for (c, v) in values.iter().enumerate() {
            match depth {
                PixelDepth::Float => px[c * 4..c * 4 + 4].copy_from_slice(&v.to_ne_bytes()),
                PixelDepth::Short => {
                    let q = (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
                    px[c * 2..c * 2 + 2].copy_from_slice(&q.to_ne_bytes());
                }
                PixelDepth::Byte => px[c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_maps_by_frame_rate_and_holds_the_last_frame() {
        // 8 model frames at 8 fps on a 24 fps timeline: 3 host frames per model frame.
        assert_eq!(model_frame(0.0, 8, 8.0, 24.0), 0);
        assert_eq!(model_frame(2.0, 8, 8.0, 24.0), 0);
        assert_eq!(model_frame(3.0, 8, 8.0, 24.0), 1);
        assert_eq!(model_frame(23.0, 8, 8.0, 24.0), 7);
        assert_eq!(model_frame(500.0, 8, 8.0, 24.0), 7);
        assert_eq!(model_frame(-4.0, 8, 8.0, 24.0), 0);
        assert_eq!(host_length(8, 8.0, 24.0), 24);
        assert_eq!(host_length(16, 8.0, 25.0), 50);
    }

    #[test]
    fn blend_picks_the_two_nearest_frames_by_position() {
        let pick = |t| pick_frame(t, 8, 8.0, 24.0, Retiming::Blend);
        assert_eq!(pick(0.0), FramePick::Exact(0));
        assert_eq!(pick(3.0), FramePick::Exact(1));
        match pick(1.0) {
            FramePick::Blend { first: 0, weight } => assert!((weight - 1.0 / 3.0).abs() < 1e-6),
            other => panic!("{other:?}"),
        }
        match pick(5.0) {
            FramePick::Blend { first: 1, weight } => assert!((weight - 2.0 / 3.0).abs() < 1e-6),
            other => panic!("{other:?}"),
        }
        // The last frame and past it hold; before the clip the first frame shows.
        assert_eq!(pick(21.0), FramePick::Exact(7));
        assert_eq!(pick(22.0), FramePick::Exact(7));
        assert_eq!(pick(1e12), FramePick::Exact(7));
        assert_eq!(pick(-3.5), FramePick::Exact(0));
        assert_eq!(pick(f64::NAN), FramePick::Exact(0));
        // Hold is today's mapping; equal rates give exact frames with either.
        assert_eq!(
            pick_frame(1.0, 8, 8.0, 24.0, Retiming::Hold),
            FramePick::Exact(0)
        );
        for t in 0..10 {
            for r in [Retiming::Hold, Retiming::Blend] {
                let expected = FramePick::Exact((t as usize).min(7));
                assert_eq!(pick_frame(f64::from(t), 8, 25.0, 25.0, r), expected);
            }
        }
        // A single frame and an empty clip do not panic.
        assert_eq!(
            pick_frame(2.5, 1, 8.0, 24.0, Retiming::Blend),
            FramePick::Exact(0)
        );
        assert_eq!(
            pick_frame(2.5, 0, 8.0, 24.0, Retiming::Blend),
            FramePick::Exact(0)
        );
        assert_eq!(blend(&[0.0, 1.0], &[1.0, 1.0], 0.25), vec![0.25, 1.0]);
    }

    #[test]
    fn rows_convert_to_each_depth() {
        let canvas_row = [0.5f32, 0.25, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let mut f = vec![0u8; 2 * 16];
        write_row(&mut f, Some(&canvas_row), 0, 2, PixelDepth::Float, 4);
        assert_eq!(f32::from_ne_bytes([f[0], f[1], f[2], f[3]]), 0.5);
        let mut s = vec![0u8; 2 * 8];
        write_row(&mut s, Some(&canvas_row), 0, 2, PixelDepth::Short, 4);
        assert_eq!(u16::from_ne_bytes([s[2], s[3]]), 16384);
        let mut b = vec![0u8; 2 * 4];
        write_row(&mut b, Some(&canvas_row), 0, 2, PixelDepth::Byte, 4);
        assert_eq!(&b[..4], &[128, 64, 255, 255]);
        // Off-canvas pixels are opaque black.
        let mut off = vec![7u8; 4];
        write_row(&mut off, Some(&canvas_row), 5, 2, PixelDepth::Byte, 4);
        assert_eq!(off, vec![0, 0, 0, 255]);
    }
}
