//! Effect instances and the actions sent to them (rendering lives in [`super::render`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ofx_sys::*;

use super::app::HostShared;
use super::effect::{Clip, Context, Effect, EffectKind, Runtime};
use super::ffi::{lock, lossy, status_name};
use super::image::BitDepth;
use super::message::Message;
use super::params::{Param, ParamSet, Storage, Stored, Value};
use super::plugin::{ArgSet, PluginInner, succeeded};
use super::prop_schema::{self, Def};
use super::props::{Access, PropertySet};
use super::registry;
use super::source::Connection;

/// How many rounds of plug-in edits (InstanceChanged causing paramSetValue causing
/// InstanceChanged) the host follows before calling it a loop.
const MAX_EDIT_ROUNDS: usize = 16;

/// What GetClipPreferences produced (after the host applied it).
#[derive(Clone, Debug)]
pub struct ClipPreferences {
    pub status: OfxStatus,
    /// The outArgs as the plug-in left them.
    pub out_args: Arc<PropertySet>,
    pub output_depth: String,
    pub output_components: String,
    pub output_par: f64,
    pub frame_rate: f64,
    pub premultiplication: String,
    pub field_order: String,
    pub continuous_samples: bool,
    pub frame_varying: bool,
}

/// An effect instance.
#[derive(Debug)]
pub struct Instance {
    pub plugin: Arc<PluginInner>,
    pub effect: Arc<Effect>,
    pub context: Context,
    /// Serialises renders of instance-safe plug-ins.
    pub render_lock: Mutex<()>,
    destroyed: AtomicBool,
}

impl Instance {
    /// Builds an instance of a described context and sends CreateInstance.
    pub fn create(plugin: &Arc<PluginInner>, context: Context) -> Result<Self, OfxStatus> {
        let host = plugin.host().clone();
        let Some(desc) = plugin.context_descriptor(context) else {
            host.diag.violation(format!(
                "host test: CreateInstance({context:?}) before describing it"
            ));
            return Err(kOfxStatErrValue);
        };
        let lenient = host.config.lenient_properties;
        let props = Arc::new(PropertySet::new(
            format!("effect instance {context:?}"),
            lenient,
            host.diag.clone(),
        ));
        props.copy_from(&desc.props, Access::ReadOnly);
        let plugin_handle = plugin.descriptor().map_or(0, |d| Arc::as_ptr(&d) as usize);
        prop_schema::effect_instance(&props, context, &host.config, plugin_handle);
        let runtime = Arc::new(Runtime::new(host.clone()));
        runtime.temporal_access.store(
            props
                .int(kOfxImageEffectPropTemporalClipAccess)
                .unwrap_or(0)
                != 0,
            Ordering::SeqCst,
        );
        let params = ParamSet::instantiate(&desc.params, props.clone(), lenient, &runtime);
        let effect = Effect::register(
            EffectKind::Instance(context),
            props,
            params,
            host.clone(),
            runtime.clone(),
        );
        let depth = default_depth(&host, &desc);
        for d in lock(&desc.clips).iter() {
            let clip_props = Arc::new(PropertySet::new(
                format!("clip instance {}", d.name),
                lenient,
                host.diag.clone(),
            ));
            clip_props.copy_from(&d.props, Access::ReadOnly);
            let connected = d.name == lossy(kOfxImageEffectOutputClipName);
            prop_schema::clip_instance(&clip_props, connected, &host.config, depth.as_str());
            effect.add_clip(Arc::new(Clip::new(
                d.name.clone(),
                clip_props,
                true,
                runtime.clone(),
            )));
        }
        let instance = Self {
            plugin: plugin.clone(),
            effect,
            context,
            render_lock: Mutex::default(),
            destroyed: AtomicBool::new(false),
        };
        let status = instance.call(kOfxActionCreateInstance, None, None);
        if status != kOfxStatOK {
            if status != kOfxStatReplyDefault {
                instance.destroyed.store(true, Ordering::SeqCst);
                instance.effect.retire();
                return Err(status);
            }
            host.diag.violation(
                "CreateInstance answered ReplyDefault; some hosts treat that as failure",
            );
        }
        instance.deliver_plugin_edits();
        Ok(instance)
    }

    /// The host.
    pub fn host(&self) -> &Arc<HostShared> {
        &self.effect.host
    }

    /// The instance's state.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.effect.runtime
    }

    /// The instance's property set.
    pub fn props(&self) -> &Arc<PropertySet> {
        &self.effect.props
    }

    /// A clip of the instance.
    pub fn clip(&self, name: &str) -> Option<Arc<Clip>> {
        self.effect.clip(name)
    }

    /// Sends an action with this instance's handle.
    pub fn call(
        &self,
        action: &std::ffi::CStr,
        i: Option<&ArgSet>,
        o: Option<&ArgSet>,
    ) -> OfxStatus {
        self.plugin.call(action, self.effect.handle().cast(), i, o)
    }

    /// New inArgs for an action.
    pub fn in_args(&self, action: &std::ffi::CStr) -> ArgSet {
        ArgSet::new(prop_schema::in_args(action, self.host().diag.clone()))
    }

    /// New outArgs for an action.
    pub fn out_args(&self, action: &std::ffi::CStr) -> ArgSet {
        ArgSet::new(prop_schema::out_args(action, self.host().diag.clone()))
    }

    // -----------------------------------------------------------------------------------------
    // Parameters
    // -----------------------------------------------------------------------------------------

    /// A parameter of the instance.
    pub fn param_handle(&self, name: &str) -> Option<Arc<Param>> {
        self.effect.params.get(name)
    }

    /// A parameter's current value.
    pub fn param(&self, name: &str) -> Option<Value> {
        self.param_handle(name)?.value()
    }

    /// A string parameter's current value ("" if missing or not a string).
    pub fn param_str(&self, name: &str) -> String {
        self.param(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Stores a value as the user would, without notifying the plug-in.
    ///
    /// # Panics
    /// If the parameter does not exist or the value does not fit its type (a test bug).
    pub fn store_param(&self, name: &str, value: &Value) {
        let param = self
            .param_handle(name)
            .unwrap_or_else(|| panic!("the instance has no parameter {name}"));
        let stored = Stored::from_value(value, param.ty.storage()).unwrap_or_else(|| {
            panic!(
                "parameter {name} is a {:?}; cannot take {value:?}",
                param.ty
            )
        });
        lock(&param.state).set(stored);
    }

    /// Sets one parameter as the user would and sends the InstanceChanged bracket.
    pub fn set_param(&self, name: &str, value: Value) -> OfxStatus {
        self.set_params(&[(name, value)])
    }

    /// Sets several parameters (like a preset load) inside one Begin/EndInstanceChanged.
    pub fn set_params(&self, values: &[(&str, Value)]) -> OfxStatus {
        for (name, value) in values {
            self.store_param(name, value);
        }
        let names: Vec<String> = values.iter().map(|(n, _)| (*n).to_owned()).collect();
        let status = self.notify(&names, kOfxChangeUserEdited);
        self.deliver_plugin_edits();
        status
    }

    /// Presses a push button.
    pub fn press(&self, name: &str) -> OfxStatus {
        let param = self
            .param_handle(name)
            .unwrap_or_else(|| panic!("the instance has no parameter {name}"));
        assert_eq!(
            param.ty.storage(),
            Storage::Nothing,
            "{name} is not a button"
        );
        let status = self.notify(&[name.to_owned()], kOfxChangeUserEdited);
        self.deliver_plugin_edits();
        status
    }

    /// Begin/EndInstanceChanged around one InstanceChanged per parameter name. Returns the
    /// first InstanceChanged status that is neither OK nor ReplyDefault, else the last one.
    pub fn notify(&self, names: &[String], reason: &std::ffi::CStr) -> OfxStatus {
        self.notify_changes(kOfxTypeParameter, names, reason)
    }

    /// As [`Instance::notify`], for things of `kind` (`kOfxTypeParameter`, `kOfxTypeClip`).
    pub fn notify_changes(
        &self,
        kind: &std::ffi::CStr,
        names: &[String],
        reason: &std::ffi::CStr,
    ) -> OfxStatus {
        let kind = kind.to_str().expect("ASCII");
        let reason_str = reason.to_str().expect("ASCII");
        let bracket = |action: &std::ffi::CStr| {
            let args = self.in_args(action);
            Def::new(&args.props)
                .ro()
                .str1(kOfxPropChangeReason, reason_str);
            let status = self.call(action, Some(&args), None);
            if !succeeded(status) {
                self.host().diag.violation(format!(
                    "{} answered {}",
                    lossy(action),
                    status_name(status)
                ));
            }
        };
        bracket(kOfxActionBeginInstanceChanged);
        let time = *lock(&self.runtime().time);
        let mut result = kOfxStatReplyDefault;
        for name in names {
            let args = self.in_args(kOfxActionInstanceChanged);
            Def::new(&args.props)
                .ro()
                .str1(kOfxPropType, kind)
                .str1(kOfxPropName, name)
                .str1(kOfxPropChangeReason, reason_str)
                .dbl1(kOfxPropTime, time)
                .dbl_n(kOfxImageEffectPropRenderScale, &[1.0, 1.0]);
            let status = self.call(kOfxActionInstanceChanged, Some(&args), None);
            if succeeded(result) {
                result = status;
            }
        }
        bracket(kOfxActionEndInstanceChanged);
        result
    }

    /// Sends InstanceChanged ("plugin edited") for parameters the plug-in set, round after
    /// round, as interactive hosts do.
    pub fn deliver_plugin_edits(&self) {
        if !self.host().config.notify_plugin_edits {
            lock(&self.runtime().pending_edits).clear();
            return;
        }
        for _ in 0..MAX_EDIT_ROUNDS {
            let mut names = std::mem::take(&mut *lock(&self.runtime().pending_edits));
            if names.is_empty() {
                return;
            }
            names.dedup();
            self.notify(&names, kOfxChangePluginEdited);
        }
        self.host().diag.violation(format!(
            "plug-in edits still pending after {MAX_EDIT_ROUNDS} InstanceChanged rounds: \
             a set-value loop"
        ));
        lock(&self.runtime().pending_edits).clear();
    }

    // -----------------------------------------------------------------------------------------
    // Other actions
    // -----------------------------------------------------------------------------------------

    /// Sends GetClipPreferences and applies the answer to the clips.
    pub fn clip_preferences(&self) -> ClipPreferences {
        let config = &self.host().config;
        let out = self.out_args(kOfxImageEffectActionGetClipPreferences);
        let clips: Vec<Arc<Clip>> = lock(&self.effect.clips).clone();
        let output = self.clip(&lossy(kOfxImageEffectOutputClipName));
        let clip_str = |c: &Clip, p| c.props.str(p).unwrap_or_default();
        {
            let mut d = Def::new(&out.props);
            for c in &clips {
                let key = |prefix: &std::ffi::CStr| {
                    std::ffi::CString::new(format!("{}{}", lossy(prefix), c.name)).expect("no NUL")
                };
                // A connected input starts from the depth the host maps its source to, not
                // from what an earlier answer remapped it to.
                let depth = match c.connection() {
                    Some(source) if !c.is_output() => self.mapped_depth(&source),
                    _ => clip_str(c, kOfxImageEffectPropPixelDepth),
                };
                d.str1(
                    &key(PROMPTREEL_OFX_CLIP_COMPONENTS_PREFIX),
                    &clip_str(c, kOfxImageEffectPropComponents),
                )
                .str1(&key(PROMPTREEL_OFX_CLIP_DEPTH_PREFIX), &depth)
                .dbl1(
                    &key(PROMPTREEL_OFX_CLIP_PAR_PREFIX),
                    c.props.double(kOfxImagePropPixelAspectRatio).unwrap_or(1.0),
                );
            }
            let premult = output
                .as_ref()
                .map(|c| clip_str(c, kOfxImageEffectPropPreMultiplication))
                .unwrap_or_default();
            d.dbl1(kOfxImageEffectPropFrameRate, config.project.frame_rate)
                .str1(
                    kOfxImageClipPropFieldOrder,
                    kOfxImageFieldNone.to_str().expect("ASCII"),
                )
                .str1(kOfxImageEffectPropPreMultiplication, &premult)
                .int1(kOfxImageClipPropContinuousSamples, 0)
                .int1(kOfxImageEffectFrameVarying, 0);
        }
        let status = self.call(kOfxImageEffectActionGetClipPreferences, None, Some(&out));
        let o = &out.props;
        if succeeded(status) {
            for c in &clips {
                self.apply_clip_preference(c, o);
            }
            if let Some(c) = &output {
                for name in [
                    kOfxImageEffectPropPreMultiplication,
                    kOfxImageClipPropFieldOrder,
                ] {
                    c.props
                        .host_set_strs(name, &[&o.str(name).unwrap_or_default()]);
                }
                c.props.host_set_doubles(
                    kOfxImageEffectPropFrameRate,
                    &[o.double(kOfxImageEffectPropFrameRate).unwrap_or(0.0)],
                );
                c.props.host_set_ints(
                    kOfxImageClipPropContinuousSamples,
                    &[o.int(kOfxImageClipPropContinuousSamples).unwrap_or(0)],
                );
            }
        }
        let out_str = |p| output.as_ref().map(|c| clip_str(c, p)).unwrap_or_default();
        ClipPreferences {
            status,
            output_depth: out_str(kOfxImageEffectPropPixelDepth),
            output_components: out_str(kOfxImageEffectPropComponents),
            output_par: output
                .as_ref()
                .and_then(|c| c.props.double(kOfxImagePropPixelAspectRatio))
                .unwrap_or(1.0),
            frame_rate: o.double(kOfxImageEffectPropFrameRate).unwrap_or(0.0),
            premultiplication: o
                .str(kOfxImageEffectPropPreMultiplication)
                .unwrap_or_default(),
            field_order: o.str(kOfxImageClipPropFieldOrder).unwrap_or_default(),
            continuous_samples: o.int(kOfxImageClipPropContinuousSamples).unwrap_or(0) != 0,
            frame_varying: o.int(kOfxImageEffectFrameVarying).unwrap_or(0) != 0,
            out_args: out.props.clone(),
        }
    }

    /// Applies one clip's depth, components and PAR from clip-preference outArgs, refusing
    /// depths or components the host or plug-in does not support.
    fn apply_clip_preference(&self, clip: &Clip, out: &PropertySet) {
        let key = |prefix: &std::ffi::CStr| {
            std::ffi::CString::new(format!("{}{}", lossy(prefix), clip.name)).expect("no NUL")
        };
        let diag = &self.host().diag;
        if let Some(depth) = out.str(&key(PROMPTREEL_OFX_CLIP_DEPTH_PREFIX)) {
            let supported =
                BitDepth::from_name(&depth).is_some_and(|d| self.host().config.depths.contains(&d));
            if supported {
                clip.props
                    .host_set_strs(kOfxImageEffectPropPixelDepth, &[&depth]);
            } else {
                diag.violation(format!(
                    "clip preferences asked for depth {depth} on {}",
                    clip.name
                ));
            }
        }
        if let Some(components) = out.str(&key(PROMPTREEL_OFX_CLIP_COMPONENTS_PREFIX)) {
            if components == lossy(kOfxImageComponentRGBA) {
                clip.props
                    .host_set_strs(kOfxImageEffectPropComponents, &[&components]);
            } else {
                diag.violation(format!(
                    "clip preferences asked for components {components} on {}",
                    clip.name
                ));
            }
        }
        if let Some(par) = out.double(&key(PROMPTREEL_OFX_CLIP_PAR_PREFIX)) {
            let current = clip
                .props
                .double(kOfxImagePropPixelAspectRatio)
                .unwrap_or(1.0);
            // NOTE: this host does not advertise kOfxImageEffectPropSupportsMultipleClipPARs,
            // so an input clip keeps its footage's PAR.
            if clip.is_output() {
                clip.props
                    .host_set_doubles(kOfxImagePropPixelAspectRatio, &[par]);
            } else if (par - current).abs() > 1e-9 {
                diag.violation(format!(
                    "clip preferences asked for PAR {par} on input {} (PAR {current}) on a \
                     host without multiple clip PARs",
                    clip.name
                ));
            }
        }
    }

    /// The depth the host gives a connected source before clip preferences: its own when the
    /// plug-in supports it and mixed clip depths, else the Output clip's (or the host's
    /// preferred supported) depth.
    pub(super) fn mapped_depth(&self, source: &Connection) -> String {
        let props = self.props();
        let own = lossy(source.depth.as_cstr());
        let supported = props
            .strs(kOfxImageEffectPropSupportedPixelDepths)
            .unwrap_or_default();
        let multiple = props
            .int(kOfxImageEffectPropSupportsMultipleClipDepths)
            .unwrap_or(0)
            != 0;
        let host_ok = self.host().config.depths.contains(&source.depth);
        if multiple && host_ok && supported.contains(&own) {
            return own;
        }
        self.output_depth()
            .map(|d| lossy(d.as_cstr()))
            .unwrap_or_else(|| default_depth(self.host(), &self.effect))
    }

    /// Chooses the Output clip's depth (as a project setting would) and re-asks clip
    /// preferences.
    pub fn set_output_depth(&self, depth: BitDepth) -> ClipPreferences {
        let output = self
            .clip(&lossy(kOfxImageEffectOutputClipName))
            .expect("an Output clip");
        let name = depth.as_cstr().to_str().expect("ASCII");
        for p in [
            kOfxImageEffectPropPixelDepth,
            kOfxImageClipPropUnmappedPixelDepth,
        ] {
            output.props.host_set_strs(p, &[name]);
        }
        self.clip_preferences()
    }

    /// The Output clip's current depth.
    pub fn output_depth(&self) -> Option<BitDepth> {
        let output = self.clip(&lossy(kOfxImageEffectOutputClipName))?;
        BitDepth::from_name(&output.props.str(kOfxImageEffectPropPixelDepth)?)
    }

    /// Sends GetTimeDomain (the specification asks it in the General context only).
    pub fn time_domain(&self) -> (OfxStatus, [f64; 2]) {
        let d = self.host().config.project.duration;
        let out = self.out_args(kOfxImageEffectActionGetTimeDomain);
        Def::new(&out.props).dbl_n(kOfxImageEffectPropFrameRange, &[0.0, (d - 1.0).max(0.0)]);
        let status = self.call(kOfxImageEffectActionGetTimeDomain, None, Some(&out));
        let r = out
            .props
            .doubles(kOfxImageEffectPropFrameRange)
            .unwrap_or_default();
        (
            status,
            [
                r.first().copied().unwrap_or(0.0),
                r.get(1).copied().unwrap_or(0.0),
            ],
        )
    }

    /// Sends GetRegionOfDefinition. The outArgs start at the context's default, which is also
    /// the answer when the plug-in replies default: the union of the connected inputs'
    /// regions (the Source's, for a filter), or the project extent without inputs.
    pub fn region_of_definition(&self, time: f64, scale: f64) -> (OfxStatus, OfxRectD) {
        let p = &self.host().config.project;
        let i = self.in_args(kOfxImageEffectActionGetRegionOfDefinition);
        Def::new(&i.props)
            .ro()
            .dbl1(kOfxPropTime, time)
            .dbl_n(kOfxImageEffectPropRenderScale, &[scale, scale]);
        let default = self.default_region_of_definition(time).unwrap_or(OfxRectD {
            x1: 0.0,
            y1: 0.0,
            x2: p.width,
            y2: p.height,
        });
        let o = self.out_args(kOfxImageEffectActionGetRegionOfDefinition);
        Def::new(&o.props).dbl_n(
            kOfxImageEffectPropRegionOfDefinition,
            &[default.x1, default.y1, default.x2, default.y2],
        );
        let status = self.call(
            kOfxImageEffectActionGetRegionOfDefinition,
            Some(&i),
            Some(&o),
        );
        let v = o
            .props
            .doubles(kOfxImageEffectPropRegionOfDefinition)
            .unwrap_or_default();
        let rect = if status == kOfxStatReplyDefault {
            default
        } else {
            OfxRectD {
                x1: v[0],
                y1: v[1],
                x2: v[2],
                y2: v[3],
            }
        };
        if succeeded(status) {
            *lock(&self.runtime().rod) = Some(rect);
        }
        (status, rect)
    }

    /// Sends IsIdentity; returns the status, the clip to pass through and its time.
    pub fn is_identity(&self, time: f64, window: OfxRectI) -> (OfxStatus, String, f64) {
        let i = self.in_args(kOfxImageEffectActionIsIdentity);
        Def::new(&i.props)
            .ro()
            .dbl1(kOfxPropTime, time)
            .str1(
                kOfxImageEffectPropFieldToRender,
                kOfxImageFieldNone.to_str().expect("ASCII"),
            )
            .int_n(
                kOfxImageEffectPropRenderWindow,
                &[window.x1, window.y1, window.x2, window.y2],
            )
            .dbl_n(kOfxImageEffectPropRenderScale, &[1.0, 1.0]);
        let o = self.out_args(kOfxImageEffectActionIsIdentity);
        Def::new(&o.props)
            .str1(kOfxPropName, "")
            .dbl1(kOfxPropTime, time);
        let status = self.call(kOfxImageEffectActionIsIdentity, Some(&i), Some(&o));
        (
            status,
            o.props.str(kOfxPropName).unwrap_or_default(),
            o.props.double(kOfxPropTime).unwrap_or(time),
        )
    }

    /// Sends PurgeCaches.
    pub fn purge_caches(&self) -> OfxStatus {
        self.call(kOfxActionPurgeCaches, None, None)
    }

    /// Sends SyncPrivateData.
    pub fn sync_private_data(&self) -> OfxStatus {
        self.call(kOfxActionSyncPrivateData, None, None)
    }

    /// Moves the time line (as the user would; the plug-in is not told).
    pub fn set_time(&self, time: f64) {
        *lock(&self.runtime().time) = time;
    }

    /// Raises or lowers the abort flag.
    pub fn set_abort(&self, abort: bool) {
        self.runtime().abort_flag.store(abort, Ordering::SeqCst);
    }

    /// Makes `abort` answer 1 after it was asked `n` more times (None: stop doing that).
    pub fn abort_after_checks(&self, n: Option<usize>) {
        let runtime = self.runtime();
        let base = runtime.abort_checks.load(Ordering::SeqCst);
        *lock(&runtime.abort_after_checks) = n.map(|n| base + n);
    }

    /// How often the plug-in asked `abort`.
    pub fn abort_checks(&self) -> usize {
        self.runtime().abort_checks.load(Ordering::SeqCst)
    }

    /// The persistent message currently set on the instance.
    pub fn persistent_message(&self) -> Option<Message> {
        lock(&self.runtime().persistent).clone()
    }

    /// Sends DestroyInstance and retires the instance's handles.
    pub fn destroy(self) -> OfxStatus {
        self.destroy_once()
    }

    fn destroy_once(&self) -> OfxStatus {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return kOfxStatOK;
        }
        let status = self.call(kOfxActionDestroyInstance, None, None);
        let leaked = std::mem::take(&mut *lock(&self.runtime().open_images));
        if !leaked.is_empty() {
            self.host().diag.violation(format!(
                "instance destroyed with {} image(s) not released",
                leaked.len()
            ));
            for (handle, _) in &leaked {
                registry::retire(*handle);
            }
        }
        self.effect.retire();
        status
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.destroy_once();
    }
}

/// The host's preferred depth among those the plug-in supports.
pub(super) fn default_depth(host: &HostShared, desc: &Effect) -> String {
    let plugin: Vec<String> = desc
        .props
        .strs(kOfxImageEffectPropSupportedPixelDepths)
        .unwrap_or_default();
    host.config
        .depths
        .iter()
        .map(|d| d.as_cstr().to_str().expect("ASCII").to_owned())
        .find(|d| plugin.contains(d))
        .or_else(|| host.config.depths.first().map(|d| lossy(d.as_cstr())))
        .unwrap_or_else(|| lossy(kOfxBitDepthFloat))
}
