//! Instances: creation, destruction, and reacting to changes (Generate, New seed, the Status
//! line as settings or the Source change).

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use promptreel_engine::{Observer, Progress as EngineProgress};

use parking_lot::Mutex;

use super::generate::{self, Plan};
use super::params as p;
use super::source::{self, HashMemo};
use super::{EffectKind, SOURCE_CLIP, render};
use crate::cache::{Origin, Peek};
use crate::ofx::{EffectHandle, MessageKind, OfxResult, Progress, PropertySet, Status, sys};

/// Per-instance state (the instance-data pointer holds an `Arc<Instance>`).
#[derive(Debug)]
pub struct Instance {
    /// Which effect this is an instance of.
    pub kind: EffectKind,
    /// Set while a Generate press is running, so a second press is ignored.
    pub generating: AtomicBool,
    /// Set while one of this instance's threads has a progress bar open.
    pub progress_open: AtomicBool,
    /// Video to Video: Source frame hashes by image unique identifier (see `source`).
    pub source_hashes: Mutex<HashMemo>,
}

impl Instance {
    pub fn new(kind: EffectKind) -> Self {
        Self {
            kind,
            generating: AtomicBool::new(false),
            progress_open: AtomicBool::new(false),
            source_hashes: Mutex::new(HashMemo::new()),
        }
    }
}

/// CreateInstance: attach our state. Always returns OK (some hosts treat "reply default" as
/// "not created").
pub fn create(effect: &EffectHandle, kind: EffectKind) -> OfxResult<Status> {
    let data = Arc::into_raw(Arc::new(Instance::new(kind))) as *mut c_void;
    effect.set_instance_data(data)?;
    Ok(Status::Ok)
}

/// DestroyInstance: release our state.
pub fn destroy(effect: &EffectHandle) -> OfxResult<Status> {
    let ptr = effect.instance_data()?;
    if !ptr.is_null() {
        // NOTE: the pointer came from Arc::into_raw in `create`; we clear it first so a
        // confused host cannot make us free it twice.
        effect.set_instance_data(std::ptr::null_mut())?;
        crate::instance_data::release(ptr);
    }
    Ok(Status::Ok)
}

/// The instance's state, if the host kept our pointer.
pub fn state(effect: &EffectHandle) -> Option<Arc<Instance>> {
    let ptr = effect.instance_data().ok()?;
    crate::instance_data::borrow(ptr)
}

/// InstanceChanged: the two buttons, and the Status line when the clip's settings (or Video to
/// Video's Source) change.
pub fn changed(
    effect: &EffectHandle,
    in_args: Option<&PropertySet>,
    kind: EffectKind,
) -> OfxResult<Status> {
    let Some(args) = in_args else {
        return Ok(Status::ReplyDefault);
    };
    let what = args.get_string(sys::kOfxPropType, 0)?;
    let name = args.get_string(sys::kOfxPropName, 0)?;
    let time = args.get_double(sys::kOfxPropTime, 0).unwrap_or(0.0);
    if what == sys::kOfxTypeClip.to_string_lossy() {
        if kind.reads_source() && name == SOURCE_CLIP.to_string_lossy() {
            set_status(effect, &clip_state(effect, time, kind));
            return Ok(Status::Ok);
        }
        return Ok(Status::ReplyDefault);
    }
    if what != sys::kOfxTypeParameter.to_string_lossy() {
        return Ok(Status::ReplyDefault);
    }
    if name == p::NEW_SEED.name {
        let params = effect.params()?;
        params.get(p::SEED.name)?.set_int(fresh_seed())?;
        return Ok(Status::Ok);
    }
    if name == p::GENERATE.name {
        return press_generate(effect, time, kind);
    }
    let affects = AFFECTS_CLIP.iter().any(|m| m.name == name)
        || (kind.reads_source() && AFFECTS_VIDEO_CLIP.iter().any(|m| m.name == name));
    if affects {
        // Say at once whether the clip these settings make exists, whether a render would
        // generate it, and when the model will make another frame count or size than asked.
        set_status(effect, &clip_state(effect, time, kind));
        return Ok(Status::Ok);
    }
    Ok(Status::ReplyDefault)
}

/// Video to Video's parameters that change its clip: its own, and those that change how the
/// Source is read (fitted, encoded).
const AFFECTS_VIDEO_CLIP: &[&p::Meta] = &[&p::MODE, &p::STRENGTH, &p::FIT, &p::COLOUR];

/// Parameters whose change can change the clip, or whether a render generates it (Server: or
/// whether it can; see `clip_state`).
const AFFECTS_CLIP: &[&p::Meta] = &[
    &p::PROMPT,
    &p::NEGATIVE,
    &p::SEED,
    &p::STEPS,
    &p::GUIDANCE,
    &p::GUIDANCE_2,
    &p::SCHEDULER,
    &p::FRAMES,
    &p::RESOLUTION,
    &p::MODEL,
    &p::DEVICE,
    &p::SERVER,
    &p::ON_RENDER,
];

/// The Status line for the settings at `time` before anything is generated: the clip's
/// summary when it is in memory, that it is in the disk cache, or that it is not generated
/// and whether a render would generate it (Generate on render); then the plan's notes. A
/// setting the model cannot use, or a Server address a generation could not use, gives its
/// error.
fn clip_state(effect: &EffectHandle, time: f64, kind: EffectKind) -> String {
    let planned = render::values_at(effect, time, kind)
        .and_then(|v| generate::plan(&v))
        .and_then(|mut plan| {
            if kind.reads_source() {
                source::bind(effect, &mut plan, time, false, false)?;
            }
            Ok(plan)
        });
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => return e.message,
    };
    let notes: String = plan.notes.iter().map(|n| format!("; {n}")).collect();
    let state = match generate::clip_cache().peek(&plan.key) {
        Peek::Memory(clip) => format!("{} (from cache)", clip.summary),
        Peek::Disk => "Generated (in the disk cache)".to_string(),
        // A generation would stop at once (Remote server without a usable address): say so
        // now. A cached clip renders whatever the device, so only a missing one concerns it.
        Peek::Missing => match generate::session_options(&plan.values) {
            Err(e) => e.message,
            Ok(_) => {
                let decision = generate::on_render_decision(&plan, false);
                if decision.generate {
                    format!(
                        "Not generated yet: rendering a frame generates it ({})",
                        decision.why
                    )
                } else {
                    format!("{} ({})", render::NOT_GENERATED, decision.why)
                }
            }
        },
    };
    format!("{state}{notes}")
}

/// A seed from the clock, in the Seed parameter's range.
fn fresh_seed() -> i32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // The engine's SplitMix64 stream spreads consecutive clock values over the whole range.
    let z = promptreel_engine::noise::SeededNoise::new(nanos).next_u64();
    ((z & 0x7fff_ffff) as i32) % p::SEED_RANGE.3.max(1)
}

/// Reports engine progress to the host's progress bar and turns its cancel button into ours.
///
/// The bar starts with the first progress report, so a render served from the cache opens no
/// progress session at all, and at most one bar per instance is open at a time: render threads
/// run concurrently, and hosts keep one progress session per instance (a second `progressStart`
/// before `progressEnd` is a protocol error).
pub struct HostProgress {
    effect: EffectHandle,
    label: String,
    /// The instance whose progress slot this observer holds while its bar is open.
    instance: Option<Arc<Instance>>,
    bar: Option<Progress>,
    tried: bool,
    cancelled: bool,
    watch_abort: bool,
}

impl HostProgress {
    /// An observer whose bar opens when the engine first reports progress; for renders
    /// (`watch_abort`), the host's abort flag cancels the generation.
    pub fn new(effect: &EffectHandle, label: &str, watch_abort: bool) -> Self {
        Self {
            effect: effect.clone(),
            label: label.to_string(),
            instance: None,
            bar: None,
            tried: false,
            cancelled: false,
            watch_abort,
        }
    }

    /// Opens the bar once, if no other thread of this instance has one open.
    fn open_bar(&mut self) {
        self.tried = true;
        let instance = state(&self.effect);
        if let Some(i) = &instance
            && i.progress_open.swap(true, Ordering::SeqCst)
        {
            return;
        }
        self.bar =
            self.effect
                .host()
                .start_progress(&self.effect, &self.label, "promptreel.generate");
        match (&self.bar, instance) {
            (Some(_), Some(i)) => self.instance = Some(i),
            (None, Some(i)) => i.progress_open.store(false, Ordering::SeqCst),
            _ => {}
        }
    }
}

impl Drop for HostProgress {
    fn drop(&mut self) {
        // End the bar before freeing the slot, so the next bar starts after this one ended.
        drop(self.bar.take());
        if let Some(i) = self.instance.take() {
            i.progress_open.store(false, Ordering::SeqCst);
        }
    }
}

impl Observer for HostProgress {
    fn progress(&mut self, progress: &EngineProgress) {
        if !self.tried {
            self.open_bar();
        }
        if let Some(bar) = self.bar.as_mut()
            && !bar.update(f64::from(progress.fraction))
        {
            self.cancelled = true;
        }
    }

    fn should_cancel(&mut self) -> bool {
        if self.watch_abort && self.effect.abort_requested() {
            self.cancelled = true;
        }
        self.cancelled
    }
}

fn set_status(effect: &EffectHandle, text: &str) {
    if let Ok(params) = effect.params()
        && let Ok(status) = params.get(p::STATUS.name)
    {
        let _ = status.set_string(text);
    }
}

/// The Generate button: generate now with a progress bar; report in the Status line.
fn press_generate(effect: &EffectHandle, time: f64, kind: EffectKind) -> OfxResult<Status> {
    let instance = state(effect);
    if let Some(i) = &instance
        && i.generating.swap(true, Ordering::SeqCst)
    {
        return Ok(Status::Ok);
    }
    let result = (|| -> OfxResult<(Plan, Origin, String)> {
        let values = render::values_at(effect, time, kind)?;
        let mut plan = generate::plan(&values)?;
        if kind.reads_source() {
            // The frames a generation needs: read once more only when the clip is not in the
            // cache and the first read hashed frames it remembered without converting them.
            source::bind(effect, &mut plan, time, false, false)?;
            if generate::cached(&plan).is_none() && !source::has_frames(&plan) {
                source::bind(effect, &mut plan, time, false, true)?;
            }
        }
        let mut observer = HostProgress::new(effect, "Promptreel: generating", false);
        let (clip, origin) = generate::obtain(&plan, &mut observer)?;
        Ok((plan, origin, clip.summary.clone()))
    })();
    if let Some(i) = &instance {
        i.generating.store(false, Ordering::SeqCst);
    }
    match result {
        Ok((plan, origin, summary)) => {
            let note = match origin {
                Origin::Generated | Origin::Waited => "",
                Origin::Memory | Origin::Disk => " (from cache)",
            };
            let snapped: String = plan.notes.iter().map(|n| format!("; {n}")).collect();
            set_status(effect, &format!("{summary}{note}{snapped}"));
            effect.host().clear_persistent_message(effect);
            Ok(Status::Ok)
        }
        // The user's own cancel is a choice, not a failure: the Status line says so and no
        // error stays on the node.
        Err(e) if e.cancelled => {
            set_status(effect, generate::CANCELLED);
            effect.host().clear_persistent_message(effect);
            Ok(Status::Ok)
        }
        Err(e) => {
            set_status(effect, &e.message);
            effect
                .host()
                .set_persistent_message(effect, MessageKind::Error, &e.message);
            Err(e)
        }
    }
}
