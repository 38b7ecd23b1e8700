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
    use std::ffi::{OsString, c_void};
    use std::os::windows::ffi::OsStringExt;
    use std::path::PathBuf;

    /// `GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS`: the address names the module that holds it.
    const FROM_ADDRESS: u32 = 0x4;
    /// `GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT`: only look the module up; this module is
    /// loaded for as long as its code runs, so no reference needs holding.
    const UNCHANGED_REFCOUNT: u32 = 0x2;
    /// Windows paths may be up to 32,767 UTF-16 units long.
    const MAX_PATH_UNITS: usize = 32_768;

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetModuleHandleExW(flags: u32, name: *const c_void, module: *mut *mut c_void) -> i32;
        fn GetModuleFileNameW(module: *mut c_void, buffer: *mut u16, size: u32) -> u32;
    }

    pub fn binary_path() -> Option<PathBuf> {
        let mut module = std::ptr::null_mut();
        let addr = binary_path as *const c_void;
        // SAFETY: with FROM_ADDRESS the "name" is an address inside this DLL, which any of its
        // functions is; `module` receives the handle.
        if unsafe { GetModuleHandleExW(FROM_ADDRESS | UNCHANGED_REFCOUNT, addr, &mut module) } == 0
        {
            return None;
        }
        // The installed path may be long (a studio's deep plug-in share): grow the buffer until
        // the name fits, as GetModuleFileNameW truncates silently and returns the buffer size.
        let mut size = 260;
        loop {
            let mut buffer = vec![0u16; size];
            let capacity = u32::try_from(size).ok()?;
            // SAFETY: `buffer` holds `capacity` writable UTF-16 units; `module` is this DLL.
            let written = unsafe { GetModuleFileNameW(module, buffer.as_mut_ptr(), capacity) };
            let written = usize::try_from(written).ok()?;
            if written == 0 {
                return None;
            }
            if written < size {
                buffer.truncate(written);
                // NOTE: not canonicalised: that would turn it into a `\\?\` path, which
                // then shows in every message that names a bundled file.
                return Some(PathBuf::from(OsString::from_wide(&buffer)));
            }
            if size >= MAX_PATH_UNITS {
                return None;
            }
            size = (size * 2).min(MAX_PATH_UNITS);
        }
    }
}
