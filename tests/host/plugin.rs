//! One plug-in of a binary, and the actions sent to it before instances exist: Load, Describe,
//! DescribeInContext, Unload.

use std::ffi::{CStr, c_void};
use std::sync::{Arc, Mutex};

use ofx_sys::*;

use super::app::HostShared;
use super::effect::{Context, Effect, EffectKind, Runtime};
use super::ffi::{lock, lossy, status_name};
use super::instance::Instance;
use super::loader::{BinaryInner, HostError};
use super::params::ParamSet;
use super::prop_schema;
use super::props::{Access, PropertySet};
use super::registry::{self, Object};

/// A plug-in's action entry point.
pub type MainEntry = unsafe extern "C" fn(
    *const std::ffi::c_char,
    *const c_void,
    OfxPropertySetHandle,
    OfxPropertySetHandle,
) -> OfxStatus;

/// Statuses an action may answer when it did what was asked.
pub fn succeeded(status: OfxStatus) -> bool {
    status == kOfxStatOK || status == kOfxStatReplyDefault
}

/// Action arguments: a registered property set, retired when dropped.
pub struct ArgSet {
    pub props: Arc<PropertySet>,
}

impl ArgSet {
    /// Registers `props` for the duration of one action.
    pub fn new(props: PropertySet) -> Self {
        let props = Arc::new(props);
        registry::register(Object::Props(props.clone()));
        Self { props }
    }

    /// The handle to pass.
    pub fn handle(&self) -> OfxPropertySetHandle {
        Arc::as_ptr(&self.props).cast_mut().cast()
    }
}

impl Drop for ArgSet {
    fn drop(&mut self) {
        registry::retire(Arc::as_ptr(&self.props) as usize);
    }
}

#[derive(Debug, Default)]
struct PluginState {
    loaded: bool,
    descriptor: Option<Arc<Effect>>,
    contexts: Vec<(Context, Arc<Effect>)>,
}

/// The shared part of a [`Plugin`]; instances keep it (and so the binary) alive.
#[derive(Debug)]
pub struct PluginInner {
    pub binary: Arc<BinaryInner>,
    pub index: usize,
    pub identifier: String,
    pub version: (u32, u32),
    main: MainEntry,
    set_host: unsafe extern "C" fn(*mut OfxHost),
    state: Mutex<PluginState>,
    /// Serialises renders of plug-ins that declare themselves render-unsafe.
    pub render_lock: Mutex<()>,
}

impl PluginInner {
    /// The host.
    pub fn host(&self) -> &Arc<HostShared> {
        &self.binary.host
    }

    /// Sends an action. `handle` may be NULL, as may the argument sets.
    pub fn call(
        &self,
        action: &CStr,
        handle: *const c_void,
        in_args: Option<&ArgSet>,
        out_args: Option<&ArgSet>,
    ) -> OfxStatus {
        let in_h = in_args.map_or(std::ptr::null_mut(), ArgSet::handle);
        let out_h = out_args.map_or(std::ptr::null_mut(), ArgSet::handle);
        // SAFETY: the entry point of a plug-in whose binary `self` keeps loaded, called with
        // an action name, a handle of the kind the action expects, and live argument sets.
        unsafe { (self.main)(action.as_ptr(), handle, in_h, out_h) }
    }

    /// The context descriptor of `context`, if described.
    pub fn context_descriptor(&self, context: Context) -> Option<Arc<Effect>> {
        lock(&self.state)
            .contexts
            .iter()
            .find(|(c, _)| *c == context)
            .map(|(_, e)| e.clone())
    }

    /// The descriptor from Describe, if described.
    pub fn descriptor(&self) -> Option<Arc<Effect>> {
        lock(&self.state).descriptor.clone()
    }

    /// A new descriptor effect whose properties start as `props`.
    fn new_descriptor(&self, kind: EffectKind, props: PropertySet) -> Arc<Effect> {
        let host = self.host().clone();
        let props = Arc::new(props);
        let params = Arc::new(ParamSet::new(props.clone(), false, host.diag.clone()));
        let runtime = Arc::new(Runtime::new(host.clone()));
        Effect::register(kind, props, params, host, runtime)
    }

    fn unload(&self) -> OfxStatus {
        let status = self.call(kOfxActionUnload, std::ptr::null(), None, None);
        let mut state = lock(&self.state);
        state.loaded = false;
        if let Some(d) = state.descriptor.take() {
            d.retire();
        }
        for (_, d) in state.contexts.drain(..) {
            d.retire();
        }
        status
    }
}

impl Drop for PluginInner {
    fn drop(&mut self) {
        if lock(&self.state).loaded {
            self.unload();
        }
    }
}

/// One plug-in of a loaded binary. Dropping the last handle (and its instances) sends Unload
/// if the test did not.
#[derive(Clone, Debug)]
pub struct Plugin {
    pub inner: Arc<PluginInner>,
}

impl Plugin {
    /// Reads and checks the nth plug-in struct.
    pub fn new(binary: Arc<BinaryInner>, index: usize) -> Result<Self, HostError> {
        let raw = binary.raw_plugin(index);
        // SAFETY: NULL or the binary's plug-in struct, alive while the binary is loaded.
        let raw = unsafe { raw.as_ref() }
            .ok_or_else(|| HostError::BadPlugin(format!("OfxGetPlugin({index}) returned NULL")))?;
        let text = |p: *const std::ffi::c_char, what: &str| {
            if p.is_null() {
                return Err(HostError::BadPlugin(format!("{what} is NULL")));
            }
            // SAFETY: a non-NULL string the binary owns.
            Ok(lossy(unsafe { CStr::from_ptr(p) }))
        };
        let api = text(raw.pluginApi, "pluginApi")?;
        let identifier = text(raw.pluginIdentifier, "pluginIdentifier")?;
        if api != lossy(kOfxImageEffectPluginApi)
            || raw.apiVersion != kOfxImageEffectPluginApiVersion
        {
            return Err(HostError::BadPlugin(format!(
                "{identifier}: API {api} version {}, expected {} version 1",
                raw.apiVersion,
                lossy(kOfxImageEffectPluginApi)
            )));
        }
        let main = raw
            .mainEntry
            .ok_or_else(|| HostError::BadPlugin(format!("{identifier}: mainEntry is NULL")))?;
        let set_host = raw
            .setHost
            .ok_or_else(|| HostError::BadPlugin(format!("{identifier}: setHost is NULL")))?;
        Ok(Self {
            inner: Arc::new(PluginInner {
                binary,
                index,
                identifier,
                version: (raw.pluginVersionMajor, raw.pluginVersionMinor),
                main,
                set_host,
                state: Mutex::default(),
                render_lock: Mutex::default(),
            }),
        })
    }

    /// `pluginIdentifier`.
    pub fn identifier(&self) -> &str {
        &self.inner.identifier
    }

    /// (`pluginVersionMajor`, `pluginVersionMinor`).
    pub fn version(&self) -> (u32, u32) {
        self.inner.version
    }

    /// Calls `setHost`, then sends Load.
    pub fn load(&self) -> OfxStatus {
        let host = self.inner.host().ofx_host_ptr();
        // SAFETY: the plug-in's setHost with the host struct, which outlives the plug-in.
        unsafe { (self.inner.set_host)(host) };
        let status = self
            .inner
            .call(kOfxActionLoad, std::ptr::null(), None, None);
        lock(&self.inner.state).loaded = succeeded(status);
        status
    }

    /// Sends Describe on a fresh descriptor.
    pub fn describe(&self) -> OfxStatus {
        let host = self.inner.host();
        let props = PropertySet::new(
            "effect descriptor",
            host.config.lenient_properties,
            host.diag.clone(),
        );
        prop_schema::effect_descriptor(&props, &self.inner.binary.path.to_string_lossy());
        let effect = self.inner.new_descriptor(EffectKind::Descriptor, props);
        let status = self
            .inner
            .call(kOfxActionDescribe, effect.handle().cast(), None, None);
        if let Some(old) = lock(&self.inner.state).descriptor.replace(effect) {
            old.retire();
        }
        status
    }

    /// The descriptor's properties (after Describe).
    pub fn descriptor_props(&self) -> Option<Arc<PropertySet>> {
        self.inner.descriptor().map(|d| d.props.clone())
    }

    /// Contexts the descriptor lists.
    pub fn supported_contexts(&self) -> Vec<Context> {
        self.descriptor_props()
            .and_then(|p| p.strs(kOfxImageEffectPropSupportedContexts))
            .unwrap_or_default()
            .iter()
            .filter_map(|c| Context::from_name(c))
            .collect()
    }

    /// Sends DescribeInContext on a new context descriptor that starts as a copy of the
    /// descriptor's properties.
    pub fn describe_in_context(&self, context: Context) -> OfxStatus {
        let host = self.inner.host();
        let props = PropertySet::new(
            format!("context descriptor {context:?}"),
            host.config.lenient_properties,
            host.diag.clone(),
        );
        match self.inner.descriptor() {
            Some(d) => props.copy_from(&d.props, Access::ReadWrite),
            None => host
                .diag
                .violation("host test: DescribeInContext before Describe"),
        }
        for name in [kOfxPropType, kOfxPluginPropFilePath] {
            props.set_access(name, Access::ReadOnly);
        }
        let effect = self
            .inner
            .new_descriptor(EffectKind::ContextDescriptor(context), props);
        let in_args = ArgSet::new(prop_schema::in_args(
            kOfxImageEffectActionDescribeInContext,
            host.diag.clone(),
        ));
        prop_schema::Def::new(&in_args.props).ro().str1(
            kOfxImageEffectPropContext,
            context.as_cstr().to_str().expect("ASCII"),
        );
        let status = self.inner.call(
            kOfxImageEffectActionDescribeInContext,
            effect.handle().cast(),
            Some(&in_args),
            None,
        );
        if succeeded(status) {
            for name in context.mandated_clips() {
                if effect.clip(name).is_none() {
                    host.diag.violation(format!(
                        "DescribeInContext({context:?}) defined no clip {name}: the {context:?} \
                         context requires {}",
                        context.mandated_clips().join(", ")
                    ));
                }
            }
        }
        let mut state = lock(&self.inner.state);
        if let Some(i) = state.contexts.iter().position(|(c, _)| *c == context) {
            state.contexts.remove(i).1.retire();
        }
        if succeeded(status) {
            state.contexts.push((context, effect));
        } else {
            effect.retire();
        }
        status
    }

    /// Names of the clips defined in a context, in definition order.
    pub fn clip_names(&self, context: Context) -> Vec<String> {
        self.inner
            .context_descriptor(context)
            .map(|d| lock(&d.clips).iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    }

    /// A clip descriptor's properties.
    pub fn clip_props(&self, context: Context, clip: &str) -> Option<Arc<PropertySet>> {
        Some(
            self.inner
                .context_descriptor(context)?
                .clip(clip)?
                .props
                .clone(),
        )
    }

    /// Names of the parameters defined in a context, in definition order.
    pub fn param_names(&self, context: Context) -> Vec<String> {
        self.inner
            .context_descriptor(context)
            .map(|d| {
                lock(&d.params.params)
                    .iter()
                    .map(|p| p.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A parameter descriptor's properties.
    pub fn param_props(&self, context: Context, param: &str) -> Option<Arc<PropertySet>> {
        Some(
            self.inner
                .context_descriptor(context)?
                .params
                .get(param)?
                .props
                .clone(),
        )
    }

    /// A parameter descriptor's type string.
    pub fn param_type(&self, context: Context, param: &str) -> Option<String> {
        self.param_props(context, param)?.str(kOfxParamPropType)
    }

    /// Sends CreateInstance on a new instance of a described context.
    pub fn create_instance(&self, context: Context) -> Result<Instance, OfxStatus> {
        Instance::create(&self.inner, context)
    }

    /// Sends Unload (and retires the descriptors).
    pub fn unload(&self) -> OfxStatus {
        self.inner.unload()
    }

    /// Formats a status for assertion messages.
    pub fn status_text(status: OfxStatus) -> String {
        status_name(status)
    }
}
