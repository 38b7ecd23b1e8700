//! The message suite, versions 1 and 2: every message is recorded, never shown.
//!
//! `message` and `setPersistentMessage` are printf-style and C-variadic. As in
//! [`super::param_suite`], they are defined with fixed arity and transmuted: the handle, type,
//! id and format arrive in the first four integer registers, and the format's arguments in the
//! next two integer registers (x86-64: r8, r9) and the first four double registers. That covers
//! what plug-ins send in practice (`"%s"` with one string); a format needing more arguments is
//! rendered with `<?>` in their place and recorded as a violation. Conversions understood:
//! `%s %d %i %u %x %X %c %p %f %F %e %E %g %G %%`, with flags, width, precision and length
//! modifiers parsed and mostly ignored.

use std::ffi::{CStr, c_char, c_void};
use std::fmt::Write;

use ofx_sys::*;

use super::effect::EffectKind;
use super::ffi::{OK, cstr, guard, lock, lossy, opt_cstr};
use super::registry::{self, Object};

/// Who a message was posted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An effect instance (the right thing).
    Instance,
    /// A descriptor (wrong: the notes say instances only).
    Descriptor,
    /// NULL: a message to the application.
    Null,
}

/// One recorded message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// `kOfxMessage*` string, e.g. "OfxMessageError".
    pub kind: String,
    pub id: Option<String>,
    /// The formatted text.
    pub text: String,
    pub target: Target,
    /// Whether it came from `setPersistentMessage`.
    pub persistent: bool,
}

impl Message {
    /// Whether this is an error (or fatal) message.
    pub fn is_error(&self) -> bool {
        self.kind == lossy(kOfxMessageError) || self.kind == lossy(kOfxMessageFatal)
    }
}

type VaMessage = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *const c_char,
    ...
) -> OfxStatus;
#[allow(clippy::type_complexity)]
type FixedMessage = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *const c_char,
    usize,
    usize,
    f64,
    f64,
    f64,
    f64,
) -> OfxStatus;

/// The suite handed out by `fetchSuite("OfxMessageSuite", 1)`.
pub static MESSAGE_SUITE_V1: OfxMessageSuiteV1 = OfxMessageSuiteV1 {
    // SAFETY: see the module comment.
    message: Some(unsafe { std::mem::transmute::<FixedMessage, VaMessage>(message) }),
};

/// The suite handed out by `fetchSuite("OfxMessageSuite", 2)`.
pub static MESSAGE_SUITE_V2: OfxMessageSuiteV2 = OfxMessageSuiteV2 {
    // SAFETY: see the module comment.
    message: Some(unsafe { std::mem::transmute::<FixedMessage, VaMessage>(message) }),
    // SAFETY: see the module comment.
    setPersistentMessage: Some(unsafe {
        std::mem::transmute::<FixedMessage, VaMessage>(set_persistent_message)
    }),
    clearPersistentMessage: Some(clear_persistent_message),
};

/// printf for the supported conversions. Returns the text and whether arguments ran out.
///
/// # Safety
/// Every `%s` argument present in `ints` must be NULL or a NUL-terminated string.
pub unsafe fn format(fmt: &CStr, ints: &[usize], doubles: &[f64]) -> (String, bool) {
    let bytes = fmt.to_bytes();
    let (mut ints, mut doubles) = (ints.iter(), doubles.iter());
    let mut out = String::new();
    let mut short = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let next = bytes[i..]
                .iter()
                .position(|&b| b == b'%')
                .map_or(bytes.len(), |p| i + p);
            out.push_str(&String::from_utf8_lossy(&bytes[i..next]));
            i = next;
            continue;
        }
        i += 1;
        // Flags, width, precision, length modifiers.
        let mut precision = None;
        let mut missing = false;
        while i < bytes.len() && b"-+ #0123456789.*hlLqjzt".contains(&bytes[i]) {
            if bytes[i] == b'*' {
                missing |= ints.next().is_none();
            } else if bytes[i] == b'.' {
                let digits: String = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .map(|&b| char::from(b))
                    .collect();
                precision = digits.parse::<usize>().ok();
            }
            i += 1;
        }
        let Some(&conv) = bytes.get(i) else { break };
        i += 1;
        match conv {
            b'%' => out.push('%'),
            b's' => match ints.next() {
                // SAFETY: per the function contract.
                Some(&p) => match unsafe { opt_cstr(p as *const c_char) } {
                    Some(s) => out.push_str(&s.to_string_lossy()),
                    None => out.push_str("(null)"),
                },
                None => missing = true,
            },
            b'd' | b'i' => match ints.next() {
                Some(&v) => write!(out, "{}", v as u32 as i32).unwrap_or(()),
                None => missing = true,
            },
            b'u' => match ints.next() {
                Some(&v) => write!(out, "{}", v as u32).unwrap_or(()),
                None => missing = true,
            },
            b'x' | b'X' | b'p' => match ints.next() {
                Some(&v) => write!(out, "{v:#x}").unwrap_or(()),
                None => missing = true,
            },
            b'c' => match ints.next() {
                Some(&v) => out.push(char::from(v as u8)),
                None => missing = true,
            },
            b'f' | b'F' | b'e' | b'E' | b'g' | b'G' => match doubles.next() {
                Some(&d) => match precision {
                    Some(p) => write!(out, "{d:.p$}").unwrap_or(()),
                    None => write!(out, "{d}").unwrap_or(()),
                },
                None => missing = true,
            },
            other => {
                out.push('%');
                out.push(char::from(other));
            }
        }
        if missing {
            out.push_str("<?>");
            short = true;
        }
    }
    (out, short)
}

/// Shared body of `message` and `setPersistentMessage`.
///
/// # Safety
/// String arguments as the suite specifies; see [`format`].
#[allow(clippy::too_many_arguments)]
unsafe fn post(
    call: &'static str,
    persistent: bool,
    handle: *mut c_void,
    kind: *const c_char,
    id: *const c_char,
    fmt: *const c_char,
    ints: [usize; 2],
    doubles: [f64; 4],
) -> OfxStatus {
    guard(call, || {
        let (effect, target) = if handle.is_null() {
            (None, Target::Null)
        } else {
            let Object::Effect(effect) = registry::get(handle as usize, "image effect")? else {
                return Err(kOfxStatErrBadHandle);
            };
            let target = match effect.kind {
                EffectKind::Instance(_) => Target::Instance,
                _ => Target::Descriptor,
            };
            (Some(effect), target)
        };
        // SAFETY: NUL-terminated strings per the suite; `format`'s contract is the caller's.
        let (kind, id, (text, short)) = unsafe {
            (
                lossy(cstr(kind)?),
                opt_cstr(id).map(lossy),
                format(cstr(fmt)?, &ints, &doubles),
            )
        };
        let message = Message {
            kind,
            id,
            text,
            target,
            persistent,
        };
        let Some(effect) = effect else {
            super::diag::orphan(format!("{call} with a NULL handle: {message:?}"));
            return Ok(OK);
        };
        let diag = &effect.host.diag;
        if short {
            diag.violation(format!(
                "{call}: format needs more arguments than read: {message:?}"
            ));
        }
        if target == Target::Descriptor {
            diag.violation(format!("{call} posted to a descriptor: {}", message.text));
        }
        if persistent {
            if target != Target::Instance {
                return Err(kOfxStatErrBadHandle);
            }
            *lock(&effect.runtime.persistent) = Some(message.clone());
        }
        let question = message.kind == lossy(kOfxMessageQuestion);
        lock(&effect.host.messages).push(message);
        Ok(if question {
            effect.host.config.question_reply
        } else {
            OK
        })
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn message(
    handle: *mut c_void,
    kind: *const c_char,
    id: *const c_char,
    fmt: *const c_char,
    a0: usize,
    a1: usize,
    d0: f64,
    d1: f64,
    d2: f64,
    d3: f64,
) -> OfxStatus {
    // SAFETY: arguments as the suite specifies.
    unsafe {
        post(
            "message",
            false,
            handle,
            kind,
            id,
            fmt,
            [a0, a1],
            [d0, d1, d2, d3],
        )
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn set_persistent_message(
    handle: *mut c_void,
    kind: *const c_char,
    id: *const c_char,
    fmt: *const c_char,
    a0: usize,
    a1: usize,
    d0: f64,
    d1: f64,
    d2: f64,
    d3: f64,
) -> OfxStatus {
    // SAFETY: arguments as the suite specifies.
    unsafe {
        post(
            "setPersistentMessage",
            true,
            handle,
            kind,
            id,
            fmt,
            [a0, a1],
            [d0, d1, d2, d3],
        )
    }
}

unsafe extern "C" fn clear_persistent_message(handle: *mut c_void) -> OfxStatus {
    guard("clearPersistentMessage", || {
        let effect = registry::effect(handle as usize)?;
        lock(&effect.runtime.persistent).take();
        Ok(OK)
    })
}
