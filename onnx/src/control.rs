//! Progress reporting and cancellation for long generations.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A flag another thread can raise to stop a generation between steps.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the generation to stop at the next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The phase a generation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    EncodingPrompt,
    /// Video to video: the source frames through the VAE encoder.
    EncodingSource,
    Denoising,
    Decoding,
}

impl Phase {
    /// A short name for reports: "encoding", "denoising", "decoding".
    pub fn label(self) -> &'static str {
        match self {
            Self::EncodingPrompt => "encoding",
            Self::EncodingSource => "encoding source",
            Self::Denoising => "denoising",
            Self::Decoding => "decoding",
        }
    }
}

/// A progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub phase: Phase,
    /// Work units done in this phase and in total (denoising steps, decoded frames).
    pub done: usize,
    pub total: usize,
    /// Overall fraction complete, 0..=1, weighting denoising as most of the work.
    pub fraction: f32,
    pub elapsed: Duration,
}

/// Receives progress and answers whether to stop. Called on the generating thread.
pub trait Observer {
    /// Called when the denoising and decoding phases open (0 done), after each step and each
    /// decoded chunk, and once the prompts are encoded.
    fn progress(&mut self, _progress: &Progress) {}
    /// Polled between steps and VAE chunks; `true` stops the generation with a cancelled error.
    fn should_cancel(&mut self) -> bool {
        false
    }
}

/// An observer that ignores progress and never cancels.
pub struct Silent;
impl Observer for Silent {}

impl Observer for CancelToken {
    fn should_cancel(&mut self) -> bool {
        self.is_cancelled()
    }
}

/// Adapts closures into an [`Observer`].
pub struct FnObserver<P, C> {
    pub on_progress: P,
    pub cancel: C,
}

impl<P: FnMut(&Progress), C: FnMut() -> bool> Observer for FnObserver<P, C> {
    fn progress(&mut self, progress: &Progress) {
        (self.on_progress)(progress)
    }
    fn should_cancel(&mut self) -> bool {
        (self.cancel)()
    }
}
