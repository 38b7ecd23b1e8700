//! Effects (descriptors and instances) and clips, and the per-instance runtime state the
//! suites consult: render targets, abort policy, current time, pending parameter edits.

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use ofx_sys::*;

use super::app::HostShared;
use super::ffi::lock;
use super::image::ImageBuffer;
use super::message::Message;
use super::params::ParamSet;
use super::props::PropertySet;
use super::registry::{self, Object};
use super::source::{Connection, InputFetch};

/// An image effect context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Generator,
    Filter,
    Transition,
    Paint,
    General,
    Retimer,
}

impl Context {
    /// The `kOfxImageEffectContext*` string.
    pub fn as_cstr(self) -> &'static CStr {
        match self {
            Context::Generator => kOfxImageEffectContextGenerator,
            Context::Filter => kOfxImageEffectContextFilter,
            Context::Transition => kOfxImageEffectContextTransition,
            Context::Paint => kOfxImageEffectContextPaint,
            Context::General => kOfxImageEffectContextGeneral,
            Context::Retimer => kOfxImageEffectContextRetimer,
        }
    }

    /// The clips the specification requires a plug-in to define in this context.
    pub fn mandated_clips(self) -> &'static [&'static str] {
        match self {
            Context::Generator | Context::General => &["Output"],
            Context::Filter | Context::Retimer => &["Source", "Output"],
            Context::Transition => &["SourceFrom", "SourceTo", "Output"],
            Context::Paint => &["Source", "Brush", "Output"],
        }
    }

    /// Parses a `kOfxImageEffectContext*` string.
    pub fn from_name(name: &str) -> Option<Self> {
        use Context::*;
        [Generator, Filter, Transition, Paint, General, Retimer]
            .into_iter()
            .find(|c| c.as_cstr().to_str() == Ok(name))
    }
}

/// What an effect handle stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EffectKind {
    /// The handle passed to Describe.
    Descriptor,
    /// The handle passed to DescribeInContext for one context.
    ContextDescriptor(Context),
    /// An instance created in a context.
    Instance(Context),
}

/// An image effect handle's object.
#[derive(Debug)]
pub struct Effect {
    pub kind: EffectKind,
    pub props: Arc<PropertySet>,
    pub params: Arc<ParamSet>,
    /// Clips in definition order.
    pub clips: Mutex<Vec<Arc<Clip>>>,
    pub host: Arc<HostShared>,
    pub runtime: Arc<Runtime>,
}

impl Effect {
    /// A new effect with no clips, registered together with its sets.
    pub fn register(
        kind: EffectKind,
        props: Arc<PropertySet>,
        params: Arc<ParamSet>,
        host: Arc<HostShared>,
        runtime: Arc<Runtime>,
    ) -> Arc<Self> {
        let effect = Arc::new(Self {
            kind,
            props: props.clone(),
            params: params.clone(),
            clips: Mutex::default(),
            host,
            runtime,
        });
        registry::register(Object::Props(props));
        registry::register(Object::ParamSet(params));
        registry::register(Object::Effect(effect.clone()));
        effect
    }

    /// The handle given to the plug-in.
    pub fn handle(self: &Arc<Self>) -> OfxImageEffectHandle {
        Arc::as_ptr(self).cast_mut().cast()
    }

    /// The clip named `name`.
    pub fn clip(&self, name: &str) -> Option<Arc<Clip>> {
        lock(&self.clips).iter().find(|c| c.name == name).cloned()
    }

    /// Adds a clip and registers it.
    pub fn add_clip(&self, clip: Arc<Clip>) {
        registry::register(Object::Props(clip.props.clone()));
        registry::register(Object::Clip(clip.clone()));
        lock(&self.clips).push(clip);
    }

    /// Whether this is an instance.
    pub fn is_instance(&self) -> bool {
        matches!(self.kind, EffectKind::Instance(_))
    }

    /// Retires every handle this effect gave out. Objects stay allocated (see the registry).
    pub fn retire(self: &Arc<Self>) {
        for clip in lock(&self.clips).iter() {
            registry::retire(Arc::as_ptr(&clip.props) as usize);
            registry::retire(Arc::as_ptr(clip) as usize);
        }
        self.params.retire();
        registry::retire(Arc::as_ptr(&self.props) as usize);
        registry::retire(Arc::as_ptr(self) as usize);
    }
}

/// A clip handle's object.
#[derive(Debug)]
pub struct Clip {
    pub name: String,
    pub props: Arc<PropertySet>,
    /// Descriptor clips cannot give images.
    pub is_instance: bool,
    /// The owning effect's runtime.
    pub runtime: Arc<Runtime>,
    /// The footage connected to an input clip of an instance.
    pub source: Mutex<Option<Arc<Connection>>>,
}

impl Clip {
    /// A clip with nothing connected to it.
    pub fn new(
        name: String,
        props: Arc<PropertySet>,
        is_instance: bool,
        runtime: Arc<Runtime>,
    ) -> Self {
        Self {
            name,
            props,
            is_instance,
            runtime,
            source: Mutex::default(),
        }
    }

    /// Whether something is connected (the Output clip always is).
    pub fn connected(&self) -> bool {
        self.props.int(kOfxImageClipPropConnected).unwrap_or(0) != 0
    }

    /// Whether this is the Output clip.
    pub fn is_output(&self) -> bool {
        self.name == kOfxImageEffectOutputClipName.to_str().expect("ASCII")
    }

    /// The footage connected to this (input) clip.
    pub fn connection(&self) -> Option<Arc<Connection>> {
        lock(&self.source).clone()
    }

    /// Whether the clip descriptor asked for temporal access.
    pub fn declares_temporal_access(&self) -> bool {
        self.props
            .int(kOfxImageEffectPropTemporalClipAccess)
            .unwrap_or(0)
            != 0
    }
}

/// An output buffer waiting for the plug-in's `clipGetImage` during a render.
#[derive(Debug)]
pub struct RenderTarget {
    pub id: u64,
    pub thread: ThreadId,
    pub time: f64,
    pub render_scale: [f64; 2],
    pub field: &'static CStr,
    pub buffer: Arc<ImageBuffer>,
    /// Pixel bounds of the whole (scaled) region of definition.
    pub rod_pixels: OfxRectI,
}

/// Mutable per-effect state the suites consult.
#[derive(Debug)]
pub struct Runtime {
    pub host: Arc<HostShared>,
    /// Set by the test (or by progress) to make `abort` answer 1.
    pub abort_flag: AtomicBool,
    /// Make `abort` answer 1 once it was asked this many times.
    pub abort_after_checks: Mutex<Option<usize>>,
    /// How often `abort` was asked.
    pub abort_checks: AtomicUsize,
    /// Output buffers of renders in flight.
    pub targets: Mutex<Vec<RenderTarget>>,
    /// Image handles given out and not yet released: (handle, render id).
    pub open_images: Mutex<Vec<(usize, u64)>>,
    /// Number of render actions in flight.
    pub renders_in_flight: AtomicUsize,
    /// The time line's current time.
    pub time: Mutex<f64>,
    /// Parameters the plug-in set, waiting for their InstanceChanged.
    pub pending_edits: Mutex<Vec<String>>,
    /// The persistent message, if any.
    pub persistent: Mutex<Option<Message>>,
    /// The last region of definition the host computed (canonical coordinates).
    pub rod: Mutex<Option<OfxRectD>>,
    /// Every input image handed out, oldest first.
    pub input_fetches: Mutex<Vec<InputFetch>>,
    /// Whether the effect declared `kOfxImageEffectPropTemporalClipAccess` (instances only).
    pub temporal_access: AtomicBool,
}

impl Runtime {
    /// Fresh state: no abort, time 0, nothing in flight.
    pub fn new(host: Arc<HostShared>) -> Self {
        Self {
            host,
            abort_flag: AtomicBool::new(false),
            abort_after_checks: Mutex::default(),
            abort_checks: AtomicUsize::new(0),
            targets: Mutex::default(),
            open_images: Mutex::default(),
            renders_in_flight: AtomicUsize::new(0),
            time: Mutex::new(0.0),
            pending_edits: Mutex::default(),
            persistent: Mutex::default(),
            rod: Mutex::default(),
            input_fetches: Mutex::default(),
            temporal_access: AtomicBool::new(false),
        }
    }

    /// Whether the effect declared temporal clip access.
    pub fn temporal_declared(&self) -> bool {
        self.temporal_access.load(Ordering::SeqCst)
    }

    /// The answer of the suite's `abort`, counting the question.
    pub fn should_abort(&self) -> bool {
        let checks = self.abort_checks.fetch_add(1, Ordering::SeqCst) + 1;
        if lock(&self.abort_after_checks).is_some_and(|limit| checks > limit) {
            return true;
        }
        self.abort_flag.load(Ordering::SeqCst)
    }

    /// Whether a render action is running on this instance.
    pub fn rendering(&self) -> bool {
        self.renders_in_flight.load(Ordering::SeqCst) > 0
    }

    /// Whether the calling thread is inside a render action of this instance (or is a
    /// `multiThread` worker of one).
    pub fn rendering_on_this_thread(&self) -> bool {
        let me = super::multithread::action_thread();
        lock(&self.targets).iter().any(|t| t.thread == me)
    }

    /// The render the calling thread works for: the one started on this thread (or on the
    /// thread whose `multiThread` call spawned it), else the only render in flight. None
    /// outside renders, and when several renders run and the thread belongs to none of them
    /// (a thread the plug-in started itself): (id, time, render scale).
    pub fn current_render(&self) -> Option<(u64, f64, [f64; 2])> {
        let owner = super::multithread::action_thread();
        let targets = lock(&self.targets);
        let target = targets
            .iter()
            .find(|t| t.thread == owner)
            .or_else(|| (targets.len() == 1).then(|| &targets[0]))?;
        Some((target.id, target.time, target.render_scale))
    }
}
