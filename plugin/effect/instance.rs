//! Instances: creation, destruction, and reacting to parameter changes (Generate, New seed).

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use promptreel_engine::{Observer, Progress as EngineProgress};

use super::generate::{self, Plan};
use super::params as p;
use super::render;
use crate::cache::Origin;
use crate::ofx::{EffectHandle, MessageKind, OfxResult, Progress, PropertySet, Status, sys};

/// Per-instance state (the instance-data pointer holds an `Arc<Instance>`).
#[derive(Debug, Default)]
pub struct Instance {
    /// Set while a Generate press is running, so a second press is ignored.
    pub generating: AtomicBool,
    /// Set while one of this instance's threads has a progress bar open.
    pub progress_open: AtomicBool,
}

/// CreateInstance: attach our state. Always returns OK (some hosts treat "reply default" as
/// "not created").
pub fn create(effect: &EffectHandle) -> OfxResult<Status> {
    let data = Arc::into_raw(Arc::new(Instance::default())) as *mut c_void;
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

/// InstanceChanged: the two buttons.
pub fn changed(effect: &EffectHandle, in_args: Option<&PropertySet>) -> OfxResult<Status> {
    let Some(args) = in_args else {
        return Ok(Status::ReplyDefault);
    };
    if args.get_string(sys::kOfxPropType, 0)? != sys::kOfxTypeParameter.to_string_lossy() {
        return Ok(Status::ReplyDefault);
    }
    let name = args.get_string(sys::kOfxPropName, 0)?;
    let time = args.get_double(sys::kOfxPropTime, 0).unwrap_or(0.0);
    if name == p::NEW_SEED.name {
        let params = effect.params()?;
        params.get(p::SEED.name)?.set_int(fresh_seed())?;
        return Ok(Status::Ok);
    }
    if name == p::GENERATE.name {
        return press_generate(effect, time);
    }
    if [p::FRAMES.name, p::RESOLUTION.name, p::MODEL.name].contains(&name.as_str()) {
        // Say at once when the model will make another frame count or size than asked.
        if let Ok(plan) = render::values_at(effect, time).and_then(|v| generate::plan(&v))
            && !plan.notes.is_empty()
        {
            set_status(effect, &plan.notes.join("; "));
        }
        return Ok(Status::Ok);
    }
    Ok(Status::ReplyDefault)
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
fn press_generate(effect: &EffectHandle, time: f64) -> OfxResult<Status> {
    let instance = state(effect);
    if let Some(i) = &instance
        && i.generating.swap(true, Ordering::SeqCst)
    {
        return Ok(Status::Ok);
    }
    let result = (|| -> OfxResult<(Plan, Origin, String)> {
        let values = render::values_at(effect, time)?;
        let plan = generate::plan(&values)?;
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
