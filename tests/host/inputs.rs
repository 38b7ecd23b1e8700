//! Input clips of an instance: connecting footage, what was fetched from it, and the actions
//! about inputs (GetFramesNeeded, GetRegionsOfInterest).
//!
//! Connecting or disconnecting a clip does what an interactive host does when the user wires
//! a node: the clip's properties change, the plug-in gets Begin/InstanceChanged/End with
//! `kOfxPropType` = `kOfxTypeClip` and reason `kOfxChangeUserEdited`, and GetClipPreferences
//! is asked again (its answer is returned).

use std::ffi::{CStr, CString};
use std::sync::Arc;

use ofx_sys::*;

use super::effect::Clip;
use super::ffi::{lock, lossy};
use super::image::ImageBuffer;
use super::instance::{ClipPreferences, Instance, default_depth};
use super::plugin::succeeded;
use super::prop_schema::{self, Def};
use super::source::{Connection, InputFetch, SourceClip};

/// GetFramesNeeded's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct FramesNeeded {
    pub status: OfxStatus,
    /// One entry per range per input clip, inclusive (a clip may list several ranges). On
    /// ReplyDefault every input clip needs `[time, time]`; on failure nothing is listed.
    pub ranges: Vec<(String, [f64; 2])>,
}

impl FramesNeeded {
    /// Whether `time` of `clip` lies in a range the plug-in asked for.
    pub fn covers(&self, clip: &str, time: f64) -> bool {
        self.ranges
            .iter()
            .any(|(c, [a, b])| c == clip && time >= a - 1e-6 && time <= b + 1e-6)
    }
}

/// `prefix` followed by the clip name, as the per-clip action arguments are named.
fn clip_key(prefix: &CStr, clip: &str) -> CString {
    CString::new(format!("{}{clip}", lossy(prefix))).expect("no NUL")
}

impl Instance {
    /// The input clip `name`.
    ///
    /// # Panics
    /// If the instance has no such clip, or it is the Output clip (a test bug).
    fn input_clip(&self, name: &str) -> Arc<Clip> {
        let clip = self
            .clip(name)
            .unwrap_or_else(|| panic!("the instance has no clip {name}"));
        assert!(!clip.is_output(), "the Output clip cannot be connected");
        clip
    }

    /// Every input clip, in definition order.
    pub fn input_clips(&self) -> Vec<Arc<Clip>> {
        lock(&self.effect.clips)
            .iter()
            .filter(|c| !c.is_output())
            .cloned()
            .collect()
    }

    /// Connects `source` to the input clip `name` (replacing what was connected), tells the
    /// plug-in (InstanceChanged for the clip) and asks clip preferences again.
    ///
    /// # Panics
    /// If there is no such input clip (a test bug).
    pub fn connect_clip(&self, name: &str, source: SourceClip) -> ClipPreferences {
        let clip = self.input_clip(name);
        let connection = Arc::new(Connection::new(source));
        let depth = self.mapped_depth(&connection);
        prop_schema::clip_connected(&clip.props, &connection, &depth, &self.host().config);
        *lock(&clip.source) = Some(connection);
        self.clip_changed(name)
    }

    /// Disconnects the input clip `name` (its properties return to the unconnected ones),
    /// tells the plug-in and asks clip preferences again.
    ///
    /// # Panics
    /// If there is no such input clip (a test bug).
    pub fn disconnect_clip(&self, name: &str) -> ClipPreferences {
        let clip = self.input_clip(name);
        *lock(&clip.source) = None;
        let depth = default_depth(self.host(), &self.effect);
        prop_schema::clip_instance(&clip.props, false, &self.host().config, &depth);
        self.clip_changed(name)
    }

    fn clip_changed(&self, name: &str) -> ClipPreferences {
        self.notify_changes(kOfxTypeClip, &[name.to_owned()], kOfxChangeUserEdited);
        self.deliver_plugin_edits();
        self.clip_preferences()
    }

    /// Replaces frame `index` of the footage connected to `clip`, as an upstream edit would:
    /// images of that frame get a new unique identifier. The plug-in is not told (hosts do
    /// not tell effects about upstream changes; they render again).
    ///
    /// # Panics
    /// If nothing is connected, `index` is outside the footage, or the depth differs.
    pub fn replace_source_frame(&self, clip: &str, index: usize, frame: ImageBuffer) {
        self.input_clip(clip)
            .connection()
            .unwrap_or_else(|| panic!("nothing is connected to {clip}"))
            .replace_frame(index, frame);
    }

    /// Every input image the plug-in fetched so far (all input clips, in and out of renders),
    /// oldest first.
    pub fn input_fetches(&self) -> Vec<InputFetch> {
        lock(&self.runtime().input_fetches).clone()
    }

    /// How many input images the plug-in fetched so far (every input clip).
    pub fn source_fetches(&self) -> usize {
        lock(&self.runtime().input_fetches).len()
    }

    /// Forgets the fetches recorded so far.
    pub fn clear_input_fetches(&self) {
        lock(&self.runtime().input_fetches).clear();
    }

    /// Images (input or output) handed out and not released yet.
    pub fn open_images(&self) -> usize {
        lock(&self.runtime().open_images).len()
    }

    /// Whether the plug-in declared temporal clip access, on the effect or on an input clip.
    pub fn temporal_access_declared(&self) -> bool {
        self.runtime().temporal_declared()
            || self
                .input_clips()
                .iter()
                .any(|c| c.declares_temporal_access())
    }

    /// The union of the connected inputs' regions of definition at `time` (canonical
    /// coordinates); None without connected inputs.
    pub fn default_region_of_definition(&self, time: f64) -> Option<OfxRectD> {
        self.input_clips()
            .iter()
            .filter_map(|c| c.connection())
            .map(|c| c.region_of_definition(time))
            .reduce(|a, b| OfxRectD {
                x1: a.x1.min(b.x1),
                y1: a.y1.min(b.y1),
                x2: a.x2.max(b.x2),
                y2: a.y2.max(b.y2),
            })
    }

    /// Sends GetFramesNeeded for `time`: per input clip, the ranges of source frames the
    /// plug-in needs to render it (`[time, time]` when it replies default).
    pub fn frames_needed(&self, time: f64) -> (OfxStatus, Vec<(String, [f64; 2])>) {
        let answer = self.ask_frames_needed(time);
        (answer.status, answer.ranges)
    }

    /// [`Instance::frames_needed`], as a [`FramesNeeded`].
    pub fn ask_frames_needed(&self, time: f64) -> FramesNeeded {
        let inputs = self.input_clips();
        let i = self.in_args(kOfxImageEffectActionGetFramesNeeded);
        Def::new(&i.props).ro().dbl1(kOfxPropTime, time);
        let o = self.out_args(kOfxImageEffectActionGetFramesNeeded);
        {
            let mut d = Def::new(&o.props);
            for c in &inputs {
                d.dbl_var(
                    &clip_key(PROMPTREEL_OFX_CLIP_FRAME_RANGE_PREFIX, &c.name),
                    &[time, time],
                );
            }
        }
        let status = self.call(kOfxImageEffectActionGetFramesNeeded, Some(&i), Some(&o));
        let mut ranges = Vec::new();
        if status == kOfxStatReplyDefault {
            ranges.extend(inputs.iter().map(|c| (c.name.clone(), [time, time])));
        } else if status == kOfxStatOK {
            for c in &inputs {
                let key = clip_key(PROMPTREEL_OFX_CLIP_FRAME_RANGE_PREFIX, &c.name);
                let values = o.props.doubles(&key).unwrap_or_default();
                if !values.len().is_multiple_of(2) {
                    self.host().diag.violation(format!(
                        "GetFramesNeeded gave {} values for {}: ranges come in pairs",
                        values.len(),
                        c.name
                    ));
                }
                for pair in values.chunks_exact(2) {
                    if pair[1] < pair[0] {
                        self.host().diag.violation(format!(
                            "GetFramesNeeded gave the range [{}, {}] for {}: min > max",
                            pair[0], pair[1], c.name
                        ));
                    }
                    ranges.push((c.name.clone(), [pair[0], pair[1]]));
                }
            }
        }
        FramesNeeded { status, ranges }
    }

    /// Sends GetRegionsOfInterest for rendering `roi` (canonical coordinates) at `time` and
    /// `scale`: per input clip, the region of it the plug-in needs (`roi` when it replies
    /// default).
    pub fn regions_of_interest(
        &self,
        time: f64,
        scale: f64,
        roi: OfxRectD,
    ) -> (OfxStatus, Vec<(String, OfxRectD)>) {
        let inputs = self.input_clips();
        let rect = |r: OfxRectD| [r.x1, r.y1, r.x2, r.y2];
        let i = self.in_args(kOfxImageEffectActionGetRegionsOfInterest);
        Def::new(&i.props)
            .ro()
            .dbl1(kOfxPropTime, time)
            .dbl_n(kOfxImageEffectPropRenderScale, &[scale, scale])
            .dbl_n(kOfxImageEffectPropRegionOfInterest, &rect(roi));
        let o = self.out_args(kOfxImageEffectActionGetRegionsOfInterest);
        {
            let mut d = Def::new(&o.props);
            for c in &inputs {
                d.dbl_n(
                    &clip_key(PROMPTREEL_OFX_CLIP_ROI_PREFIX, &c.name),
                    &rect(roi),
                );
            }
        }
        let status = self.call(
            kOfxImageEffectActionGetRegionsOfInterest,
            Some(&i),
            Some(&o),
        );
        let regions = if succeeded(status) {
            inputs
                .iter()
                .map(|c| {
                    let key = clip_key(PROMPTREEL_OFX_CLIP_ROI_PREFIX, &c.name);
                    let v = match o.props.doubles(&key) {
                        Some(v) if status == kOfxStatOK && v.len() == 4 => v,
                        _ => rect(roi).to_vec(),
                    };
                    let r = OfxRectD {
                        x1: v[0],
                        y1: v[1],
                        x2: v[2],
                        y2: v[3],
                    };
                    (c.name.clone(), r)
                })
                .collect()
        } else {
            Vec::new()
        };
        (status, regions)
    }
}
