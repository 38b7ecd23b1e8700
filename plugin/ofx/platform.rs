//! Where the plugin binary lives, so the runtime library and the default model are found
//! relative to it (inside the bundle), never through the host's search paths.

use std::path::PathBuf;

/// The folder that holds this plugin binary.
pub fn plugin_binary_dir() -> Option<PathBuf> {
    imp::binary_path().and_then(|p| p.parent().map(PathBuf::from))
}

#[cfg(unix)]
mod imp {
    use std::ffi::{CStr, c_void};
    use std::path::PathBuf;

    pub fn binary_path() -> Option<PathBuf> {
        // SAFETY: dladdr only reads the address and fills the struct; any function of this
        // library identifies it. dli_fname is a NUL-terminated path owned by the loader.
        unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            let addr = binary_path as *const c_void;
            if libc::dladdr(addr, &mut info) == 0 || info.dli_fname.is_null() {
                return None;
            }
            let path = PathBuf::from(
                CStr::from_ptr(info.dli_fname)
                    .to_string_lossy()
                    .into_owned(),
            );
            path.canonicalize().ok().or(Some(path))
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::path::PathBuf;

    pub fn binary_path() -> Option<PathBuf> {
        // NOTE: on Windows the bundle layout puts the DLL in Contents/Win64; the module path is
        // found with GetModuleHandleExW + GetModuleFileNameW. Not built on this CI.
        None
    }
}
