//! The engine's only raw FFI: asking a candidate ONNX Runtime library for its version before
//! `ort` is allowed near it.

use std::ffi::CStr;
use std::path::Path;

/// Opens `path`, calls `OrtGetApiBase()->GetVersionString()` and returns the version.
///
/// The library handle is dropped afterwards; `ort` opens the same file again (the loader keeps
/// one copy), so this costs nothing but a reference count.
pub(crate) fn library_version(path: &Path) -> Result<String, String> {
    // SAFETY: loading a shared library runs its initialisers. The path was chosen by the user or
    // the project as an ONNX Runtime build, which is the library we are about to load anyway.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("it cannot be loaded ({e})"))?;
    // SAFETY: the symbol's type is the documented signature of `OrtGetApiBase`.
    let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase\0") }
            .map_err(|_| "it does not export OrtGetApiBase".to_string())?;
    // SAFETY: `OrtGetApiBase` takes no arguments and returns a pointer to a static struct.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned null".into());
    }
    // SAFETY: `base` is non-null and points at the library's static `OrtApiBase`; the returned
    // string is a static, NUL-terminated C string owned by the library, copied before unloading.
    let version = unsafe {
        let s = ((*base).GetVersionString)();
        if s.is_null() {
            return Err("it reports no version".into());
        }
        CStr::from_ptr(s).to_string_lossy().into_owned()
    };
    Ok(version)
}
