//! Footage connected to input clips (the Source of a filter, the optional Source of the General
//! context): frames a test provides, handed to the plug-in by `clipGetImage`.
//!
//! A [`SourceClip`] is a run of frames starting at `first_time`; the frame shown at time `t`
//! is `round(t - first_time)`, and times outside `[first, first + n - 1]` have no image. Every
//! fetch copies the frame into a fresh host buffer at the depth the clip currently has (the
//! source's own, or what the plug-in asked for in GetClipPreferences), at the render scale of
//! the render in progress, and with the host's row layout (negative rows, padding), so a
//! plug-in that ignores any of those is caught exactly as with output images.
//!
//! `kOfxImagePropUniqueIdentifier` names the content: the connection, the frame, the frame's
//! revision (bumped by [`Instance::replace_source_frame`]), the depth and the scale. Two
//! fetches of an unchanged frame give the same identifier; any change gives a new one.
//!
//! [`Instance::replace_source_frame`]: super::Instance::replace_source_frame

use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ofx_sys::*;

use super::ffi::{lock, lossy};
use super::image::{BitDepth, ImageBuffer};

/// Frames to connect to an input clip. Build with [`SourceClip::new`] or
/// [`SourceClip::from_fn`], adjust with the builder methods, then hand to
/// [`Instance::connect_clip`](super::Instance::connect_clip).
#[derive(Debug)]
pub struct SourceClip {
    frames: Vec<Arc<ImageBuffer>>,
    first_time: f64,
    pixel_aspect_ratio: f64,
    frame_rate: Option<f64>,
    premultiplication: String,
    field_order: String,
}

impl SourceClip {
    /// Frames `frames[0..n]` at times `first_time .. first_time + n - 1`, PAR 1, the project's
    /// frame rate, premultiplied, unfielded. Every frame must have the same depth; the first
    /// frame's bounds are the clip's region of definition (in pixels at render scale 1).
    ///
    /// # Panics
    /// With no frames, or with frames of mixed depths (a test bug).
    pub fn new(frames: Vec<ImageBuffer>, first_time: f64) -> Self {
        assert!(!frames.is_empty(), "a source clip needs at least one frame");
        let depth = frames[0].depth;
        assert!(
            frames.iter().all(|f| f.depth == depth),
            "every frame of a source clip must have the same depth"
        );
        Self {
            frames: frames.into_iter().map(Arc::new).collect(),
            first_time,
            pixel_aspect_ratio: 1.0,
            frame_rate: None,
            premultiplication: lossy(kOfxImagePreMultiplied),
            field_order: lossy(kOfxImageFieldNone),
        }
    }

    /// `frames` RGBA float frames of `width` x `height` pixels (bounds `0, 0, width, height`);
    /// pixel (x, y) of frame `i` (0-based, shown at `first_time + i`) is `f(i, x, y)`.
    pub fn from_fn(
        width: i32,
        height: i32,
        frames: usize,
        first_time: f64,
        mut f: impl FnMut(usize, i32, i32) -> [f32; 4],
    ) -> Self {
        let bounds = OfxRectI {
            x1: 0,
            y1: 0,
            x2: width,
            y2: height,
        };
        let frames = (0..frames)
            .map(|i| ImageBuffer::from_fn(bounds, BitDepth::Float, |x, y| f(i, x, y)))
            .collect();
        Self::new(frames, first_time)
    }

    /// The same frames converted to another depth (the source's own depth, which the clip
    /// reports as `kOfxImageClipPropUnmappedPixelDepth`).
    pub fn with_depth(mut self, depth: BitDepth) -> Self {
        self.frames = self
            .frames
            .iter()
            .map(|f| Arc::new(f.resampled(depth, 1.0, false, 0)))
            .collect();
        self
    }

    /// `kOfxImagePropPixelAspectRatio` of the clip and its images.
    pub fn pixel_aspect(mut self, par: f64) -> Self {
        self.pixel_aspect_ratio = par;
        self
    }

    /// `kOfxImageEffectPropFrameRate` (and the unmapped rate) of the clip.
    pub fn frame_rate(mut self, fps: f64) -> Self {
        self.frame_rate = Some(fps);
        self
    }

    /// `kOfxImageEffectPropPreMultiplication` of the clip and its images
    /// (`kOfxImageOpaque`, `kOfxImagePreMultiplied`, `kOfxImageUnPreMultiplied`).
    pub fn premultiplication(mut self, premult: &CStr) -> Self {
        self.premultiplication = lossy(premult);
        self
    }

    /// `kOfxImageClipPropFieldOrder` of the clip (`kOfxImageFieldNone`, `...Lower`, `...Upper`).
    pub fn field_order(mut self, order: &CStr) -> Self {
        self.field_order = lossy(order);
        self
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames (never: [`SourceClip::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// `[first, first + n - 1]`.
    pub fn frame_range(&self) -> [f64; 2] {
        [
            self.first_time,
            self.first_time + (self.frames.len() as f64 - 1.0),
        ]
    }

    /// Frame `index` as given.
    pub fn frame(&self, index: usize) -> Option<&Arc<ImageBuffer>> {
        self.frames.get(index)
    }
}

/// Source of connection numbers (part of unique identifiers).
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// One frame of a connection and how often it was replaced.
#[derive(Debug)]
struct Frame {
    buffer: Arc<ImageBuffer>,
    revision: u64,
}

/// A [`SourceClip`] connected to a clip: what `clipGetImage` reads.
#[derive(Debug)]
pub struct Connection {
    frames: Mutex<Vec<Frame>>,
    /// Distinguishes this connection from earlier ones of the same clip.
    pub number: u64,
    pub first_time: f64,
    pub pixel_aspect_ratio: f64,
    /// None: the project's rate.
    pub frame_rate: Option<f64>,
    pub premultiplication: String,
    pub field_order: String,
    /// The source's own depth.
    pub depth: BitDepth,
}

impl Connection {
    /// Takes over a source clip's frames.
    pub fn new(source: SourceClip) -> Self {
        let depth = source.frames[0].depth;
        Self {
            frames: Mutex::new(
                source
                    .frames
                    .into_iter()
                    .map(|buffer| Frame {
                        buffer,
                        revision: 0,
                    })
                    .collect(),
            ),
            number: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            first_time: source.first_time,
            pixel_aspect_ratio: source.pixel_aspect_ratio,
            frame_rate: source.frame_rate,
            premultiplication: source.premultiplication,
            field_order: source.field_order,
            depth,
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        lock(&self.frames).len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[first, first + n - 1]`.
    pub fn frame_range(&self) -> [f64; 2] {
        [self.first_time, self.first_time + (self.len() as f64 - 1.0)]
    }

    /// The frame shown at `time`: `round(time - first)`, if inside the clip.
    pub fn frame_index(&self, time: f64) -> Option<usize> {
        let offset = (time - self.first_time).round();
        (offset >= 0.0 && offset < self.len() as f64).then_some(offset as usize)
    }

    /// The region of definition at `time` in canonical coordinates (the frame's pixel bounds
    /// with x scaled by the PAR); times outside the clip use the nearest frame.
    pub fn region_of_definition(&self, time: f64) -> OfxRectD {
        let frames = lock(&self.frames);
        let last = frames.len().saturating_sub(1);
        let index = (time - self.first_time).round().clamp(0.0, last as f64) as usize;
        let b = frames[index].buffer.bounds;
        let par = self.pixel_aspect_ratio;
        OfxRectD {
            x1: f64::from(b.x1) * par,
            y1: f64::from(b.y1),
            x2: f64::from(b.x2) * par,
            y2: f64::from(b.y2),
        }
    }

    /// Replaces frame `index`; its images get a new unique identifier.
    ///
    /// # Panics
    /// If `index` is outside the clip or the depth differs from the source's (a test bug).
    pub fn replace_frame(&self, index: usize, buffer: ImageBuffer) {
        assert_eq!(
            buffer.depth, self.depth,
            "a replacement frame must have the source's depth"
        );
        let mut frames = lock(&self.frames);
        let frame = frames
            .get_mut(index)
            .unwrap_or_else(|| panic!("the source has no frame {index}"));
        frame.buffer = Arc::new(buffer);
        frame.revision += 1;
    }

    /// A fresh copy of frame `index` at `depth` and `scale` in the host's row layout, and its
    /// unique identifier.
    pub fn image(
        &self,
        clip: &str,
        index: usize,
        depth: BitDepth,
        scale: f64,
        negative_rows: bool,
        row_padding: usize,
    ) -> (ImageBuffer, String) {
        let (buffer, revision) = {
            let frames = lock(&self.frames);
            let frame = &frames[index];
            (frame.buffer.clone(), frame.revision)
        };
        let image = buffer.resampled(depth, scale, negative_rows, row_padding);
        let unique = format!(
            "{clip}#{}/frame {index}.{revision}/{}@{scale}",
            self.number,
            lossy(depth.as_cstr())
        );
        (image, unique)
    }
}

/// One input image the plug-in fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct InputFetch {
    /// The clip it came from.
    pub clip: String,
    /// The time asked for.
    pub time: f64,
    /// The source frame given (0-based).
    pub frame: usize,
    /// The time being rendered when it was fetched; None outside renders.
    pub render_time: Option<f64>,
    /// The render it belongs to (0 outside renders).
    pub render_id: u64,
    /// `kOfxImagePropUniqueIdentifier` of the image.
    pub unique_id: String,
}
