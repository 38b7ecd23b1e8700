//! OFX status codes as a typed enum, and the plugin's error type.

use std::fmt;

use ofx_sys::OfxStatus;
use ofx_sys::status as st;

/// The statuses the plugin returns or receives, typed once near the FFI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    Ok,
    Failed,
    ErrFatal,
    ErrUnknown,
    ErrMissingHostFeature,
    ErrUnsupported,
    ErrExists,
    ErrFormat,
    ErrMemory,
    ErrBadHandle,
    ErrBadIndex,
    ErrValue,
    ReplyYes,
    ReplyNo,
    ReplyDefault,
    ErrImageFormat,
    /// A code this plugin does not know.
    Other(OfxStatus),
}

impl Status {
    pub fn from_raw(s: OfxStatus) -> Self {
        match s {
            st::kOfxStatOK => Self::Ok,
            st::kOfxStatFailed => Self::Failed,
            st::kOfxStatErrFatal => Self::ErrFatal,
            st::kOfxStatErrUnknown => Self::ErrUnknown,
            st::kOfxStatErrMissingHostFeature => Self::ErrMissingHostFeature,
            st::kOfxStatErrUnsupported => Self::ErrUnsupported,
            st::kOfxStatErrExists => Self::ErrExists,
            st::kOfxStatErrFormat => Self::ErrFormat,
            st::kOfxStatErrMemory => Self::ErrMemory,
            st::kOfxStatErrBadHandle => Self::ErrBadHandle,
            st::kOfxStatErrBadIndex => Self::ErrBadIndex,
            st::kOfxStatErrValue => Self::ErrValue,
            st::kOfxStatReplyYes => Self::ReplyYes,
            st::kOfxStatReplyNo => Self::ReplyNo,
            st::kOfxStatReplyDefault => Self::ReplyDefault,
            st::kOfxStatErrImageFormat => Self::ErrImageFormat,
            other => Self::Other(other),
        }
    }

    pub fn to_raw(self) -> OfxStatus {
        match self {
            Self::Ok => st::kOfxStatOK,
            Self::Failed => st::kOfxStatFailed,
            Self::ErrFatal => st::kOfxStatErrFatal,
            Self::ErrUnknown => st::kOfxStatErrUnknown,
            Self::ErrMissingHostFeature => st::kOfxStatErrMissingHostFeature,
            Self::ErrUnsupported => st::kOfxStatErrUnsupported,
            Self::ErrExists => st::kOfxStatErrExists,
            Self::ErrFormat => st::kOfxStatErrFormat,
            Self::ErrMemory => st::kOfxStatErrMemory,
            Self::ErrBadHandle => st::kOfxStatErrBadHandle,
            Self::ErrBadIndex => st::kOfxStatErrBadIndex,
            Self::ErrValue => st::kOfxStatErrValue,
            Self::ReplyYes => st::kOfxStatReplyYes,
            Self::ReplyNo => st::kOfxStatReplyNo,
            Self::ReplyDefault => st::kOfxStatReplyDefault,
            Self::ErrImageFormat => st::kOfxStatErrImageFormat,
            Self::Other(s) => s,
        }
    }
}

/// An error on its way back to the host: the status to return and a sentence for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct OfxError {
    pub status: Status,
    pub message: String,
    /// The work stopped because the host aborted it or the user pressed cancel: not a failure,
    /// so it must not be shown as an error.
    pub cancelled: bool,
}

/// Shorthand for results in the plugin.
pub type OfxResult<T> = Result<T, OfxError>;

impl OfxError {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            cancelled: false,
        }
    }

    /// Work stopped on request (host abort, cancel button).
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self {
            cancelled: true,
            ..Self::failed(message)
        }
    }

    /// A failure to show the user (kOfxStatFailed).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Status::Failed, message)
    }

    /// The host lacks something we need.
    pub fn missing_feature(what: impl Into<String>) -> Self {
        Self::new(Status::ErrMissingHostFeature, what)
    }

    /// A host call returned `status`.
    pub fn host_call(call: &str, status: OfxStatus) -> Self {
        let name = st::name(status).unwrap_or("an unknown status");
        Self::new(
            Status::from_raw(status),
            format!("the host's {call} returned {name} ({status})"),
        )
    }
}

impl fmt::Display for OfxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OfxError {}

/// Turns a host call's status into a result.
pub(crate) fn check(call: &str, status: OfxStatus) -> OfxResult<()> {
    if status == st::kOfxStatOK {
        Ok(())
    } else {
        Err(OfxError::host_call(call, status))
    }
}
