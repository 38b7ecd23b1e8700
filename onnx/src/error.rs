//! The engine's one error type.
//!
//! Every failure the engine can report is an [`Error`]: a [`ErrorKind`] that callers match on
//! (the plugin maps kinds to OFX statuses, the CLI to exit codes), a message written for the
//! person who has to fix it (it names the file, parameter or value and what to do), and an
//! optional cause kept for logs.

use std::fmt;
use std::path::Path;

/// Shorthand used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarsely: enough to choose a status code or an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The ONNX Runtime library is missing, unloadable or too old.
    Runtime,
    /// A model package is missing, incomplete or inconsistent (manifest, files, graphs).
    Package,
    /// A generation setting is out of range (size, steps, frames, guidance, prompt, latents).
    InvalidSetting,
    /// A requested execution provider is unavailable in this build or on this machine.
    Device,
    /// ONNX Runtime failed while running a graph.
    Inference,
    /// The caller cancelled the generation.
    Cancelled,
    /// Reading or writing a file failed.
    Io,
    /// The generation does not fit in memory: refused by the estimate, or an allocation beyond
    /// the runtime's memory cap failed.
    Memory,
    /// The remote inference server could not be reached, or refused or failed a call.
    Server,
}

/// The engine's error: a kind, a message for people, and an optional cause.
pub struct Error {
    kind: ErrorKind,
    message: String,
    cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with a message that says what is wrong and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            cause: None,
        }
    }

    /// Attaches the underlying error (shown after the message).
    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// A bad generation setting.
    pub fn setting(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSetting, message)
    }

    /// A problem with a model package.
    pub fn package(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Package, message)
    }

    /// The generation was cancelled by its caller.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "generation cancelled")
    }

    /// An I/O failure on `path`, naming the file and what was being done.
    pub fn io(doing: &str, path: &Path, cause: std::io::Error) -> Self {
        Self::new(
            ErrorKind::Io,
            format!("could not {doing} {}: {cause}", path.display()),
        )
        .with_cause(cause)
    }

    /// A failed ONNX Runtime call, naming the graph it concerned. An allocation refused by the
    /// memory cap (or by the system) becomes a [`ErrorKind::Memory`] sentence instead of
    /// ONNX Runtime's arena message, which is kept as the cause for logs.
    pub fn inference(what: impl fmt::Display, cause: ort::Error) -> Self {
        let text = cause.to_string();
        if is_allocation_failure(&text) {
            return Self::new(
                ErrorKind::Memory,
                format!(
                    "ran out of memory while trying to {what}: the settings need more than \
                     Promptreel may use (set by {}, or 90% of the memory free when it started). \
                     Lower Frames or Resolution, set Guidance to 1, or close other programs and \
                     try again",
                    crate::budget::MEMORY_LIMIT_ENV
                ),
            )
            .with_cause(cause);
        }
        Self::new(
            ErrorKind::Inference,
            format!("ONNX Runtime failed to {what}: {text}"),
        )
        .with_cause(cause)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the caller cancelled the work.
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }
}

/// Whether an ONNX Runtime message reports a failed allocation (its BFC arena's cap, or the
/// system allocator), as opposed to a bad graph or input.
fn is_allocation_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("failed to allocate memory")
        || m.contains("available memory of")
        || (m.contains("bfc_arena") && m.contains("alloc"))
        || m.contains("std::bad_alloc")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " (cause: {cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}
