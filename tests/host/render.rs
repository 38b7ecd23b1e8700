//! Rendering: Render and Begin/EndSequenceRender, with host-owned output buffers.
//!
//! Like Natron, the host asks the frames needed (temporal effects only) and the region of
//! definition first, allocates an output buffer for the (scaled) region, registers it as the
//! render target of this thread and time, sends Render, and afterwards checks that every image
//! fetched was released. Renders are serialised as the plug-in's
//! `kOfxImageEffectPluginRenderThreadSafety` demands.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ofx_sys::*;

use super::effect::RenderTarget;
use super::ffi::{lock, lossy};
use super::image::{BitDepth, ImageBuffer};
use super::inputs::FramesNeeded;
use super::instance::Instance;
use super::plugin::succeeded;
use super::prop_schema::Def;
use super::registry;
use super::source::InputFetch;

/// What to render.
#[derive(Clone, Debug)]
pub struct RenderRequest {
    pub time: f64,
    /// Render scale on both axes (1 full size, 0.5 half, ...).
    pub scale: f64,
    /// Pixels to render; None for the whole (scaled) region of definition.
    pub window: Option<OfxRectI>,
    /// `kOfxImageEffectPropSequentialRenderStatus`.
    pub sequential: bool,
    /// `kOfxImageEffectPropInteractiveRenderStatus`.
    pub interactive: bool,
    /// `kOfxImageEffectPropRenderQualityDraft`.
    pub draft: bool,
    /// Give an image covering only the window instead of the whole region (tiles).
    pub image_is_window: bool,
}

impl RenderRequest {
    /// A full-size, final-quality render of the whole frame at `time`.
    pub fn at(time: f64) -> Self {
        Self {
            time,
            scale: 1.0,
            window: None,
            sequential: false,
            interactive: false,
            draft: false,
            image_is_window: false,
        }
    }

    /// The same request at another render scale.
    pub fn scaled(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }

    /// The same request for one window only, with an image of exactly that window.
    pub fn tile(mut self, window: OfxRectI) -> Self {
        self.window = Some(window);
        self.image_is_window = true;
        self
    }
}

/// The outcome of a render.
#[derive(Debug)]
pub struct Rendered {
    pub status: OfxStatus,
    /// The output buffer (whatever the plug-in wrote into it).
    pub image: Arc<ImageBuffer>,
    /// The window that was asked for.
    pub window: OfxRectI,
    /// The region of definition used (canonical coordinates).
    pub rod: OfxRectD,
    /// Output images the plug-in fetched during the render.
    pub images_fetched: usize,
    /// Images (output and input) it did not release before returning (released by the host
    /// afterwards).
    pub images_unreleased: usize,
    /// Input images it fetched during the render, in order.
    pub input_fetches: Vec<InputFetch>,
    /// The answer to the GetFramesNeeded the host sent before the render: only when the
    /// plug-in declared temporal clip access and the host supports it.
    pub frames_needed: Option<FramesNeeded>,
}

impl Rendered {
    /// Whether the render succeeded.
    pub fn ok(&self) -> bool {
        self.status == kOfxStatOK
    }

    /// Every pixel of the window, row y1 first.
    pub fn pixels(&self) -> Vec<[f32; 4]> {
        self.image.pixels(self.window)
    }

    /// Pixels of the window the plug-in never wrote.
    pub fn unwritten(&self) -> usize {
        self.image.poisoned_count(self.window)
    }

    /// How many images of input `clip` the plug-in fetched during the render.
    pub fn fetches_of(&self, clip: &str) -> usize {
        self.input_fetches.iter().filter(|f| f.clip == clip).count()
    }

    /// Input fetches at times GetFramesNeeded did not list (clip, time); empty when the host
    /// did not ask GetFramesNeeded. Recorded, not enforced: a test decides.
    pub fn fetched_outside_frames_needed(&self) -> Vec<(String, f64)> {
        let Some(needed) = &self.frames_needed else {
            return Vec::new();
        };
        self.input_fetches
            .iter()
            .filter(|f| !needed.covers(&f.clip, f.time))
            .map(|f| (f.clip.clone(), f.time))
            .collect()
    }
}

static NEXT_RENDER: AtomicU64 = AtomicU64::new(1);

/// Scales a canonical rectangle to pixels, rounding outwards.
pub fn to_pixels(rod: OfxRectD, scale: f64, par: f64) -> OfxRectI {
    let sx = scale / par;
    OfxRectI {
        x1: (rod.x1 * sx).floor() as i32,
        y1: (rod.y1 * scale).floor() as i32,
        x2: (rod.x2 * sx).ceil() as i32,
        y2: (rod.y2 * scale).ceil() as i32,
    }
}

impl Instance {
    /// Renders one frame into a fresh host buffer of the Output clip's depth. Like Natron,
    /// the host first asks GetFramesNeeded when the plug-in declared temporal clip access
    /// (and this host supports it), then the region of definition.
    pub fn render(&self, req: &RenderRequest) -> Rendered {
        let config = &self.host().config;
        let frames_needed = (config.temporal_clip_access && self.temporal_access_declared())
            .then(|| self.ask_frames_needed(req.time));
        let (rod_status, rod) = self.region_of_definition(req.time, req.scale);
        let rod = if succeeded(rod_status) {
            rod
        } else {
            let p = &config.project;
            OfxRectD {
                x1: 0.0,
                y1: 0.0,
                x2: p.width,
                y2: p.height,
            }
        };
        let par = config.project.pixel_aspect_ratio;
        let pixels = to_pixels(rod, req.scale, par);
        let window = req.window.unwrap_or(pixels);
        let bounds = if req.image_is_window { window } else { pixels };
        let depth = self.output_depth().unwrap_or_else(|| {
            self.host()
                .diag
                .violation("Output clip depth is not one this host allocates; using float");
            BitDepth::Float
        });
        let buffer = Arc::new(ImageBuffer::new(
            bounds,
            depth,
            config.negative_row_bytes,
            config.row_padding,
        ));
        let id = NEXT_RENDER.fetch_add(1, Ordering::Relaxed);
        let runtime = self.runtime().clone();
        lock(&runtime.targets).push(RenderTarget {
            id,
            thread: std::thread::current().id(),
            time: req.time,
            render_scale: [req.scale, req.scale],
            field: kOfxImageFieldNone,
            buffer: buffer.clone(),
            rod_pixels: pixels,
        });

        let args = self.in_args(kOfxImageEffectActionRender);
        Def::new(&args.props)
            .ro()
            .dbl1(kOfxPropTime, req.time)
            .str1(
                kOfxImageEffectPropFieldToRender,
                kOfxImageFieldNone.to_str().expect("ASCII"),
            )
            .int_n(
                kOfxImageEffectPropRenderWindow,
                &[window.x1, window.y1, window.x2, window.y2],
            )
            .dbl_n(kOfxImageEffectPropRenderScale, &[req.scale, req.scale])
            .int1(
                kOfxImageEffectPropSequentialRenderStatus,
                i32::from(req.sequential),
            )
            .int1(
                kOfxImageEffectPropInteractiveRenderStatus,
                i32::from(req.interactive),
            )
            .int1(kOfxImageEffectPropRenderQualityDraft, i32::from(req.draft));

        let status = {
            let safety = self
                .props()
                .str(kOfxImageEffectPluginRenderThreadSafety)
                .unwrap_or_default();
            let _plugin_guard = (safety == lossy(kOfxImageEffectRenderUnsafe))
                .then(|| lock(&self.plugin.render_lock));
            let _instance_guard = (safety == lossy(kOfxImageEffectRenderInstanceSafe))
                .then(|| lock(&self.render_lock));
            runtime.renders_in_flight.fetch_add(1, Ordering::SeqCst);
            let status = self.call(kOfxImageEffectActionRender, Some(&args), None);
            runtime.renders_in_flight.fetch_sub(1, Ordering::SeqCst);
            status
        };

        let fetched = {
            let mut targets = lock(&runtime.targets);
            let i = targets.iter().position(|t| t.id == id).expect("our target");
            targets.remove(i);
            buffer.fetch_count()
        };
        let unreleased: Vec<usize> = {
            let mut open = lock(&runtime.open_images);
            let mine = open
                .iter()
                .filter(|(_, r)| *r == id)
                .map(|(h, _)| *h)
                .collect();
            open.retain(|(_, r)| *r != id);
            mine
        };
        if !unreleased.is_empty() {
            self.host().diag.violation(format!(
                "render at time {} returned with {} image(s) not released",
                req.time,
                unreleased.len()
            ));
            for handle in &unreleased {
                registry::retire(*handle);
            }
        }
        let input_fetches = lock(&runtime.input_fetches)
            .iter()
            .filter(|f| f.render_id == id)
            .cloned()
            .collect();
        Rendered {
            status,
            image: buffer,
            window,
            rod,
            images_fetched: fetched,
            images_unreleased: unreleased.len(),
            input_fetches,
            frames_needed,
        }
    }

    /// Sends BeginSequenceRender for frames `range` (inclusive) with `step`.
    pub fn begin_sequence_render(
        &self,
        range: [f64; 2],
        step: f64,
        interactive: bool,
    ) -> OfxStatus {
        self.sequence_action(
            kOfxImageEffectActionBeginSequenceRender,
            range,
            step,
            interactive,
        )
    }

    /// Sends EndSequenceRender, matching a BeginSequenceRender.
    pub fn end_sequence_render(&self, range: [f64; 2], step: f64, interactive: bool) -> OfxStatus {
        self.sequence_action(
            kOfxImageEffectActionEndSequenceRender,
            range,
            step,
            interactive,
        )
    }

    fn sequence_action(
        &self,
        action: &std::ffi::CStr,
        range: [f64; 2],
        step: f64,
        interactive: bool,
    ) -> OfxStatus {
        let args = self.in_args(action);
        Def::new(&args.props)
            .ro()
            .dbl_n(kOfxImageEffectPropFrameRange, &range)
            .dbl1(kOfxImageEffectPropFrameStep, step)
            .int1(kOfxPropIsInteractive, i32::from(interactive))
            .dbl_n(kOfxImageEffectPropRenderScale, &[1.0, 1.0])
            .int1(kOfxImageEffectPropSequentialRenderStatus, 0)
            .int1(
                kOfxImageEffectPropInteractiveRenderStatus,
                i32::from(interactive),
            )
            .int1(kOfxImageEffectPropRenderQualityDraft, 0);
        self.call(action, Some(&args), None)
    }
}
