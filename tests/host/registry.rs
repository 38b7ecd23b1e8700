//! The handle registry.
//!
//! Every handle the host gives a plug-in (property sets, effects, clips, parameters, images,
//! image memory, mutexes) is the address of a host object listed here. A callback looks the
//! address up before touching anything, so NULL, foreign, mistyped or stale handles are
//! answered with `kOfxStatErrBadHandle` rather than dereferenced.
//!
//! Retired objects stay in the table (dead) for the life of the process, so their address is
//! never reused: a handle the plug-in kept after release stays detectably stale. Only the
//! objects themselves are kept, not the pixel buffers they pointed at.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use ofx_sys::*;

use super::app::HostShared;
use super::diag;
use super::effect::{Clip, Effect};
use super::ffi::lock;
use super::image::{ImageMemory, LiveImage};
use super::multithread::HostMutex;
use super::params::{Param, ParamSet};
use super::props::PropertySet;

/// A host object behind a handle.
#[derive(Clone)]
pub enum Object {
    /// A plain property set (descriptor, instance, clip, parameter or action arguments).
    Props(Arc<PropertySet>),
    /// The host's own property set (`OfxHost::host`), with the host it describes.
    HostProps(Arc<PropertySet>, Weak<HostShared>),
    /// An image fetched with `clipGetImage`: a property set with a pixel buffer.
    Image(Arc<LiveImage>),
    ParamSet(Arc<ParamSet>),
    Param(Arc<Param>),
    Effect(Arc<Effect>),
    Clip(Arc<Clip>),
    ImageMemory(Arc<ImageMemory>),
    Mutex(Arc<HostMutex>),
}

impl Object {
    /// The address used as the handle.
    pub fn address(&self) -> usize {
        match self {
            Object::Props(p) | Object::HostProps(p, _) => Arc::as_ptr(p) as usize,
            Object::Image(i) => Arc::as_ptr(i) as usize,
            Object::ParamSet(p) => Arc::as_ptr(p) as usize,
            Object::Param(p) => Arc::as_ptr(p) as usize,
            Object::Effect(e) => Arc::as_ptr(e) as usize,
            Object::Clip(c) => Arc::as_ptr(c) as usize,
            Object::ImageMemory(m) => Arc::as_ptr(m) as usize,
            Object::Mutex(m) => Arc::as_ptr(m) as usize,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Object::Props(_) => "property set",
            Object::HostProps(..) => "host property set",
            Object::Image(_) => "image",
            Object::ParamSet(_) => "parameter set",
            Object::Param(_) => "parameter",
            Object::Effect(_) => "image effect",
            Object::Clip(_) => "clip",
            Object::ImageMemory(_) => "image memory",
            Object::Mutex(_) => "mutex",
        }
    }
}

/// A registered object; `keep` holds a retired object's allocation so its address stays taken.
enum Entry {
    Live(Object),
    Dead {
        kind: &'static str,
        _keep: Box<dyn Send + Sync>,
    },
}

static TABLE: LazyLock<Mutex<HashMap<usize, Entry>>> = LazyLock::new(Mutex::default);

/// Lists an object and returns its handle address.
pub fn register(object: Object) -> usize {
    let address = object.address();
    lock(&TABLE).insert(address, Entry::Live(object));
    address
}

/// Marks a handle dead. Unknown addresses are ignored.
pub fn retire(address: usize) {
    let mut table = lock(&TABLE);
    if let Some(Entry::Live(object)) = table.remove(&address) {
        let kind = object.kind();
        let keep: Box<dyn Send + Sync> = match object {
            Object::Image(image) => Box::new(image.props.clone()),
            other => Box::new(KeepAlive(other)),
        };
        table.insert(address, Entry::Dead { kind, _keep: keep });
    }
}

/// Keeps a retired object (and so its address) alive.
struct KeepAlive(#[allow(dead_code)] Object);

/// Looks up a live object. Dead, unknown and NULL handles give `kOfxStatErrBadHandle` and an
/// orphan violation naming `what` the caller expected.
pub fn get(address: usize, what: &str) -> Result<Object, OfxStatus> {
    if address == 0 {
        return Err(kOfxStatErrBadHandle);
    }
    match lock(&TABLE).get(&address) {
        Some(Entry::Live(object)) => Ok(object.clone()),
        Some(Entry::Dead { kind, .. }) => {
            diag::orphan(format!(
                "stale {kind} handle {address:#x} used where a {what} was expected"
            ));
            Err(kOfxStatErrBadHandle)
        }
        None => {
            diag::orphan(format!("unknown handle {address:#x} used as a {what}"));
            Err(kOfxStatErrBadHandle)
        }
    }
}

/// Reports a live object of the wrong kind.
fn mistyped<T>(object: &Object, what: &str) -> Result<T, OfxStatus> {
    diag::orphan(format!("a {} handle was used as a {what}", object.kind()));
    Err(kOfxStatErrBadHandle)
}

/// The property set behind a property-set handle (plain, host or image).
pub fn props(address: usize) -> Result<Arc<PropertySet>, OfxStatus> {
    match get(address, "property set")? {
        Object::Props(p) | Object::HostProps(p, _) => Ok(p),
        Object::Image(i) => Ok(i.props.clone()),
        other => mistyped(&other, "property set"),
    }
}

/// The host behind the host property set handle.
pub fn host(address: usize) -> Result<Arc<HostShared>, OfxStatus> {
    match get(address, "host property set")? {
        Object::HostProps(_, host) => host.upgrade().ok_or(kOfxStatErrBadHandle),
        other => mistyped(&other, "host property set"),
    }
}

/// The image behind an image handle.
pub fn image(address: usize) -> Result<Arc<LiveImage>, OfxStatus> {
    match get(address, "image")? {
        Object::Image(i) => Ok(i),
        other => mistyped(&other, "image"),
    }
}

/// The effect behind an effect handle.
pub fn effect(address: usize) -> Result<Arc<Effect>, OfxStatus> {
    match get(address, "image effect")? {
        Object::Effect(e) => Ok(e),
        other => mistyped(&other, "image effect"),
    }
}

/// The clip behind a clip handle.
pub fn clip(address: usize) -> Result<Arc<Clip>, OfxStatus> {
    match get(address, "clip")? {
        Object::Clip(c) => Ok(c),
        other => mistyped(&other, "clip"),
    }
}

/// The parameter set behind a parameter-set handle.
pub fn param_set(address: usize) -> Result<Arc<ParamSet>, OfxStatus> {
    match get(address, "parameter set")? {
        Object::ParamSet(p) => Ok(p),
        other => mistyped(&other, "parameter set"),
    }
}

/// The parameter behind a parameter handle.
pub fn param(address: usize) -> Result<Arc<Param>, OfxStatus> {
    match get(address, "parameter")? {
        Object::Param(p) => Ok(p),
        other => mistyped(&other, "parameter"),
    }
}

/// The image memory behind an image-memory handle.
pub fn image_memory(address: usize) -> Result<Arc<ImageMemory>, OfxStatus> {
    match get(address, "image memory")? {
        Object::ImageMemory(m) => Ok(m),
        other => mistyped(&other, "image memory"),
    }
}

/// The mutex behind a mutex handle.
pub fn mutex(address: usize) -> Result<Arc<HostMutex>, OfxStatus> {
    match get(address, "mutex")? {
        Object::Mutex(m) => Ok(m),
        other => mistyped(&other, "mutex"),
    }
}

/// Whether a handle is currently live.
pub fn is_live(address: usize) -> bool {
    matches!(lock(&TABLE).get(&address), Some(Entry::Live(_)))
}
