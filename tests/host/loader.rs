//! Loading a plug-in binary: `dlopen`, the optional `OfxSetHost`, `OfxGetNumberOfPlugins`,
//! `OfxGetPlugin`, and `dlclose` when the test closes the binary (as a host's scan does).

use std::ffi::{CStr, c_int};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::Library;
use ofx_sys::*;

use super::app::{Host, HostShared};
use super::plugin::Plugin;

/// Why the host could not load or use a binary.
#[derive(Debug)]
pub enum HostError {
    /// `dlopen` failed.
    Load(String),
    /// A required entry point is not exported.
    MissingSymbol(&'static str),
    /// `OfxGetPlugin` returned something unusable.
    BadPlugin(String),
    /// No plug-in with that identifier in the binary.
    NoSuchPlugin(String),
    /// The binary cannot be closed: plug-ins or instances still refer to it.
    InUse,
    /// `dlclose` failed.
    Close(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Load(e) => write!(f, "cannot load the plug-in binary: {e}"),
            HostError::MissingSymbol(s) => write!(f, "the binary does not export {s}"),
            HostError::BadPlugin(e) => write!(f, "OfxGetPlugin returned a bad plug-in: {e}"),
            HostError::NoSuchPlugin(id) => write!(f, "no plug-in {id} in the binary"),
            HostError::InUse => write!(f, "the binary is still in use"),
            HostError::Close(e) => write!(f, "dlclose failed: {e}"),
        }
    }
}

impl std::error::Error for HostError {}

/// `OfxGetPlugin`.
pub type GetPluginFn = unsafe extern "C" fn(c_int) -> *mut OfxPlugin;

/// A loaded binary, shared by its plug-ins and their instances.
#[derive(Debug)]
pub struct BinaryInner {
    /// None for in-process plug-ins (unit tests).
    lib: Option<Library>,
    pub path: PathBuf,
    pub host: Arc<HostShared>,
    /// What `OfxSetHost` returned, if it was exported and called.
    pub set_host_status: Option<OfxStatus>,
    /// `OfxGetNumberOfPlugins`.
    pub count: usize,
    get_plugin: GetPluginFn,
}

impl BinaryInner {
    /// The nth plug-in's struct (NULL if the binary gives none).
    pub fn raw_plugin(&self, index: usize) -> *const OfxPlugin {
        let index = c_int::try_from(index).unwrap_or(c_int::MAX);
        // SAFETY: the binary stays loaded while `self` lives, and OfxGetPlugin takes any int.
        unsafe { (self.get_plugin)(index) }
    }
}

/// A loaded plug-in binary.
#[derive(Debug)]
pub struct Binary {
    pub inner: Arc<BinaryInner>,
}

impl Host {
    /// `dlopen`s a binary and reads its entry points; calls `OfxSetHost` first if exported and
    /// the configuration says so.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Binary, HostError> {
        let path = path.as_ref().to_path_buf();
        // SAFETY: loading runs the binary's initialisers; the binary under test is trusted to
        // that extent (it is the plug-in this test exists for).
        let lib = unsafe { Library::new(&path) }.map_err(|e| HostError::Load(e.to_string()))?;
        let shared = &self.shared;
        // SAFETY: the symbol types are the OpenFX entry points' C signatures.
        let (set_host_status, count, get_plugin) = unsafe {
            let set_host_status = if shared.config.call_ofx_set_host {
                lib.get::<unsafe extern "C" fn(*const OfxHost) -> OfxStatus>(b"OfxSetHost\0")
                    .ok()
                    .map(|f| f(shared.ofx_host_ptr()))
            } else {
                None
            };
            let count = lib
                .get::<unsafe extern "C" fn() -> c_int>(b"OfxGetNumberOfPlugins\0")
                .map_err(|_| HostError::MissingSymbol("OfxGetNumberOfPlugins"))?;
            let get_plugin = *lib
                .get::<GetPluginFn>(b"OfxGetPlugin\0")
                .map_err(|_| HostError::MissingSymbol("OfxGetPlugin"))?;
            (set_host_status, count(), get_plugin)
        };
        let count = usize::try_from(count)
            .map_err(|_| HostError::BadPlugin(format!("OfxGetNumberOfPlugins gave {count}")))?;
        Ok(Binary {
            inner: Arc::new(BinaryInner {
                lib: Some(lib),
                path,
                host: shared.clone(),
                set_host_status,
                count,
                get_plugin,
            }),
        })
    }

    /// Wraps plug-ins compiled into the test itself, as if loaded from a binary.
    pub fn open_in_process(&self, get_plugin: GetPluginFn, count: usize) -> Binary {
        Binary {
            inner: Arc::new(BinaryInner {
                lib: None,
                path: PathBuf::from("<in process>"),
                host: self.shared.clone(),
                set_host_status: None,
                count,
                get_plugin,
            }),
        }
    }
}

impl Binary {
    /// `OfxGetNumberOfPlugins`.
    pub fn count(&self) -> usize {
        self.inner.count
    }

    /// What `OfxSetHost` returned, if called.
    pub fn set_host_status(&self) -> Option<OfxStatus> {
        self.inner.set_host_status
    }

    /// The nth plug-in, checked: non-NULL fields, image effect API version 1.
    pub fn plugin(&self, index: usize) -> Result<Plugin, HostError> {
        if index >= self.inner.count {
            return Err(HostError::BadPlugin(format!(
                "index {index} of {}",
                self.inner.count
            )));
        }
        Plugin::new(self.inner.clone(), index)
    }

    /// Identifiers of every plug-in in the binary.
    pub fn identifiers(&self) -> Vec<String> {
        (0..self.count())
            .filter_map(|i| {
                let raw = self.inner.raw_plugin(i);
                // SAFETY: NULL or the binary's static plug-in struct.
                let raw = unsafe { raw.as_ref() }?;
                (!raw.pluginIdentifier.is_null()).then(|| {
                    // SAFETY: a NUL-terminated string owned by the binary.
                    unsafe { CStr::from_ptr(raw.pluginIdentifier) }
                        .to_string_lossy()
                        .into_owned()
                })
            })
            .collect()
    }

    /// The plug-in with this identifier.
    pub fn find(&self, identifier: &str) -> Result<Plugin, HostError> {
        let index = self
            .identifiers()
            .iter()
            .position(|id| id == identifier)
            .ok_or_else(|| HostError::NoSuchPlugin(identifier.to_owned()))?;
        self.plugin(index)
    }

    /// `dlclose`s the binary. Fails while plug-ins or instances of it are alive.
    pub fn close(self) -> Result<(), HostError> {
        let inner = Arc::try_unwrap(self.inner).map_err(|_| HostError::InUse)?;
        match inner.lib {
            Some(lib) => lib.close().map_err(|e| HostError::Close(e.to_string())),
            None => Ok(()),
        }
    }
}
